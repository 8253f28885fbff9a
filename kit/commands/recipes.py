"""``python -m kit recipes``: list the shipped training recipes, or check that each one would run."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run"]

HELP = "list the shipped training recipes (one line each); --check validates every one (or the named files)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Optional recipe names/files and ``--check``."""
    parser.add_argument("names", nargs="*", help="recipe names or files (default: every shipped recipe)")
    parser.add_argument("--check", action="store_true", help="validate each recipe for its competition and overrides")
    parser.add_argument("--show", action="store_true", help="print each recipe resolved for its competition as JSON")


def run(args: argparse.Namespace) -> int:
    """Print one line per recipe; with ``--check`` stop at the first invalid one (exit 2)."""
    import json

    from kit.recipes import check_recipe_file, list_recipes, load_recipe

    names = args.names or list_recipes()
    width = max(map(len, map(str, names)))
    for name in names:
        recipe = load_recipe(name)
        if args.check:
            check_recipe_file(name)
        status = "ok  " if args.check else ""
        print(f"{status}{str(name):<{width}}  [{recipe.competition}] {recipe.description}")
        if args.show:
            print(json.dumps(recipe.to_dict(), indent=2))
    return 0
