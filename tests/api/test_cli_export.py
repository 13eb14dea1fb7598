"""`orienter export` on the shared car build: the GeoPackage, its rasters, COGs and styles."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pyogrio
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from api.cli import app
from api.services.analysis import Analysis
from api.settings import get_settings
from web.i18n import translate

matplotlib.use("Agg")
import matplotlib.pyplot as plt

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = REPO / "data" / "providers.geojson"
MALI_BOUNDS = (-12.5, 10.0, 4.5, 25.2)  # lon/lat, with a margin
VECTORS = {
    "providers": {"id", "name", "type", "status", "location_precision", "approximate",
                  "uncertainty_m", "source", "source_date", "in_travel_times"},
    "coverage_adm1": {"pcode", "name", "population", "pop_within_30", "pop_within_60",
                      "pop_within_120", "pop_within_300", "share_within_30", "share_within_60",
                      "share_within_120", "share_within_300", "median_time_min",
                      "p90_time_min", "nearest_provider_id", "nearest_provider_name"},
    "isochrones": {"service", "mode", "scenario", "threshold_min"},
    "conflict_zones": {"zone_class", "events", "fatalities", "area_km2"},
    "service_deserts": {"desert_id", "population", "area_km2", "max_time_min"},
}  # fmt: skip
RASTERS = ("travel_time_one_stop_centre_car_baseline", "population")


def _env(mp: pytest.MonkeyPatch, build: Path, data_dir: Path, tmp: Path, providers=PROVIDERS):
    for key, value in {
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(build),
        "ORIENTER_PROVIDERS": str(providers),
        "ORIENTER_BOUNDARIES_DIR": str(tmp / "no-user-boundaries"),
    }.items():
        mp.setenv(key, value)
    get_settings.cache_clear()


def _run(*args: str):
    return CliRunner().invoke(app, ["export", *args])


@pytest.fixture(scope="module")
def exported(car_build, data_dir, tmp_path_factory):
    """One export of the car build's defaults (one_stop_centre, car, baseline)."""
    tmp = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, car_build, data_dir, tmp)
        result = _run("--out", str(tmp / "orienter_mali.gpkg"))
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return tmp / "orienter_mali.gpkg"


@pytest.fixture
def env(car_build, data_dir, tmp_path, monkeypatch):
    _env(monkeypatch, car_build, data_dir, tmp_path)
    yield car_build
    get_settings.cache_clear()


def _confidential() -> tuple[list[dict], list[dict]]:
    features = json.loads(PROVIDERS.read_text(encoding="utf-8"))["features"]
    hidden = [f for f in features if f["properties"]["confidential"] is not False]
    public = [f for f in features if f["properties"]["confidential"] is False]
    return hidden, public


def test_every_layer_with_its_columns(exported):
    layers = dict(pyogrio.list_layers(exported))
    expected = {*VECTORS, "coverage_adm2", "coverage_adm3", "orienter_metadata", "layer_styles"}
    assert expected <= set(layers)
    for name, columns in VECTORS.items():
        info = pyogrio.read_info(exported, layer=name)
        assert info["features"] > 0, name
        assert columns <= set(info["fields"]), (name, columns - set(info["fields"]))
        assert info["crs"] == "EPSG:4326"
    for level, count in (("adm1", 9), ("adm2", 50), ("adm3", 701)):
        assert pyogrio.read_info(exported, layer=f"coverage_{level}")["features"] == count
    with sqlite3.connect(exported) as con:
        rasters = dict(
            con.execute(
                "SELECT table_name, data_type FROM gpkg_contents WHERE data_type LIKE '%grid%'"
            )
        )
    assert set(rasters) == set(RASTERS)


