"""``python -m kit tile``: cut a competition's images into tiles with masks, index.csv and stats.json."""

from __future__ import annotations

import argparse

from kit.commands.checks import add_rerun_flags

__all__ = ["HELP", "SETTINGS_FLAGS", "configure", "run"]

HELP = ("tile a competition's images into PNG tiles + index.csv + stats.json (streaming windows, tissue filter, "
        "optional pixel-size normalisation; a re-run resumes)")

#: flag -> TileSettings field (default, type and help from the field)
SETTINGS_FLAGS = {"--sz": "sz", "--reduce": "reduce", "--pixel-size": "pixel_size", "--stride": "stride",
                  "--s-th": "s_th", "--p-th": "p_th", "--no-filter": "filter"}


def configure(parser: argparse.ArgumentParser) -> None:
    """Data, output and grid options."""
    from kit.commands.flags import add_field_flags, flag_arguments
    from kit.competitions import SPLITS, list_competitions
    from kit.tiling import TileSettings, tile_dataset

    parser.add_argument("--competition", required=True,
                        help=f"{', '.join(list_competitions())} or a profile .json file")
    parser.add_argument("--data", required=True, help="competition data folder")
    parser.add_argument("--out", required=True, help="output folder (images/, masks/, index.csv, stats.json)")
    parser.add_argument("--split", choices=SPLITS, **flag_arguments(tile_dataset, "split", type=SPLITS.parse,
                                                                    help="the split to tile"))
    add_field_flags(parser, TileSettings, SETTINGS_FLAGS)
    add_field_flags(parser, tile_dataset, {"--workers": "workers", "--zip": "make_zip"},
                    helps={"--workers": "processes (each takes bands of grid rows)",
                           "--zip": "also write train.zip and masks.zip (kept tiles)"})
    add_rerun_flags(parser, "tiles")


def run(args: argparse.Namespace) -> int:
    """Tile and print the summary."""
    from kit.commands.checks import number, output_folder
    from kit.commands.flags import field_values
    from kit.tiling import TileSettings, tile_dataset

    output_folder(args.out)
    number(args.workers, "--workers", 1)
    settings = TileSettings(**field_values(args, SETTINGS_FLAGS))
    print(tile_dataset(args.competition, args.data, args.out, args.split, settings, args.workers, args.make_zip,
                       rerun=args.rerun))
    return 0
