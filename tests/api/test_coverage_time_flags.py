"""Units whose times rest mostly on off-road legs or long detours carry a visible flag in
every coverage output: the table, the API, the exports, the command line, the ranking
pages and the région briefing (on the shared car build of the real data).

What the real data says (car, baseline, One-Stop Centres): Bourem cercle's median
(about 8 h 45) rests on off-road legs for most of its people; Ansongo's does not; Bamako's
short town trips are not flagged; Ménaka's mix of off-road legs and detours is.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.http.app import create_app
from api.services.analysis import Analysis
from api.services.briefings import assemble_briefing
from api.settings import Settings, get_settings
from web.briefing import render_html

pytestmark = pytest.mark.integration

BOUREM, ANSONGO, BAMAKO, MENAKA = "ML0703", "ML0702", "ML0901", "ML0704"


@pytest.fixture(scope="module")
def settings(car_settings) -> Settings:
    return car_settings()


@pytest.fixture(scope="module")
def analysis(settings) -> Analysis:
    return Analysis.load(settings)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


def test_every_cell_route_is_the_finders_walk_on_the_real_build(settings):
    """The per-cell routes the flags rest on are the routes the finder walks."""
    from api.build.layers import load_layers
    from geo.route_flags import nearest_routes
    from geo.routes import walk_route

    layer = load_layers(settings).layers[("car", "baseline")]
    (labels,) = layer.visible("one_stop_centre", caseworker=False)
    graph = layer.graph
    routes = nearest_routes(graph, labels)
    reached = np.flatnonzero(np.isfinite(routes.minutes))
    assert len(reached) > 0.9 * graph.n_cells
    for v in np.random.default_rng(20).choice(reached, 300, replace=False):
        source = int(labels.ids[labels.source[v, 0]])
        walk = walk_route(graph, labels, int(v), source)
        minutes = float(labels.minutes[v, 0])
        assert routes.offroad_min[v] == pytest.approx(minutes - walk.road_minutes, abs=1e-6)
        assert routes.distance_km[v] == pytest.approx(walk.metres_by_class.sum() / 1e3)


def test_bourem_median_rests_on_off_road_legs_ansongo_does_not(analysis):
    table = analysis.coverage(level="adm2", service="one_stop_centre", mode="car").table
    rows = table.set_index("pcode")
    bourem, ansongo = rows.loc[BOUREM], rows.loc[ANSONGO]
    assert bourem["median_time_min"] > 300
    assert bourem["offroad_share"] >= 0.5 and bourem["time_flags"] == "offroad"
    assert ansongo["offroad_share"] < 0.5 and ansongo["detour_share"] < 0.5
    assert ansongo["time_flags"] is None
    # the unit rule, everywhere: flagged units have half their people on flagged routes
    # (at most the sum of the two shares), a flag named is held by a quarter of them
    flagged = table["time_flags"].notna()
    both = table["offroad_share"] + table["detour_share"]
    assert (both[flagged] >= 0.5 - 1e-9).all()
    assert (table[["offroad_share", "detour_share"]].max(axis=1)[~flagged] < 0.5).all()
    for _, row in table[flagged].iterrows():
        for name in row["time_flags"].split(";"):
            assert row[f"{name}_share"] >= 0.25
    # a short town trip is not flagged, Ménaka's mix of off-road and detour is
    assert rows.loc[BAMAKO, "time_flags"] is None
    assert rows.loc[MENAKA, "time_flags"] == "offroad;detour"


def test_api_and_exports_carry_the_flags(client):
    answer = client.get("/api/v1/coverage", params={"level": "adm2"}).json()
    units = {u["pcode"]: u for u in answer["units"]}
    assert units[BOUREM]["time_flags"] == "offroad"
    assert units[ANSONGO]["time_flags"] is None
    assert 0.5 <= units[BOUREM]["offroad_share"] <= 1
    hxl = client.get("/api/v1/coverage", params={"level": "adm2", "format": "hxl"})
    frame = pd.read_csv(io.StringIO(hxl.text))
    tags = dict(zip(frame.columns, frame.iloc[0], strict=True))
    flag_column = next(c for c in frame.columns if "flags" in c)
    assert tags[flag_column] == "#indicator+flags+time"
    bourem = frame[frame["pcode"].astype(str) == BOUREM]
    assert not bourem.empty and (bourem[flag_column] == "offroad").all()


def test_command_line_marks_the_median_and_explains_it(settings, cli_settings):
    cli_settings(settings)
    try:
        result = CliRunner().invoke(cli_app, ["coverage", "--level", "adm2", "--region", "Gao"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    bourem = next(line for line in result.output.splitlines() if BOUREM in line)
    assert "†" in bourem
    ansongo = next(line for line in result.output.splitlines() if ANSONGO in line)
    assert "†" not in ansongo and "‡" not in ansongo
    assert "† Read with care: at least" in result.output


def test_ranking_pages_mark_the_unit_and_explain_it_in_their_language(client):
    fr = client.get("/regions/ML07").text
    assert "†</span>" in fr
    assert "Temps à lire avec prudence" in fr
    assert "Read with care" not in fr
    plan = client.get("/planifier", params={"level": "adm2", "lang": "en"}).text
    assert "Read with care: at least" in plan


def test_briefing_marks_the_medians_with_a_footnote(analysis):
    html = render_html(assemble_briefing(analysis, "ML07", lang="fr", dpi=60))
    assert "†" in html
    assert "Temps à lire avec prudence" in html
    english = render_html(assemble_briefing(analysis, "ML07", lang="en", dpi=60))
    assert "Read with care: at least" in english
