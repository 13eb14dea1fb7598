"""The Python API for notebooks (api.services): the command line's figures, public by
default, arguments checked and named, explicit paths that survive a change of directory."""

from __future__ import annotations

import inspect
import json
import os
import tomllib
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from typer.testing import CliRunner

import api
import api.services as services
import geo
import web
from api.cli import app
from api.services import (
    Build,
    NotBuiltError,
    conflict_zones,
    coverage,
    national,
    nearest,
    open_build,
    site,
    travel_time_surface,
    underserved,
    what_if,
)
from api.settings import get_settings

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- the package


def test_version_comes_from_the_package_metadata() -> None:
    expected = version("orienter")
    for package in (geo, api, web, services):
        assert package.__version__ == expected, package.__name__


def test_every_package_ships_py_typed() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = data["tool"]["setuptools"]["package-data"]
    for package in ("geo", "api", "web"):
        assert (REPO / package / "py.typed").is_file(), package
        assert "py.typed" in package_data.get(package, []), package


@pytest.mark.parametrize("module", [geo, services], ids=["geo", "api.services"])
def test_public_names_are_typed_and_documented(module) -> None:
    for name in module.__all__:
        obj = getattr(module, name)
        if not callable(obj) or (isinstance(obj, type) and name.endswith("Error")):
            continue
        assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            untyped = [p for p in sig.parameters.values() if p.annotation is inspect._empty]
            assert not untyped, f"{name}: untyped {untyped}"
            assert sig.return_annotation is not inspect._empty, f"{name}: no return type"


def test_open_build_refuses_what_is_not_a_build(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(NotBuiltError, match="no built layers"):
        open_build(tmp_path / "empty", data_dir=data)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "manifest.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="data_dir"):
        open_build(tmp_path / "build", data_dir=tmp_path / "nowhere")
    with pytest.raises(TypeError, match="build_dir"):
        open_build(3, data_dir=data)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="build must be a Build"):
        coverage(str(tmp_path / "build"))  # type: ignore[arg-type]
    assert isinstance(open_build(tmp_path / "build", data_dir=data), Build)


# ----------------------------------------------------------------------------- on a build


@pytest.fixture(scope="module")
def build(car_build: Path, data_dir: Path) -> Build:
    return open_build(car_build, data_dir=data_dir)


