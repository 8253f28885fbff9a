"""``python -m kit plan``: fingerprint a competition's training data and write a recipe, with reasons."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = ("fingerprint the training data (image and pixel sizes, objects, class balance, tissue) and write a recipe "
        "(scale, window, batch, epochs, folds) for a GPU and a time budget, printing the reason for each choice")


def configure(parser: argparse.ArgumentParser) -> None:
    """Competition, data, GPU, hours, output."""
    from kit.commands.flags import add_field_flags, flag_arguments
    from kit.plan import GPUS, fingerprint, plan_recipe

    parser.add_argument("--competition", required=True, help="competition slug")
    parser.add_argument("--data", required=True, help="competition data folder")
    parser.add_argument("--gpu", choices=GPUS, **flag_arguments(plan_recipe, "gpu", type=GPUS.parse,
                                                                help="target machine"))
    add_field_flags(parser, plan_recipe, {"--hours": "hours"}, helps={"--hours": "training hours for all folds"})
    parser.add_argument("--out", default="recipe.json", help="recipe file to write (default recipe.json)")
    add_field_flags(parser, fingerprint, {"--max-images": "max_images"},
                    helps={"--max-images": "images sampled for the fingerprint"})


def run(args: argparse.Namespace) -> int:
    """Fingerprint, plan, print the choices, write the recipe (atomic)."""
    import json

    from kit.fsutil import atomic_write_text
    from kit.plan import fingerprint, plan_recipe

    fp = fingerprint(args.competition, args.data, max_images=args.max_images)
    print(f"fingerprint of {fp.sampled} of {fp.images} images: height {fp.height}, width {fp.width}, "
          f"pixel size {fp.pixel_size or 'unknown'}, objects/image {fp.objects_per_image:g}, "
          f"object diameter {fp.object_diameter}, classes {fp.class_share}, tissue {fp.tissue_share}")
    recipe, choices = plan_recipe(fp, gpu=args.gpu, hours=args.hours)
    width = max(len(c.key) for c in choices)
    for choice in choices:
        print(f"{choice.key:<{width}} = {json.dumps(choice.value)}  # {choice.reason}")
    atomic_write_text(args.out, json.dumps(recipe, indent=2) + "\n")
    print(f"wrote {args.out} (python -m kit train --recipe {args.out} ...)")
    return 0
