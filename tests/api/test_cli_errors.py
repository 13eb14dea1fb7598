"""Errors of the command line: whole lines whatever the terminal or the path, exit 2 for a
wrong command line, exit 1 for a refusal, choices listed in ``--help``.

No data directory needed: every error here is raised before any data is read.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli._console import fail, request_failed
from api.errors import RequestError


@pytest.fixture()
def narrow(monkeypatch):
    """A terminal 30 columns wide (Rich and Click both read COLUMNS)."""
    monkeypatch.setenv("COLUMNS", "30")
    monkeypatch.setenv("TERMINAL_WIDTH", "30")


def test_a_long_path_stays_on_one_line(narrow, tmp_path):
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name-0123456789"] * 6), "missing")
    out = deep / "mopti.pdf"
    result = CliRunner().invoke(app, ["brief", "--region", "ML05", "--out", str(out)])
    assert result.exit_code == 1
    line = f"Error: --out {out}: directory {deep} does not exist"
    assert line in result.output.splitlines(), result.output


def test_a_usage_error_stays_on_one_line_and_exits_2(narrow):
    result = CliRunner().invoke(app, ["coverage", "--level", "adm9"])
    assert result.exit_code == 2
    assert any(
        line.startswith("Error: Invalid value for '--level'")
        and line.endswith("'adm9' is not one of 'adm1', 'adm2', 'adm3'.")
        for line in result.output.splitlines()
    ), result.output


@pytest.mark.parametrize(
    "args",
    [
        ["nearest", "--lat", "14.5"],  # a point needs both coordinates
        ["nearest", "--lat", "14.5", "--lon", "-4.2", "--format", "xml"],
        ["site", "--add", "-5.6,12.4", "--remove", "osc-gao"],
        ["site", "--add", "abc"],
        ["coverage", "--deserts", "--underserved"],
        ["conflict", "summary", "--from", "last year"],
        ["brief", "--out", "x.pdf"],  # neither --region nor --all
    ],
)
def test_every_wrong_command_line_exits_2(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output


def test_help_lists_the_choices():
    result = CliRunner().invoke(app, ["coverage", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for choices in (
        "adm1|adm2|adm3",
        "table|csv|hxl|xlsx|json|geojson",
        "baseline|slowed|avoid",
        "one_stop_centre|medical|psychosocial|legal|reintegration|shelter",
    ):
        assert choices in result.output, choices
    for command in (["nearest"], ["site"], ["places", "search"]):
        text = CliRunner().invoke(app, [*command, "--help"], terminal_width=200).output
        assert "--format" in text and "table|json" in text, command
        assert "--json" not in text  # the old flag still works, hidden


def test_messages_are_printed_as_they_are(capsys):
    fail("[bold]not markup[/bold] in a file name.tif")
    err = capsys.readouterr().err
    assert "[bold]not markup[/bold] in a file name.tif" in err
    request_failed(RequestError(422, "add_outside", parameter="add"))
    assert "--add: the point is outside Mali" in capsys.readouterr().err