@pytest.fixture()
def cli_env(car_build: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The command line pointed at the same build, with no caseworker token."""
    monkeypatch.setenv("ORIENTER_BUILD_DIR", str(car_build))
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    monkeypatch.delenv("ORIENTER_CASEWORKER_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _cli_json(*args: str) -> dict | list:
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _untimed(answer: dict) -> dict:
    return {**answer, "meta": {k: v for k, v in answer["meta"].items() if k != "seconds"}}


@pytest.mark.integration
def test_relative_paths_survive_a_change_of_directory(
    car_build: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(car_build.parent)
    opened = open_build(car_build.name, data_dir=os.path.relpath(data_dir, car_build.parent))
    assert opened.build_dir == car_build and opened.data_dir == data_dir
    monkeypatch.chdir(tmp_path)
    assert len(opened.units("adm1")) == 9


@pytest.mark.integration
def test_paths_fall_back_on_the_settings(
    build: Build, car_build: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORIENTER_BUILD_DIR", str(car_build))
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    assert open_build().build_dir == build.build_dir
    assert open_build().data_dir == build.data_dir


@pytest.mark.integration
def test_coverage_and_underserved_are_the_command_lines(build: Build, cli_env) -> None:
    table = coverage(build, level="adm2", service="medical", mode="car")
    cli = _cli_json("coverage", "--level", "adm2", "--service", "medical")
    assert [{k: r[k] for k in c} for r, c in zip(table.records(), cli["units"], strict=True)] == (
        cli["units"]
    )
    # the command line names the source files, never a local path
    sources = ("population_source", "conflict_source")
    meta = {
        k: Path(str(v)).name if k in sources and v else v
        for k, v in table.meta.items()
        if k in cli["meta"]
    }
    assert meta == cli["meta"]
    ranked = underserved(build, level="adm1", threshold_min=60)
    assert ranked.table["rank_people"].tolist() == sorted(ranked.table["rank_people"])
    figures = national(build, scenario="avoid")
    assert figures["population"] == round(build.population_total)
    assert figures["share_within_120"] <= national(build)["share_within_120"]


@pytest.mark.integration
def test_nearest_is_the_command_lines_and_public(build: Build, cli_env) -> None:
    answer = nearest(build, place="Hombori", service="one_stop_centre", k=3)
    cli = _cli_json("nearest", "--place", "Hombori", "--service", "one_stop_centre", "--k", "3")
    assert answer == cli
    assert answer["query"]["place"]["name"] == "Hombori"
    assert not answer["query"]["includes_confidential"]


@pytest.mark.integration
def test_confidential_providers_only_with_caseworker(build: Build) -> None:
    hidden = build.providers(caseworker=True)
    hidden = hidden[hidden["confidential"].astype(bool)]
    assert len(hidden) and not build.providers()["confidential"].astype(bool).any()
    secret = hidden.iloc[0]
    lon, lat = secret.geometry.x + 0.01, secret.geometry.y
    public = nearest(build, lon, lat, service="shelter", k=5)
    assert not set(hidden["id"]) & {r["id"] for r in public["results"]}
    told = nearest(build, lon, lat, service="shelter", k=5, caseworker=True)
    assert told["query"]["includes_confidential"]
    assert set(hidden["id"]) & {r["id"] for r in told["results"]}
    with pytest.raises(PermissionError, match="caseworker"):
        what_if(build, add=(lon, lat), service="shelter")
    assert what_if(build, add=(lon, lat), service="shelter", caseworker=True)["meta"][
        "includes_confidential"
    ]
    with pytest.raises(ValueError, match="remove"):  # a confidential id is an unknown id
        what_if(build, remove=str(secret["id"]), service="psychosocial")
    with pytest.raises(ValueError, match="provider_ids"):
        nearest(build, lon, lat, provider_ids=[str(secret["id"])])
    public_surface = travel_time_surface(build, service="psychosocial")
    all_surface = travel_time_surface(build, service="psychosocial", caseworker=True)
    assert not public_surface.includes_confidential and all_surface.includes_confidential
    finite = np.isfinite(all_surface.minutes)
    assert (all_surface.minutes[finite] <= public_surface.minutes[finite] + 1e-3).all()


@pytest.mark.integration
def test_what_if_and_site_are_the_command_lines(build: Build, cli_env) -> None:
    added = what_if(build, add=(-2.0, 15.3), level="adm1")
    cli = _cli_json("site", "--add", "-2.0,15.3", "--level", "adm1")
    assert _untimed(added) == _untimed(cli)
    assert added["meta"]["change"] > 0 and added["units"]
    chosen = site(build, n=2)
    assert _untimed(chosen) == _untimed(_cli_json("site", "--n", "2"))
    frame = gpd.GeoDataFrame(
        {"name": ["A", "B"]}, geometry=gpd.points_from_xy([-2.0, -8.0], [15.3, 12.65]), crs=4326
    )
    from_frame = site(build, n=1, candidates=frame)
    assert from_frame["sites"][0]["name"] == "A"  # Bamako already has centres


@pytest.mark.integration
def test_what_if_at_an_existing_site_is_the_command_line(build: Build, cli_env) -> None:
    at = what_if(build, add_at="pro-sahel-douentza", service="psychosocial", level="adm1")
    cli = _cli_json(
        "site", "--add-at", "pro-sahel-douentza", "--service", "psychosocial", "--level", "adm1"
    )
    assert _untimed(at) == _untimed(cli)
    assert at["meta"]["picked"]["id"] == "pro-sahel-douentza" and at["meta"]["change"] > 0
    assert at["meta"]["picked"]["approximate"] is True
    facility = what_if(build, add_facility="who:517a99b6db", level="adm1")
    assert facility["meta"]["picked"]["kind"] == "facility"
    assert _untimed(facility) == _untimed(
        _cli_json("site", "--add-facility", "who:517a99b6db", "--level", "adm1")
    )
    with pytest.raises(ValueError, match="add_at"):
        what_if(build, add_at="no-such-provider")
    with pytest.raises(ValueError, match="one of"):
        what_if(build, add_at="pro-sahel-douentza", add=(-2.0, 15.3))


@pytest.mark.integration
def test_bad_arguments_name_the_parameter_and_never_the_point(build: Build) -> None:
    cases = [
        (lambda: coverage(build, service="shelters"), ValueError, "service"),
        (lambda: coverage(build, level="adm9"), ValueError, "level"),
        (lambda: nearest(build, -8.0, 12.6, mode="bicycle"), ValueError, "mode"),
        (lambda: nearest(build, -8.0, 12.6, k=0), ValueError, "k"),
        (lambda: nearest(build, -8.0, 12.6, k="3"), TypeError, "k"),  # type: ignore[arg-type]
        (lambda: nearest(build, -8.0), ValueError, "lon and lat"),
        (lambda: nearest(build, place="Xyzzyplouf"), ValueError, "place"),
        (lambda: nearest(build, 20.123, 45.678), ValueError, "lat: the point is outside Mali"),
        (lambda: nearest(build, 14.5, -4.2), ValueError, "swapped"),
        (lambda: nearest(build, float("nan"), 12.6), ValueError, "lon"),
        (lambda: nearest(build, -8.0, 12.6, caseworker="yes"), TypeError, "caseworker"),  # type: ignore[arg-type]
        (lambda: what_if(build), ValueError, "add"),
        (lambda: what_if(build, add=(4.5, 51.2)), ValueError, "add: the point is outside"),
        (lambda: what_if(build, add=(15.3, -2.0)), ValueError, "swapped"),
        (lambda: what_if(build, add="-2,15"), TypeError, "add"),  # type: ignore[arg-type]
        (lambda: what_if(build, remove="no-such-id"), ValueError, "remove"),
        (lambda: what_if(build, add=(-2.0, 15.3), threshold_min=0), ValueError, "threshold_min"),
        (lambda: site(build, n=0), ValueError, "n="),
        (lambda: site(build, candidates="nowhere.csv"), ValueError, "candidates"),
        (lambda: conflict_zones("build"), TypeError, "build"),  # type: ignore[arg-type]
    ]
    for call, kind, named in cases:
        with pytest.raises(kind) as caught:
            call()
        message = str(caught.value)
        assert named in message, message
        for secret in ("20.123", "45.678", "Xyzzyplouf", "51.2"):
            assert secret not in message, message


@pytest.mark.integration
def test_travel_time_surface_is_the_built_raster(build: Build, car_build: Path) -> None:
    found = travel_time_surface(build, service="one_stop_centre", scenario="slowed")
    with rasterio.open(car_build / "surfaces/public/one_stop_centre-car-slowed.tif") as src:
        band = src.read(1)
        assert tuple(found.transform)[:6] == tuple(src.transform)[:6]
        assert found.bounds == pytest.approx(tuple(src.bounds))
    active = build.analysis.inputs.grid.active
    assert np.isnan(found.minutes[~active]).all()
    expected = np.where(np.isnan(band[active]), np.inf, band[active])
    np.testing.assert_array_equal(found.minutes[active], expected)
    base = travel_time_surface(build, service="one_stop_centre")
    assert (found.minutes[active] >= base.minutes[active] - 1e-3).all()


@pytest.mark.integration
def test_conflict_zones_are_aggregates(build: Build, car_build: Path) -> None:
    zones = conflict_zones(build)
    stored = gpd.read_parquet(car_build / "conflict/zones.parquet")
    pd.testing.assert_frame_equal(zones.polygons, stored)
    assert set(zones.polygons["zone_class"]) <= {"low", "elevated", "high"}
    assert set(zones.summaries) == {"adm1", "adm2", "adm3"}
    assert len(zones.summaries["adm1"]) == len(build.units("adm1"))
    assert int(zones.polygons["events"].sum()) <= zones.meta["events"]
    for frame in (zones.polygons, *zones.summaries.values()):
        assert not {"lat", "lon", "date", "event_type"} & set(frame.columns)


@pytest.mark.integration
@pytest.mark.parametrize("scenario", ["slowed", "avoid"])
def test_loss_of_access_from_two_surfaces_is_the_builds(
    build: Build, car_build: Path, scenario: str
) -> None:
    """Notebook 2 maps the loss of access from two surfaces: the build's own raster."""
    before = travel_time_surface(build).minutes
    after = travel_time_surface(build, scenario=scenario).minutes
    newly = np.zeros(before.shape, dtype=np.int16)
    for limit in (300, 120, 60):
        newly[(before <= limit) & (after > limit)] = limit
    path = car_build / f"conflict/loss_one_stop_centre_car-{scenario}.tif"
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(newly, src.read(1))
    assert (newly > 0).any()
