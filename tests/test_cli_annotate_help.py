"""`kinmo annotate --help` lists the options of its dataset form (the forms parse their own arguments)."""

from __future__ import annotations

from kinmo_core.cli.main import main


def test_annotate_help_lists_its_options(capsys):
    assert main(["annotate", "--help"]) == 0  # main turns argparse's exit into a return code
    out = capsys.readouterr().out
    for option in ("--output", "--annotator", "--workers", "--threshold", "--split", "--hf-model", "--base-url"):
        assert option in out, option


def test_annotate_form_help(capsys):
    assert main(["annotate", "sample", "--help"]) == 0
    assert "--fields" in capsys.readouterr().out
