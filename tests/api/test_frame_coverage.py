"""Coverage by the 2023 régions: built from the 2015 cercles by the sourced crosswalk
(population totals equal to the 2015 ones, approximate where a région splits a cercle),
or read from 2023 boundary files a user supplies, which take precedence."""

from __future__ import annotations

import io
import json
import re

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.datasets import find_dataset
from api.http.app import create_app
from api.services.analysis import Analysis
from api.services.frames import FrameError
from api.settings import get_settings
from geo.boundaries import read_boundaries

pytestmark = pytest.mark.integration
FIGURES = ["population", "pop_within_60", "pop_within_120", "pop_within_300"]


@pytest.fixture(scope="module")
def analysis(modes_build) -> Analysis:
    return Analysis.load(modes_build)


def test_2023_totals_equal_the_2015_ones(analysis):
    for service, mode in (("one_stop_centre", "car"), ("medical", "walk")):
        old = analysis.coverage(level="adm1", service=service, mode=mode).table
        new = analysis.coverage(level="adm1", service=service, mode=mode, frame="2023").table
        assert len(old) == 9 and len(new) == 19
        columns = FIGURES + (["pop_within_4320", "pop_within_7200"] if service == "medical" else [])
        for column in columns:
            # each row is rounded to one person
            assert abs(old[column].sum() - new[column].sum()) <= (len(old) + len(new)) / 2, column


def test_each_2023_region_is_the_sum_of_its_2015_cercles(analysis):
    cercles = analysis.coverage(level="adm2", frame="2023").table
    regions = analysis.coverage(level="adm1", frame="2023").table.set_index("pcode")
    for code, group in cercles.groupby("region_2023_pcode"):
        for column in FIGURES:
            assert abs(group[column].sum() - regions.loc[code, column]) <= len(group) / 2 + 0.5
        assert set(regions.loc[code, "cercles_2015"].split(";")) == set(group["pcode"])
    bandiagara = regions.loc["R2023-bandiagara"]
    assert bandiagara["name"] == "Bandiagara" and not bandiagara["approximate"]
    assert set(bandiagara["cercles_2015"].split(";")) == {"ML0502", "ML0503", "ML0507"}
    # Kati is split (Ouélessébougou went to Bougouni): both régions are approximate
    assert regions.loc["R2023-koulikoro", "approximate"]
    assert regions.loc["R2023-bougouni", "approximate"]
    assert regions.loc["R2023-kayes", "approximate"] == False  # noqa: E712 (numpy bool)


def test_cercles_and_communes_carry_their_2023_region(analysis):
    cercles = analysis.coverage(level="adm2", frame="2023").table.set_index("pcode")
    assert cercles.loc["ML0502", "region_2023"] == "Bandiagara"
    assert cercles.loc["ML0205", "region_2023_approximate"]
    communes = analysis.coverage(level="adm3", frame="2023").table
    inside = communes[communes["pcode"].str.startswith("ML0502")]
    assert len(inside) and set(inside["region_2023"]) == {"Bandiagara"}
    ranked = analysis.underserved(level="adm3", frame="2023", threshold_min=120).table
    first = ranked.iloc[0]
    assert first["region_2023"] == communes.set_index("pcode").loc[first["pcode"], "region_2023"]
    # the 2015 frame adds nothing
    assert "region_2023" not in analysis.coverage(level="adm2", frame="2015").table


def test_supplied_2023_boundaries_take_precedence(modes_build, analysis, tmp_path):
    """An ADM1 file of the 2023 frame in the user's boundaries folder is used as it is."""
    regions = analysis.frame_2023().regions
    user = tmp_path / "boundaries"
    user.mkdir()
    frame = gpd.GeoDataFrame(
        {"admin1Pcod": regions["pcode"], "admin1Name": regions["name"], "admin0Pcod": "ML"},
        geometry=regions.geometry.to_numpy(),
        crs=regions.crs,
    )
    frame.to_file(user / "mli_adm1_2023.geojson", driver="GeoJSON")
    settings = modes_build.model_copy(update={"boundaries_dir": user})
    assert find_dataset(settings, "adm1") == user / "mli_adm1_2023.geojson"
    supplied = Analysis.load(settings)
    result = supplied.coverage(level="adm1", frame="2023")
    assert result.meta["frame"] == "2023" and "frame_source" not in result.meta
    assert "approximate" not in result.table.columns and len(result.table) == 19
    assert supplied.coverage(level="adm1").meta["frame"] == "2023"  # the files' own frame
    with pytest.raises(FrameError, match="2023 frame"):
        supplied.coverage(level="adm1", frame="2015")
    assert len(read_boundaries(user / "mli_adm1_2023.geojson", level=1)) == 19


