"""``python -m kit models``: the model zoo as a markdown table (name, source, outputs, activation, divisor, the
official import's channel classes)."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "configure", "run", "models_table"]

HELP = "list the model zoo: every name build_model accepts, its source, outputs and input-size divisor"


def configure(parser: argparse.ArgumentParser) -> None:
    """No options."""


def models_table() -> str:
    """One markdown row per registered model (pure: reads the model cards)."""
    from kit.models import list_models, model_info

    rows = ["name | source | outputs | several channels | divisor | official channels | official checkpoint",
            "--- | --- | --- | --- | --- | --- | ---"]
    for name in list_models():
        info = model_info(name)
        rows.append(f"{name} | {info.source} | {info.outputs} | {info.activation} | {info.divisor} | "
                    f"{', '.join(info.official_classes) or '-'} | {'yes' if info.official_checkpoint else '-'}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    print(models_table())
    return 0