def test_coverage_figures_are_the_analysis_figures(exported, env):
    layer = gpd.read_file(exported, layer="coverage_adm2")
    table = (
        Analysis.load(get_settings())
        .coverage(level="adm2", service="one_stop_centre", mode="car", scenario="baseline")
        .table
    )
    merged = layer.merge(table, on="pcode", suffixes=("", "_expected"))
    assert len(merged) == 50
    for column in ("population", "pop_within_120", "share_within_120", "n_providers"):
        np.testing.assert_allclose(merged[column], merged[f"{column}_expected"])
    finite = np.isfinite(merged["median_time_min_expected"].astype(float))
    np.testing.assert_allclose(
        merged.loc[finite, "median_time_min"], merged.loc[finite, "median_time_min_expected"]
    )
    assert merged.loc[~finite, "median_time_min"].isna().all()  # inf is written as null


def test_rasters_are_the_public_surfaces(exported, env):
    car_build = env
    name = "one_stop_centre-car-baseline"
    with rasterio.open(f"GPKG:{exported}:{RASTERS[0]}") as src:
        minutes = src.read(1)
        assert src.overviews(1), "no overviews in the GeoPackage raster"
    with rasterio.open(car_build / "surfaces" / "public" / f"{name}.tif") as src:
        public = src.read(1)
    with rasterio.open(car_build / "surfaces" / "all" / f"{name}.tif") as src:
        every = src.read(1)
    np.testing.assert_array_equal(minutes, public)
    differs = ~np.isclose(public, every, equal_nan=True)
    if differs.any():  # where a confidential provider shortens a trip, its time is absent
        assert not np.isclose(minutes[differs], every[differs], equal_nan=True).any()
    with rasterio.open(f"GPKG:{exported}:population") as src:
        people = src.read(1)
    people_model = Analysis.load(get_settings()).inputs.population
    np.testing.assert_allclose(np.nansum(people), people_model.sum(), rtol=1e-5)
    assert np.nanmin(people) >= 0


def test_cogs_beside_the_geopackage_validate(exported):
    for table in RASTERS:
        tif = exported.with_name(f"{exported.stem}_{table}.tif")
        valid, errors, _ = cog_validate(str(tif))
        assert valid and not errors, (tif.name, errors)
        with rasterio.open(tif) as src, rasterio.open(f"GPKG:{exported}:{table}") as inside:
            assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
            assert len(src.overviews(1)) >= 2
            assert src.compression.name.lower() == "deflate"
            assert src.tags()["built_at"] and src.tags()["units"]
            np.testing.assert_array_equal(src.read(1), inside.read(1))
        qml = tif.with_suffix(".qml").read_text(encoding="utf-8")
        assert 'type="singlebandpseudocolor"' in qml
        assert oct(tif.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]


def _drawn(fig) -> int:
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return int((rgba[..., :3] < 250).any(axis=2).sum())


