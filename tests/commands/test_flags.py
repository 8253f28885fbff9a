"""CLI flags come from the step's settings: each flag's default and help are its dataclass field's (or function
parameter's), none re-typed in argparse."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from kit.__main__ import build_parser
from kit.commands.ensemble import OPTION_FLAGS, POSTPROCESS_FLAGS, WINDOW_FLAGS
from kit.commands.flags import add_field_flags, field_values, flag_arguments
from kit.commands.tile import SETTINGS_FLAGS
from kit.commands.train import FLAGS as TRAIN_FLAGS
from kit.commands.train import config_values
from kit.demo import run_demo
from kit.ensemble.build import build_ensemble
from kit.infer.ensemble_config import EnsembleConfig
from kit.infer.model_input import ModelInput
from kit.infer.runner import predict_submission
from kit.options import default_of, help_of, option, shown
from kit.plan import fingerprint, plan_recipe
from kit.sample import make_sample
from kit.study import run_study
from kit.tiling import TileSettings, tile_dataset
from kit.train import TrainConfig

#: command -> (the settings its flags derive from, the fields that must have a flag); a flag's settings are the first
#: source that has its field, or the one named for it
SOURCES = {
    "train": ([TrainConfig], set(TRAIN_FLAGS.values())),
    "tile": ([TileSettings, tile_dataset], {*SETTINGS_FLAGS.values(), "split", "workers", "make_zip"}),
    "ensemble": ([(EnsembleConfig, POSTPROCESS_FLAGS), (ModelInput, WINDOW_FLAGS), build_ensemble],
                 {*OPTION_FLAGS.values(), *POSTPROCESS_FLAGS.values(), *WINDOW_FLAGS.values()}),
    "predict": ([predict_submission], {"ensemble", "out", "device", "batch_size", "skip_errors"}),
    "sample": ([make_sample], {"n", "size", "seed"}),
    "demo": ([run_demo], {"competition", "smoke", "fresh", "seed"}),
    "plan": ([plan_recipe, fingerprint], {"gpu", "hours", "max_images"}),
    "study": ([run_study], {"budget_hours", "max_cells", "smoke"}),
}


def settings_of(command: str, name: str) -> tuple[object, object] | None:
    """(source, default) of field ``name`` for ``command``'s flags, or None when no source has it."""
    for entry in SOURCES[command][0]:
        source, names = entry if isinstance(entry, tuple) else (entry, None)
        if names is not None and name not in names.values():
            continue
        try:
            return source, default_of(source, name)
        except KeyError:
            continue
    return None


def command_parser(command: str) -> argparse.ArgumentParser:
    (sub,) = [a for a in build_parser(command)._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices[command]


@pytest.mark.parametrize("command", sorted(SOURCES))
def test_every_flag_default_is_its_settings_default(command):
    checked, parser = set(), command_parser(command)
    for action in parser._actions:
        found = settings_of(command, action.dest)
        if found is None:
            continue
        source, default = found
        if command == "train":  # None: only a flag given overrides the recipe; the help names the default
            assert parser.get_default(action.dest) is None, action.option_strings
            assert default is None or f"(library default: {shown(default)})" in action.help
        else:
            parsed = parser.get_default(action.dest)  # the parsed default (one of a group of flags holds it)
            assert parsed == default, f"{action.option_strings}: {parsed!r} != {default!r}"
        assert action.help.startswith(help_of(source, action.dest))
        checked.add(action.dest)
    assert SOURCES[command][1] <= checked


def test_build_ensemble_takes_its_window_and_post_processing_defaults_from_their_dataclasses():
    for source, flags in ((ModelInput, WINDOW_FLAGS), (EnsembleConfig, POSTPROCESS_FLAGS)):
        for name in flags.values():
            assert default_of(build_ensemble, name) == default_of(source, name)


def test_train_without_flags_leaves_every_field_to_the_recipe_or_trainconfig(tmp_path):
    args = command_parser("train").parse_args(["--out", str(tmp_path / "run"), "--tiles", "t", "--lr", "0.01"])
    values = config_values(args)
    assert values == {"tiles_dir": "t", "max_lr": 0.01, "out_dir": str(tmp_path / "run")}
    config = TrainConfig.from_dict(values)
    assert (config.min_lr, config.epochs, config.augment) == tuple(default_of(TrainConfig, name)
                                                                   for name in ("min_lr", "epochs", "augment"))


@dataclass
class Knobs:
    size: int = option(3, "side")
    keep: bool = option(True, "keeps it")
    names: list[str] = option(help="names", factory=lambda: ["a"])
    shape: tuple[int, int] | None = option(None, "shape")
    bare: int = 1


def scale(image: str, factor: float = 0.5) -> None:
    """A function whose parameter becomes a flag."""


def test_flag_arguments_take_default_type_and_help_from_the_field():
    assert flag_arguments(Knobs, "size") == {"dest": "size", "type": int, "default": 3, "help": "side (default: 3)"}
    explicit = flag_arguments(Knobs, "size", explicit=True)
    assert explicit["default"] is None and explicit["help"] == "side (library default: 3)"
    assert flag_arguments(Knobs, "keep")["action"] == "store_false"
    names = flag_arguments(Knobs, "names")
    assert (names["nargs"], names["type"], names["default"]) == ("+", str, ["a"])
    assert flag_arguments(Knobs, "shape", type=str)["type"] is str
    assert flag_arguments(scale, "factor", help="scale")["default"] == 0.5


def test_flag_arguments_refuse_what_they_cannot_derive():
    with pytest.raises(TypeError, match="shape"):
        flag_arguments(Knobs, "shape")  # a tuple needs a parser
    with pytest.raises(ValueError, match="bare"):
        flag_arguments(Knobs, "bare")  # no help text
    with pytest.raises(KeyError, match="image"):
        flag_arguments(scale, "image", help="x")  # no default


def test_added_flags_parse_back_by_field_name():
    parser = argparse.ArgumentParser()
    flags = {"--size": "size", "--no-keep": "keep", "--names": "names"}
    add_field_flags(parser, Knobs, flags)
    assert field_values(parser.parse_args([]), flags) == {"size": 3, "keep": True, "names": ["a"]}
    assert field_values(parser.parse_args(["--size", "5", "--no-keep", "--names", "b", "c"]), flags) == {
        "size": 5, "keep": False, "names": ["b", "c"]}
