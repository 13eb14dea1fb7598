"""`orienter map` on the shared car build: a standalone map file and its errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.services.analysis import Analysis
from api.settings import get_settings
from geo.providers import read_providers

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(car_build, data_dir, tmp_path, monkeypatch):
    for key, value in {
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(car_build),
        "ORIENTER_PROVIDERS": str(REPO / "data" / "providers.geojson"),
        "ORIENTER_BOUNDARIES_DIR": str(tmp_path / "no-user-boundaries"),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield car_build
    get_settings.cache_clear()


def _run(*args: str):
    return CliRunner().invoke(app, ["map", *args])


def _in_html(text: str, html: str) -> bool:
    return text in html or json.dumps(text)[1:-1] in html


def test_map_writes_a_standalone_public_french_map(env, tmp_path):
    out = tmp_path / "carte.html"
    result = _run("--out", str(out), "--level", "adm2", "--scenario", "slowed")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet", html)
    assert '<html lang="fr">' in html
    for label in (
        "Couverture : population à moins de 2 h",
        "Temps de trajet (en voiture)",
        "Zones de conflit",
        "Prestataires (localisation approximative)",
    ):
        assert _in_html(label, html), label
    providers = read_providers(REPO / "data" / "providers.geojson")
    for _, row in providers.iterrows():
        shown = _in_html(str(row["name"]), html)
        if row["confidential"]:
            assert not shown, f"confidential {row['id']} on the map"
            assert str(row["id"]) not in html
    public_names = providers[~providers["confidential"].astype(bool)]["name"]
    assert any(_in_html(str(n), html) for n in public_names)
    # coverage figures are api.services.analysis's (the same as `orienter coverage`)
    analysis = Analysis.load(get_settings())
    table = analysis.coverage(
        level="adm2", service="one_stop_centre", mode="car", scenario="slowed"
    ).table
    row = table.sort_values("population").iloc[-1]
    share = f"{100 * row['share_within_120']:.0f}\u00a0%"
    assert _in_html(share, html)
    assert _in_html(str(row["name"]), html)
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".carte.html.*"))  # no temporary file left


def test_map_in_english(env, tmp_path):
    out = tmp_path / "map.html"
    result = _run("--out", str(out), "--lang", "en", "--service", "legal")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    assert _in_html("Coverage: population within 2 h", html)
    assert not _in_html("Limites administratives", html)


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--service", "massage"], "'massage' is not one of 'one_stop_centre'", 2),
        (["--mode", "plane"], "'plane' is not one of 'walk', 'motorbike', 'car'", 2),
        (["--mode", "walk"], "--mode 'walk' is not built", 1),
        (["--scenario", "worst"], "'worst' is not one of 'baseline', 'slowed', 'avoid'", 2),
        (["--level", "adm9"], "'adm9' is not one of 'adm1', 'adm2', 'adm3'", 2),
        (["--lang", "de"], "'de' is not one of 'fr', 'en'", 2),
    ],
)
def test_bad_option_is_named(env, tmp_path, args, message, code):
    """An unknown value is a usage error (exit 2); a known one the build lacks exits 1."""
    out = tmp_path / "x.html"
    result = _run("--out", str(out), *args)
    assert result.exit_code == code, result.output
    assert message in result.output  # on one line, whatever the terminal's width
    if code == 2:  # a usage error names the option
        assert f"Invalid value for '{args[0]}'" in result.output
    assert not out.exists()


def test_unwritable_out_is_refused_before_work(env, tmp_path):
    result = _run("--out", str(tmp_path / "missing" / "x.html"))
    assert result.exit_code == 1
    assert "--out" in result.output and "does not exist" in result.output
    result = _run("--out", str(tmp_path / "x.pdf"))
    assert result.exit_code == 2 and ".html" in result.output  # a usage error
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = _run("--out", str(locked / "x.html"))
        assert result.exit_code == 1 and "not writable" in result.output


def test_no_build_is_a_clear_error(env, tmp_path, monkeypatch):
    monkeypatch.setenv("ORIENTER_BUILD_DIR", str(tmp_path / "empty"))
    get_settings.cache_clear()
    result = _run("--out", str(tmp_path / "x.html"))
    assert result.exit_code == 1
    assert "orienter build" in result.output