def test_cli_and_api_report_by_the_2023_frame(modes_build, analysis, cli_settings):
    cli_settings(modes_build)
    try:
        result = CliRunner().invoke(cli, ["coverage", "--frame", "2023", "--format", "json"])
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        assert answer["meta"]["frame"] == "2023" and len(answer["units"]) == 19
        text = CliRunner().invoke(cli, ["coverage", "--frame", "2023"])
        assert "approximate where a région splits" in text.output and "Taoudénit" in text.output
    finally:
        get_settings.cache_clear()
    with TestClient(create_app(modes_build)) as client:
        api = client.get("/api/v1/coverage", params={"frame": "2023"}).json()
        assert [u["pcode"] for u in api["units"]] == [u["pcode"] for u in answer["units"]]
        assert api["meta"]["frame_source"] == "mli_cercle_2015_to_region_2023.csv"
        bad = client.get("/api/v1/coverage", params={"frame": "2019"})
        assert bad.status_code == 422 and bad.json()["detail"]["parameter"] == "frame"


@pytest.mark.parametrize("fmt", ["csv", "hxl"])
def test_planner_files_by_2023_region_and_clinical_window(modes_build, fmt, cli_settings):
    """The file of the 2023 frame, its Mopti and Gao communes, medical care on foot ranked
    by the 72 h window: the command line's bytes are the API's, every row in those
    régions of 2023, the 72 h people and ranks beside them."""
    cli_settings(modes_build)
    args = ["coverage", "--level", "adm3", "--frame", "2023", "--region", "Mopti,Gao"]
    args += ["--window", "pep", "--mode", "walk", "--underserved", "--format", fmt]
    try:
        done = CliRunner().invoke(cli, [*args, "--lang", "fr"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    params = {
        "level": "adm3",
        "frame": "2023",
        "region": "Mopti,Gao",
        "window": "pep",
        "mode": "walk",
        "threshold_min": 4320,
        "format": fmt,
        "lang": "fr",
    }
    with TestClient(create_app(modes_build)) as client:
        answer = client.get("/api/v1/coverage", params=params)
    assert answer.status_code == 200, answer.text
    assert done.stdout_bytes == answer.content
    assert "frame2023" in answer.headers["content-disposition"]
    text = io.StringIO(answer.content.decode("utf-8-sig"))
    if fmt == "csv":
        table = pd.read_csv(text, sep=";", decimal=",", dtype={"threshold_min": str})
    else:
        table = pd.read_csv(text, skiprows=[1], dtype={"threshold_min": str})
    assert {"pop_within_4320", "rank_people", "region_2023"} <= set(table.columns)
    assert set(table["region_pcode"]) == {"R2023-mopti", "R2023-gao"}
    assert set(table["threshold_min"]) == {"4320"} and len(table) > 10


def test_window_and_frame_in_the_api_json(modes_build):
    with TestClient(create_app(modes_build)) as client:
        got = client.get(
            "/api/v1/coverage", params={"window": "ec", "frame": "2023", "region": "Gao"}
        )
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["meta"]["service"] == "medical" and body["meta"]["window_min"] == 7200
        assert [u["pcode"] for u in body["units"]] == ["R2023-gao"]
        assert "pop_within_7200" in body["units"][0]
        clash = client.get("/api/v1/coverage", params={"window": "pep", "service": "legal"})
        assert clash.status_code == 422 and clash.json()["detail"]["parameter"] == "service"
        over = client.get("/api/v1/coverage", params={"threshold_min": 4320})
        assert over.status_code == 422
        assert over.json()["detail"]["parameter"] == "threshold_min"
        old = client.get("/api/v1/coverage", params={"frame": "2023", "region": "ML07"})
        assert old.status_code == 422 and "R2023-gao" in old.json()["detail"]["message"]


@pytest.mark.parametrize("extra", [["--frame", "2023"], ["--region", "ML07"]])
def test_deserts_refuse_region_and_frame(modes_build, extra, cli_settings):
    """Service deserts are areas of the whole grid: --region and --frame are refused by
    name (a usage error), not silently ignored."""
    cli_settings(modes_build)
    try:
        done = CliRunner().invoke(cli, ["coverage", "--deserts", *extra])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 2
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", done.output).split())  # any panel width
    assert "--region and --frame apply to the tables" in words and "'--deserts'" in words
