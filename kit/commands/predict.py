"""``python -m kit predict``: the ensemble on a competition's test images -> validated submission.csv."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = ("predict the test split into submission.csv (fallback written first, wall-clock budget, validated); "
        "--score prints the hold-out Dice when the data has hidden labels (synthetic samples)")

#: flag -> predict_submission parameter (default and type from its signature), with the flag's help
_FLAGS = {"--ensemble": "ensemble", "--out": "out", "--device": "device", "--batch-size": "batch_size",
          "--skip-errors": "skip_errors"}
_HELPS = {"--ensemble": "ensemble.json or its folder (default: the first ensemble.json under the Kaggle input)",
          "--out": "submission file to write", "--device": "cpu, cuda, cuda:1 (default: CUDA when available)",
          "--batch-size": "windows per forward pass", "--skip-errors": "a failing image keeps its empty fallback rows"}


def configure(parser: argparse.ArgumentParser) -> None:
    """Competition, data, ensemble, output, budget and device options."""
    from kit.commands.flags import add_field_flags
    from kit.competitions import list_competitions
    from kit.infer.runner import predict_submission

    parser.add_argument("--competition", required=True,
                        help=f"{', '.join(list_competitions())} or a profile .json file")
    parser.add_argument("--data", default=None, help="competition folder (default: the Kaggle input mounts)")
    add_field_flags(parser, predict_submission, _FLAGS, helps=_HELPS)
    parser.add_argument("--budget-minutes", type=float, default=None, help="stop in time; unreached images stay empty")
    parser.add_argument("--score", action="store_true", help="score against <data>/_scoring/test_labels.csv")


def run(args: argparse.Namespace) -> int:
    """Predict, print the summary (and the score)."""
    from kit.commands.checks import device, number, output_file
    from kit.infer.outcome import PredictionFailed
    from kit.infer.runner import predict_submission

    output_file(args.out)
    number(args.budget_minutes, "--budget-minutes", 0)
    number(args.batch_size, "--batch-size", 1)
    device(args.device)
    budget = None if args.budget_minutes is None else args.budget_minutes * 60
    try:
        report = predict_submission(args.competition, args.ensemble, args.data, args.out, budget, args.device,
                                    args.batch_size, args.skip_errors)
    except PredictionFailed as failed:
        print(failed.report)
        raise
    print(report)
    if args.score:
        from kit.infer.scoring import score_submission

        score = score_submission(args.competition, report.submission, report.data_dir)
        print(f"hold-out {score['metric']}: {score['score']:.4f} over {score['n_images']} images")
    return 0
