"""The command line: every command answers --help, the models table lists the whole zoo, errors exit 2."""

from __future__ import annotations

import pytest

from kit.__main__ import COMMANDS, main
from kit.models import list_models


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"python -m kit {command}" in capsys.readouterr().out


def test_models_table_has_one_row_per_registered_model(capsys):
    assert main(["models"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == list_models()
    assert any(row.startswith("pranet | ") and row.endswith("| yes") for row in rows)


def test_bad_input_is_one_error_line_and_exit_code_2(tmp_path, capsys):
    code = main(["results", "--runs", str(tmp_path / "missing.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "missing.csv" in err


def test_an_unknown_name_is_one_plain_line_with_the_suggestion_and_exit_code_2(capsys):
    code = main(["recipes", "demo-cpx"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: recipe 'demo-cpx' is neither a recipe file nor a shipped recipe "
                          "(did you mean 'demo-cpu'?); shipped: ")
    assert '"' not in err  # the KeyError's quotes are gone


def test_a_flag_naming_an_unknown_name_gets_the_registry_message_from_argparse(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["plan", "--competition", "x", "--data", "x", "--gpu", "t4x3"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "argument --gpu: unknown gpu 't4x3' (did you mean 't4x2'?); valid: cpu, t4, t4x2" in err
