"""GeoPackage and COG writers: layers, the QGIS styles table, raster tables, COGs."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Point, box

from geo.geopackage import (
    GPKG_VERSION,
    LayerStyle,
    write_cog,
    write_gpkg_raster,
    write_layer_styles,
    write_vector_layer,
)

CRS = "+proj=laea +lat_0=17 +lon_0=-4 +datum=WGS84 +units=m +no_defs"
TRANSFORM = Affine(1000.0, 0.0, -300_000.0, 0.0, -1000.0, 200_000.0)


def _band(rows: int = 300, cols: int = 600) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    band = np.hypot(x - cols / 2, y - rows / 2).astype(np.float32)  # minutes from the centre
    band[:20, :20] = np.nan  # unreachable corner
    return band


def test_vector_attribute_and_style_tables(tmp_path):
    path = tmp_path / "x.gpkg"
    points = gpd.GeoDataFrame(
        {"name": ["a", "b"], "ok": [True, False]}, geometry=[Point(0, 0), Point(1, 1)], crs=4326
    )
    write_vector_layer(path, points, "points", title="Points", description="two points")
    write_vector_layer(
        path, pd.DataFrame({"layer": ["points"], "text": ["é"]}), "meta", title="M", description="d"
    )
    write_layer_styles(
        path,
        [
            LayerStyle("points", "<qgis/>", "points", "default"),
            LayerStyle("grid", "<qgis r/>", "grid", geometry_column=""),
        ],
    )
    assert [name for name, _ in pyogrio.list_layers(path)] == ["points", "meta", "layer_styles"]
    back = gpd.read_file(path, layer="points")
    assert back.crs.to_epsg() == 4326 and back["ok"].tolist() == [True, False]
    with sqlite3.connect(path) as con:
        contents = dict(
            con.execute("SELECT table_name, data_type || '|' || identifier FROM gpkg_contents")
        )
        version = con.execute("PRAGMA user_version").fetchone()[0]
        styles = con.execute(
            "SELECT id, f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
            "styleName, styleQML, styleSLD, useAsDefault, owner, ui, update_time "
            "FROM layer_styles ORDER BY id"
        ).fetchall()
    assert contents["points"] == "features|Points"
    assert contents["meta"] == "attributes|M"
    assert contents["layer_styles"].startswith("attributes|")
    assert version == 10200 and GPKG_VERSION == "1.2"
    # the query QGIS runs: f_table_schema='' AND f_table_name=... AND f_geometry_column=...
    assert styles[0][:10] == (1, "", "", "points", "geom", "points", "<qgis/>", "", 1, "")
    assert styles[1][3:5] == ("grid", "")
    assert styles[0][11]  # update_time set


def test_two_default_styles_for_one_table_are_refused(tmp_path):
    with pytest.raises(ValueError, match="more than one default"):
        write_layer_styles(
            tmp_path / "x.gpkg", [LayerStyle("a", "<q/>", "1"), LayerStyle("a", "<q/>", "2")]
        )
    with pytest.raises(ValueError, match="layer='bad name'"):
        write_vector_layer(
            tmp_path / "x.gpkg", pd.DataFrame({"a": [1]}), "bad name", title="", description=""
        )


def test_gpkg_rasters_keep_values_and_get_overviews(tmp_path):
    path = tmp_path / "r.gpkg"
    band = _band()
    write_vector_layer(
        path,
        gpd.GeoDataFrame({"a": [1]}, geometry=[box(0, 0, 1, 1)], crs=4326),
        "v",
        title="v",
        description="",
    )
    factors = write_gpkg_raster(
        path,
        band,
        table="minutes",
        transform=TRANSFORM,
        crs=CRS,
        nodata=np.nan,
        title="Minutes",
        description="travel time",
    )
    write_gpkg_raster(
        path,
        band * 2,
        table="double",
        transform=TRANSFORM,
        crs=CRS,
        nodata=np.nan,
        title="Double",
        description="",
    )
    assert factors == [2, 4]
    for table, scale in (("minutes", 1), ("double", 2)):
        with rasterio.open(f"GPKG:{path}:{table}") as src:
            got = src.read(1)
            assert src.transform == TRANSFORM and src.crs.to_proj4().startswith("+proj=laea")
            assert src.overviews(1) == [2, 4]
            assert src.block_shapes[0] == (256, 256)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(band))
        np.testing.assert_allclose(got[~np.isnan(got)], scale * band[~np.isnan(band)])
    assert "v" in {name for name, _ in pyogrio.list_layers(path)}


def test_cog_validates_with_overviews_tags_and_nan(tmp_path):
    path = tmp_path / "c.tif"
    band = _band(700, 900)
    write_cog(
        path,
        band,
        transform=TRANSFORM,
        crs=CRS,
        nodata=np.nan,
        tags={"units": "minutes"},
        band_description="minutes",
    )
    valid, errors, _warnings = cog_validate(str(path))
    assert valid and not errors, errors
    with rasterio.open(path) as src:
        assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
        assert src.overviews(1) == [2, 4]
        assert src.compression.name.lower() == "deflate"
        assert src.tags()["units"] == "minutes" and src.descriptions == ("minutes",)
        assert np.isnan(src.nodata)
        np.testing.assert_array_equal(src.read(1), band)


def test_bad_bands_are_refused(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        write_cog(tmp_path / "x.tif", np.zeros(3), transform=TRANSFORM, crs=CRS, nodata=None)
    with pytest.raises(TypeError, match="affine"):
        write_gpkg_raster(
            tmp_path / "x.gpkg",
            np.zeros((2, 2)),
            table="t",
            transform=(1, 0, 0, 0, -1, 0),
            crs=CRS,
            nodata=None,
            title="",
            description="",
        )