def test_every_layer_renders(exported):
    for name, geometry_type in pyogrio.list_layers(exported):
        if geometry_type is None:
            continue
        frame = gpd.read_file(exported, layer=name)
        west, south, east, north = frame.total_bounds
        assert MALI_BOUNDS[0] <= west < east <= MALI_BOUNDS[2], name
        assert MALI_BOUNDS[1] <= south < north <= MALI_BOUNDS[3], name
        fig, ax = plt.subplots(figsize=(4, 4), dpi=50)
        ax.set_axis_off()
        frame.plot(ax=ax, column=frame.columns[0], edgecolor="black")
        assert _drawn(fig) > 100, f"{name} draws nothing"
        plt.close(fig)
    for table in RASTERS:
        with rasterio.open(f"GPKG:{exported}:{table}") as src:
            band = src.read(1, out_shape=(src.height // 8, src.width // 8))
        finite = np.isfinite(band)
        assert finite.mean() > 0.3, table
        fig, ax = plt.subplots(figsize=(4, 4), dpi=50)
        ax.set_axis_off()
        ax.imshow(np.where(finite, band, np.nan), cmap="viridis")
        assert _drawn(fig) > 100, f"{table} draws nothing"
        plt.close(fig)
    with rasterio.open(f"GPKG:{exported}:{RASTERS[0]}") as src:
        minutes = src.read(1)
    assert np.nanmin(minutes) >= 0 and (minutes < 30).sum() > 0


def test_every_layer_has_a_default_qgis_style(exported):
    with sqlite3.connect(exported) as con:
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, styleQML FROM layer_styles "
            "WHERE f_table_schema = '' AND useAsDefault"
        ).fetchall()
    styled = {table: (column, qml) for table, column, qml in rows}
    layers = [n for n, _ in pyogrio.list_layers(exported) if n not in ("layer_styles",)]
    assert set(styled) == {n for n in layers if n != "orienter_metadata"} | set(RASTERS)
    kinds = {}
    for table, (column, qml) in styled.items():
        root = ET.fromstring(qml.split("\n", 1)[1])
        renderer = root.find("renderer-v2")
        if renderer is None:
            renderer = root.find("pipe/rasterrenderer")
        kinds[table] = renderer.get("type")
        assert column == ("" if table in RASTERS else "geom")
    assert kinds["providers"] == "RuleRenderer"
    assert kinds["coverage_adm2"] == "graduatedSymbol"
    assert kinds["conflict_zones"] == "categorizedSymbol"
    assert kinds[RASTERS[0]] == "singlebandpseudocolor"


def test_metadata_says_what_each_layer_rests_on(exported, env, data_dir):
    meta = pyogrio.read_dataframe(exported, layer="orienter_metadata", read_geometry=False)
    layers = {n for n, g in pyogrio.list_layers(exported) if g is not None} | set(RASTERS)
    assert layers <= set(meta["layer"])
    package = meta[meta["layer"] == "*"].iloc[0]
    assert "estimations d'un modèle" in package["description_fr"]
    assert "model estimates" in package["description_en"]
    built_at = Analysis.load(get_settings()).manifest["built_at"]
    assert (meta["built_at"] == built_at).all() and meta["exported_at"].str.endswith("Z").all()
    for _, row in meta[meta["layer"] != "*"].iterrows():
        assert row["sources"] and row["description_fr"] and row["description_en"], row["layer"]
    zones = meta[meta["layer"] == "conflict_zones"].iloc[0]
    assert "acled" in zones["sources"].lower()  # attribution, never the events
    text = " ".join(str(v) for v in meta.to_numpy().ravel())
    for directory in (data_dir, REPO, env):  # file names only, never where they lie
        assert str(directory) not in text


def test_no_confidential_record_in_the_file(exported):
    hidden, public = _confidential()
    assert hidden, "the directory has no confidential record to check against"
    public_text = json.dumps([f["properties"] for f in public], ensure_ascii=False)
    raw = exported.read_bytes()
    for feature in hidden:
        props = feature["properties"]
        assert props["id"].encode() not in raw, props["id"]
        if props["name"] not in public_text:  # a public record may mention the name
            assert props["name"].encode("utf-8") not in raw, props["name"]
    providers = gpd.read_file(exported, layer="providers")
    assert set(providers["id"]) == {
        f["properties"]["id"] for f in public if f["geometry"] is not None
    }
    points = {(round(p.x, 6), round(p.y, 6)) for p in providers.geometry}
    public_points = {
        tuple(round(c, 6) for c in f["geometry"]["coordinates"]) for f in public if f["geometry"]
    }
    assert points == public_points
    own = [
        tuple(round(c, 6) for c in f["geometry"]["coordinates"])
        for f in hidden
        if f["geometry"] is not None
    ]
    assert not (set(own) - public_points) & points
    for level in ("adm1", "adm2", "adm3"):
        layer = pyogrio.read_dataframe(exported, layer=f"coverage_{level}", read_geometry=False)
        assert set(layer["nearest_provider_id"].dropna()) <= set(providers["id"])


def test_no_conflict_event_in_the_file(exported, data_dir):
    zones = pyogrio.read_dataframe(exported, layer="conflict_zones", read_geometry=False)
    assert set(zones.columns) == {"zone_class", "events", "fatalities", "area_km2"}
    assert len(zones) <= 3 and set(zones["zone_class"]) <= {"low", "elevated", "high"}
    events = next((data_dir / "conflict").glob("*.csv"))
    ids = set(re.findall(rb"MLI\d+", events.read_bytes()))
    assert ids, "no event ids found to check against"
    assert not set(re.findall(rb"MLI\d+", exported.read_bytes())) & ids
    for name, _ in pyogrio.list_layers(exported):
        info = pyogrio.read_info(exported, layer=name)
        assert not {"event_type", "actor1", "fatalities_event"} & set(info["fields"]), name


def test_nothing_changes_without_the_confidential_records(exported, car_build, data_dir, tmp_path):
    _, public = _confidential()
    collection = json.loads(PROVIDERS.read_text(encoding="utf-8"))
    collection["features"] = public
    only_public = tmp_path / "public.geojson"
    only_public.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, car_build, data_dir, tmp_path, providers=only_public)
        result = _run("--out", str(tmp_path / "orienter_mali.gpkg"))
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    other = tmp_path / "orienter_mali.gpkg"
    for name, _ in pyogrio.list_layers(exported):
        if name in ("orienter_metadata", "layer_styles"):
            continue
        a = pyogrio.read_dataframe(exported, layer=name)
        b = pyogrio.read_dataframe(other, layer=name)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), name
        assert a.geometry.geom_equals_exact(b.geometry, 0).all(), name
    for table in RASTERS:
        with (
            rasterio.open(f"GPKG:{exported}:{table}") as x,
            rasterio.open(f"GPKG:{other}:{table}") as y,
        ):
            np.testing.assert_array_equal(x.read(1), y.read(1))


