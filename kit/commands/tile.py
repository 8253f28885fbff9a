"""``python -m kit tile``: cut a competition's images into tiles with masks, index.csv and stats.json."""

from __future__ import annotations

import argparse

from kit.commands.checks import add_rerun_flags

__all__ = ["HELP", "configure", "run"]

HELP = ("tile a competition's images into PNG tiles + index.csv + stats.json (streaming windows, tissue filter, "
        "optional pixel-size normalisation; a re-run resumes)")


def configure(parser: argparse.ArgumentParser) -> None:
    """Data, output and grid options."""
    from kit.competitions import SPLITS, list_competitions

    parser.add_argument("--competition", required=True,
                        help=f"{', '.join(list_competitions())} or a profile .json file")
    parser.add_argument("--data", required=True, help="competition data folder")
    parser.add_argument("--out", required=True, help="output folder (images/, masks/, index.csv, stats.json)")
    parser.add_argument("--split", default="train", type=SPLITS.parse, choices=SPLITS)
    parser.add_argument("--sz", type=int, default=256, help="tile side in output pixels")
    parser.add_argument("--reduce", type=float, default=4.0, help="source pixels per output pixel")
    parser.add_argument("--pixel-size", type=float, default=None,
                        help="target µm per pixel instead of --reduce (needs a pixel_size column, e.g. 0.4)")
    parser.add_argument("--stride", type=int, default=None, help="output pixels between tiles (< sz: overlap)")
    parser.add_argument("--s-th", type=int, default=40, help="tissue filter: HSV saturation threshold (0-255)")
    parser.add_argument("--p-th", type=float, default=None,
                        help="tissue filter: a tile needs more saturated pixels than this (default 1000*(sz/256)^2)")
    parser.add_argument("--no-filter", action="store_true", help="keep every tile")
    parser.add_argument("--workers", type=int, default=1, help="processes (each takes bands of grid rows)")
    parser.add_argument("--zip", action="store_true", help="also write train.zip and masks.zip (kept tiles)")
    add_rerun_flags(parser, "tiles")


def run(args: argparse.Namespace) -> int:
    """Tile and print the summary."""
    from kit.commands.checks import number, output_folder
    from kit.tiling import TileSettings, tile_dataset

    output_folder(args.out)
    number(args.workers, "--workers", 1)
    settings = TileSettings(sz=args.sz, reduce=args.reduce, pixel_size=args.pixel_size, stride=args.stride,
                            s_th=args.s_th, p_th=args.p_th, filter=not args.no_filter)
    print(tile_dataset(args.competition, args.data, args.out, args.split, settings, args.workers, args.zip,
                       rerun=args.rerun))
    return 0