def test_a_scenario_adds_loss_of_access_and_the_baseline_surface(env, tmp_path):
    out = tmp_path / "slowed.gpkg"
    result = _run("--out", str(out), "--scenario", "slowed", "--level", "adm1,adm2", "--lang", "en")
    assert result.exit_code == 0, result.output
    layers = {n for n, _ in pyogrio.list_layers(out)}
    assert "coverage_adm3" not in layers and {"coverage_adm1", "coverage_adm2"} <= layers
    adm1 = pyogrio.read_dataframe(out, layer="coverage_adm1", read_geometry=False)
    assert {"pop_lost_120", "share_lost_120"} <= set(adm1.columns)
    assert (adm1["pop_lost_120"] >= 0).all()
    for scenario in ("slowed", "baseline"):
        tif = tmp_path / f"slowed_travel_time_one_stop_centre_car_{scenario}.tif"
        assert cog_validate(str(tif))[0]
    with sqlite3.connect(out) as con:
        title = con.execute(
            "SELECT identifier FROM gpkg_contents WHERE table_name = 'coverage_adm1'"
        ).fetchone()[0]
    names = [
        translate(key, "en")
        for key in ("maps.service_one_stop_centre", "maps.mode_car", "maps.scenario_slowed")
    ]
    assert title == f"Coverage by région ({', '.join(names)})"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--service", "massage"], 2, "--service 'massage': use one of"),
        (["--mode", "boat"], 2, "--mode 'boat': use one of"),
        (["--scenario", "worst"], 2, "--scenario 'worst': use one of"),
        (["--level", "adm9"], 2, "--level ['adm9']"),
        (["--threshold-min", "90"], 2, "--threshold-min 90"),
        (["--lang", "de"], 2, "--lang 'de'"),
        (["--mode", "walk"], 1, "--mode 'walk' is not built"),
    ],
)
def test_bad_options_are_named(env, tmp_path, args, code, message):
    out = tmp_path / "x.gpkg"
    result = _run("--out", str(out), *args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []


def test_bad_out_is_a_usage_error_and_no_build_a_data_error(env, tmp_path, monkeypatch):
    for out, message in (
        (tmp_path / "missing" / "x.gpkg", "does not exist"),
        (tmp_path / "x.shp", "end the name in .gpkg"),
        (tmp_path, "end the name in .gpkg"),
    ):
        result = _run("--out", str(out))
        assert result.exit_code == 2, result.output
        assert "--out" in result.output and message in " ".join(result.output.split())
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = _run("--out", str(locked / "x.gpkg"))
        assert result.exit_code == 2 and "not writable" in result.output
    monkeypatch.setenv("ORIENTER_BUILD_DIR", str(tmp_path / "empty"))
    get_settings.cache_clear()
    result = _run("--out", str(tmp_path / "x.gpkg"))
    assert result.exit_code == 1 and "orienter build" in result.output


def test_a_failed_export_leaves_the_old_file_and_no_half_file(env, tmp_path, monkeypatch):
    out = tmp_path / "orienter_mali.gpkg"
    out.write_bytes(b"previous export")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("api.services.export.write_cog", broken)
    result = _run("--out", str(out))
    assert result.exit_code == 1 and "disk full" in result.output
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orienter_mali.gpkg"]


QGIS_SCRIPT = r"""
import json, sqlite3, sys
from pathlib import Path
from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsMapRendererSequentialJob,
                       QgsMapSettings, QgsRasterLayer, QgsRectangle, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
gpkg = Path(sys.argv[1])

def drawn(layer):
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    settings.setExtent(QgsRectangle(-12.5, 10, 4.5, 25.2))
    settings.setOutputSize(QSize(200, 180))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    return sum(image.pixelColor(x, y) != QColor("white")
               for x in range(image.width()) for y in range(image.height()))

out = {"version": __import__("qgis.core").core.Qgis.QGIS_VERSION, "layers": {}}
with sqlite3.connect(gpkg) as con:
    tables = con.execute("SELECT table_name, data_type FROM gpkg_contents "
                         "WHERE data_type != 'attributes'").fetchall()
for table, kind in tables:
    if kind == "features":
        layer = QgsVectorLayer(f"{gpkg}|layername={table}", table, "ogr")
    else:
        layer = QgsRasterLayer(f"GPKG:{gpkg}:{table}", table, "gdal")
    _, loaded = layer.loadDefaultStyle()
    out["layers"][table] = {"valid": layer.isValid(), "style_loaded": bool(loaded),
                            "renderer": layer.renderer().type(), "pixels": drawn(layer)}
for tif in sorted(gpkg.parent.glob(gpkg.stem + "_*.tif")):
    layer = QgsRasterLayer(str(tif), tif.stem, "gdal")  # reads the .qml beside it
    out["layers"][tif.name] = {"valid": layer.isValid(), "renderer": layer.renderer().type(),
                               "pixels": drawn(layer)}
print(json.dumps(out), flush=True)
__import__("os")._exit(0)  # QGIS can crash in its own teardown once the work is done
"""


def _qgis_python() -> str | None:
    """A Python interpreter that can import QGIS (ORIENTER_QGIS_PYTHON or the system's)."""
    import subprocess

    for candidate in (os.environ.get("ORIENTER_QGIS_PYTHON"), "/usr/bin/python3"):
        if candidate and Path(candidate).is_file():
            probe = subprocess.run(
                [candidate, "-c", "import qgis.core"], capture_output=True, timeout=60
            )
            if probe.returncode == 0:
                return candidate
    return None


def test_qgis_opens_every_layer_styled(exported):
    """Where QGIS is installed: every vector layer gets its style from the GeoPackage,
    every COG its .qml, and each draws something."""
    import subprocess

    python = _qgis_python()
    if python is None:
        pytest.skip("no Python with QGIS (set ORIENTER_QGIS_PYTHON)")
    done = subprocess.run(
        [python, "-c", QGIS_SCRIPT, str(exported)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    layers = report["layers"]
    expected = {
        "providers": "RuleRenderer",
        "coverage_adm1": "graduatedSymbol",
        "coverage_adm3": "graduatedSymbol",
        "isochrones": "categorizedSymbol",
        "conflict_zones": "categorizedSymbol",
        "service_deserts": "singleSymbol",
    }
    for table, renderer in expected.items():
        assert layers[table]["valid"] and layers[table]["style_loaded"], (table, report)
        assert layers[table]["renderer"] == renderer, (table, report)
    for table in RASTERS:
        tif = f"{exported.stem}_{table}.tif"
        assert layers[table]["valid"] and layers[tif]["renderer"] == "singlebandpseudocolor"
    assert all(entry["pixels"] > 50 for entry in layers.values()), report
