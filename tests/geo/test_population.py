"""Tests of geo.population: rasters (density/count), cell areas, points, P-code tables."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Geod

from geo.crs import GEOGRAPHIC_CRS, METRIC_CRS
from geo.errors import DataFileError, DataValidationError
from geo.population import (
    PopulationRaster,
    cell_areas_km2,
    population_points,
    read_population_raster,
    read_population_table,
)

WGS84_SURFACE_KM2 = 510_065_621.724  # surface of the WGS84 ellipsoid
TEN_MIN = 1.0 / 6.0  # 10 arc-minutes in degrees


def write_tif(
    path: Path,
    values: np.ndarray,
    *,
    transform: Affine,
    crs: CRS | int | None = 4326,
    nodata: float | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a one-band float32 GeoTIFF."""
    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": "float32",
        "transform": transform,
    }
    if crs is not None:
        profile["crs"] = CRS.from_user_input(crs).to_wkt()
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype("float32"), 1)
        if tags:
            dst.update_tags(**tags)
    return path


def geo_transform(west: float, north: float, size_deg: float) -> Affine:
    return Affine(size_deg, 0.0, west, 0.0, -size_deg, north)


# ----------------------------------------------------------------------------- cell areas


def test_global_grid_sums_to_the_ellipsoid_surface() -> None:
    areas = cell_areas_km2(geo_transform(-180, 90, 1.0), (180, 360), GEOGRAPHIC_CRS)
    assert areas.sum() == pytest.approx(WGS84_SURFACE_KM2, rel=1e-9)


def test_one_degree_cell_at_equator_is_about_12309_km2() -> None:
    areas = cell_areas_km2(geo_transform(0, 1, 1.0), (1, 1), 4326)
    assert areas[0, 0] == pytest.approx(12_308.5, abs=1.0)


def test_lon_lat_cells_shrink_with_latitude() -> None:
    # one column, rows at 0-1° N (last) … 59-60° N (first)
    areas = cell_areas_km2(geo_transform(0, 60, 1.0), (60, 1), 4326)[:, 0]
    assert np.all(np.diff(areas) > 0), "cells further south must be larger"
    ratio = areas[0] / areas[-1]
    assert ratio == pytest.approx(
        math.cos(math.radians(59.5)) / math.cos(math.radians(0.5)), rel=0.02
    )


@pytest.mark.parametrize("south", [0.0, 14.0, 59.0])
def test_lon_lat_cell_area_matches_a_densified_geodesic_polygon(south: float) -> None:
    # an independent check: pyproj's geodesic area of the cell, parallels densified
    lons = np.linspace(0.0, 1.0, 2001)
    ring_lon = np.concatenate([lons, lons[::-1]])
    ring_lat = np.concatenate([np.full(lons.size, south), np.full(lons.size, south + 1.0)])
    expected, _ = Geod(ellps="WGS84").polygon_area_perimeter(ring_lon, ring_lat)
    area = cell_areas_km2(geo_transform(0.0, south + 1.0, 1.0), (1, 1), 4326)[0, 0]
    assert area == pytest.approx(abs(expected) / 1e6, rel=1e-6)


def test_equal_area_crs_uses_the_planar_cell_area() -> None:
    areas = cell_areas_km2(Affine(1000, 0, 0, 0, -1000, 0), (2, 3), METRIC_CRS)
    np.testing.assert_allclose(areas, 1.0)


def test_non_equal_area_projection_uses_true_area() -> None:
    # UTM 30N near its central meridian (3° W): 1 km cells are 1/k0² ≈ 1.0008 km² on the ground
    utm = CRS.from_epsg(32630)
    areas = cell_areas_km2(Affine(1000, 0, 499_000, 0, -1000, 1_400_000), (2, 2), utm)
    np.testing.assert_allclose(areas, 1 / 0.9996**2, rtol=2e-4)


def test_rotated_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="rotated"):
        cell_areas_km2(Affine(1, 0.1, 0, 0, -1, 0), (2, 2), 4326)


# ----------------------------------------------------------------------------- rasters


def test_count_raster_by_name_is_used_as_is_and_nodata_is_nan(tmp_path: Path) -> None:
    values = np.array([[1.5, 2.0, -99999.0], [0.0, 10.0, 3.0], [4.0, 5.0, 6.0]])
    path = write_tif(
        tmp_path / "mli_ppp_2020_1km.tif",
        values,
        transform=geo_transform(-8.0, 13.0, 1 / 120),
        nodata=-99999.0,
    )
    raster = read_population_raster(path)
    assert isinstance(raster, PopulationRaster)
    assert raster.kind_detected == "count"
    assert raster.kind_rule == "file name"
    assert raster.counts.dtype == np.float64
    assert np.isnan(raster.counts[0, 2])
    assert raster.total == pytest.approx(31.5)
    assert raster.source == "mli_ppp_2020_1km.tif"
    assert raster.crs == GEOGRAPHIC_CRS


def test_density_raster_is_multiplied_by_true_cell_areas(tmp_path: Path) -> None:
    values = np.full((3, 3), 10.0)
    transform = geo_transform(-8.0, 25.0, TEN_MIN)
    path = write_tif(tmp_path / "worldpop_density_10min.tif", values, transform=transform)
    raster = read_population_raster(path)
    areas = cell_areas_km2(transform, (3, 3), 4326)
    assert raster.kind_detected == "density"
    np.testing.assert_allclose(raster.counts, 10.0 * areas)
    # about 10 x 9 x 312 km² at 25° N, far from the 90 people a count reading would give
    assert 27_000 < raster.total < 29_000
    assert raster.counts[0, 0] < raster.counts[2, 0], "northern cells are smaller"


def test_float32_nodata_like_the_shared_file_is_dropped(tmp_path: Path) -> None:
    values = np.array([[-3.4e38, 1.0], [2.0, 3.0]])
    path = write_tif(
        tmp_path / "density.tif",
        values,
        transform=geo_transform(0, 15, TEN_MIN),
        nodata=-3.3999999521443642e38,
    )
    raster = read_population_raster(path)
    assert np.isnan(raster.counts[0, 0])
    assert np.isfinite(raster.total)
    assert raster.total > 6 * 300  # 6 people/km² over cells of ~330 km²


def test_explicit_kind_overrides_the_file_name(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "mli_ppp_2020.tif", np.ones((2, 2)), transform=geo_transform(0, 15, TEN_MIN)
    )
    raster = read_population_raster(path, kind="density")
    assert raster.kind_detected == "density"
    assert raster.kind_rule == "argument"
    assert raster.total > 1000


def test_metadata_units_decide_when_the_name_is_silent(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "grid.tif",
        np.ones((2, 2)),
        transform=geo_transform(0, 15, 1 / 120),
        tags={"units": "people per km2"},
    )
    raster = read_population_raster(path)
    assert (raster.kind_detected, raster.kind_rule) == ("density", "metadata")


def test_values_rule_coarse_grid_of_densities(tmp_path: Path) -> None:
    # 10' cells (~330 km²) holding up to 7,000: as counts the peak would be ~21 people/km²
    values = np.array([[0.5, 12.0], [7000.0, 40.0]])
    path = write_tif(tmp_path / "grid.tif", values, transform=geo_transform(-8, 13, TEN_MIN))
    with pytest.warns(UserWarning, match="guessed 'density'"):
        raster = read_population_raster(path)
    assert (raster.kind_detected, raster.kind_rule) == ("density", "values")


def test_values_rule_fine_grid_of_counts(tmp_path: Path) -> None:
    # 100 m cells (~0.008 km²) holding up to 400 people: ~48,000 people/km² as counts
    values = np.array([[0.02, 1.3], [400.0, 12.0]])
    path = write_tif(tmp_path / "grid.tif", values, transform=geo_transform(-8, 13, 1 / 1200))
    with pytest.warns(UserWarning, match="guessed 'count'"):
        raster = read_population_raster(path)
    assert raster.kind_detected == "count"
    assert raster.total == pytest.approx(413.32, rel=1e-6)


def test_fine_density_grid_is_not_mistaken_for_counts(tmp_path: Path) -> None:
    # 100 m cells with 30,000 people/km²: as counts that would be 3.6 M people/km²
    values = np.array([[30_000.0, 100.0]])
    path = write_tif(tmp_path / "grid.tif", values, transform=geo_transform(-8, 13, 1 / 1200))
    with pytest.warns(UserWarning):
        raster = read_population_raster(path)
    assert raster.kind_detected == "density"


def test_equal_area_density_raster(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "pop_density_laea.tif",
        np.full((2, 2), 25.0),
        transform=Affine(1000, 0, 0, 0, -1000, 0),
        crs=METRIC_CRS,
    )
    raster = read_population_raster(path)
    np.testing.assert_allclose(raster.counts, 25.0)
    assert raster.total == pytest.approx(100.0)


def test_negative_values_warn_and_become_nodata(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "ppp.tif", np.array([[1.0, -5.0]]), transform=geo_transform(0, 1, 0.01)
    )
    with pytest.warns(UserWarning, match="1 cell"):
        raster = read_population_raster(path)
    assert np.isnan(raster.counts[0, 1])
    assert raster.total == 1.0


def test_missing_file_and_missing_crs_raise(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        read_population_raster(tmp_path / "nope.tif")
    path = write_tif(
        tmp_path / "ppp.tif", np.ones((2, 2)), transform=geo_transform(0, 1, 0.1), crs=None
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio warns about the missing georeference
        with pytest.raises(DataFileError, match="no CRS"):
            read_population_raster(path)


def test_unknown_kind_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        read_population_raster(tmp_path / "x.tif", kind="people")  # type: ignore[arg-type]


def test_population_points_are_cell_centres_with_people(tmp_path: Path) -> None:
    values = np.array([[1.0, 0.0, -1.0], [2.0, 3.0, 4.0], [5.0, 6.0, 7.0]])
    path = write_tif(
        tmp_path / "ppp.tif", values, transform=geo_transform(-8.0, 13.0, 0.5), nodata=-1.0
    )
    points = population_points(read_population_raster(path))
    assert points.crs == GEOGRAPHIC_CRS
    assert len(points) == 7  # the zero cell and the nodata cell are left out
    assert (points["population"] > 0).all()
    first = points.iloc[0]
    assert (first["row"], first["col"]) == (0, 0)
    assert (first.geometry.x, first.geometry.y) == pytest.approx((-7.75, 12.75))
    assert points["population"].sum() == pytest.approx(28.0)


def test_population_points_of_a_projected_grid_are_lon_lat(tmp_path: Path) -> None:
    path = write_tif(
        tmp_path / "ppp.tif",
        np.array([[3.0]]),
        transform=Affine(1000, 0, -500, 0, -1000, 500),
        crs=METRIC_CRS,
    )
    points = population_points(read_population_raster(path))
    assert points.crs == GEOGRAPHIC_CRS
    assert (points.geometry.x[0], points.geometry.y[0]) == pytest.approx((-4.0, 17.5), abs=1e-6)


def test_population_points_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="PopulationRaster"):
        population_points(np.ones((2, 2)))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- tables


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def test_census_style_table_takes_the_latest_population_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "census.csv",
        """
admin1Pcod,admin1Name,pop_census_1998,pop_census_2009_provisional
ML01,Kayes,100,150
ML09,Bamako,200,250
""",
    )
    with pytest.warns(UserWarning, match="pop_census_2009_provisional"):
        table = read_population_table(path)
    assert list(table.columns) == ["pcode", "level", "name", "population"]
    assert table["pcode"].tolist() == ["ML01", "ML09"]
    assert table["level"].tolist() == [1, 1]
    assert table["name"].tolist() == ["Kayes", "Bamako"]
    assert table["population"].tolist() == [150.0, 250.0]


def test_explicit_value_column_without_warning(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "census.csv",
        "admin1Pcod,admin1Name,pop_census_1998,pop_census_2009_provisional\nML01,Kayes,100,150",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = read_population_table(path, value_column="pop_census_1998")
    assert table["population"].tolist() == [100.0]


def test_cod_ps_style_adm2_table(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "cod_ps.csv",
        """
ADM0_PCODE,ADM1_PCODE,ADM1_FR,ADM2_PCODE,ADM2_FR,F_TL,M_TL,T_TL
ML,ML01,Kayes,ML0101,Kayes,"10,000","9,500","19,500"
ML,ML01,Kayes,ML0102,Bafoulabé,5 000,5 100,10 100
""",
    )
    table = read_population_table(path)
    assert table["pcode"].tolist() == ["ML0101", "ML0102"]
    assert table["level"].tolist() == [2, 2]
    assert table["name"].tolist() == ["Kayes", "Bafoulabé"]
    assert table["population"].tolist() == [19_500.0, 10_100.0]


def test_adm3_codes_are_level_3(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "communes.csv",
        "adm3_pcode,adm3_name,population\nML010101,Kayes,127368\nml010102 ,Bangassi,20000",
    )
    table = read_population_table(path)
    assert table["pcode"].tolist() == ["ML010101", "ML010102"]
    assert table["level"].tolist() == [3, 3]


def test_explicit_columns_with_any_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "code,inhabitants\nML05,1\nML0501,2")
    table = read_population_table(path, pcode_column="code", value_column="inhabitants")
    assert table["level"].tolist() == [1, 2]
    assert table["name"].isna().all()


def test_missing_named_column_is_a_file_error_naming_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "admin1Pcod,pop2020\nML01,5")
    with pytest.raises(DataFileError, match="T_TL"):
        read_population_table(path, value_column="T_TL")


def test_table_without_pcode_column_is_a_file_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "region,pop2020\nKayes,5")
    with pytest.raises(DataFileError, match="no P-code column"):
        read_population_table(path)


def test_table_without_population_column_is_a_file_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "admin1Pcod,area_km2\nML01,5")
    with pytest.raises(DataFileError, match="no population column"):
        read_population_table(path)


def test_two_undated_population_columns_are_ambiguous(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "admin1Pcod,pop_men,pop_women\nML01,5,6")
    with pytest.raises(DataFileError, match="value_column"):
        read_population_table(path)


def test_bad_rows_are_all_listed(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        """
admin2Pcod,admin2Name,pop2020
ML0101,Kayes,100
ML1,Bad code,100
,No code,100
ML0102,Negative,-5
ML0103,Text,many
ML0101,Again,7
ML01,Region,10
""",
    )
    with pytest.raises(DataValidationError) as info:
        read_population_table(path)
    problems = info.value.problems
    reasons = "\n".join(str(p) for p in problems)
    assert {p.row for p in problems} == {2, 3, 4, 5, 6, 7, 8}
    assert "malformed P-code 'ML1'" in reasons
    assert "empty P-code" in reasons
    assert "negative population -5" in reasons
    assert "'many' is not a number" in reasons
    assert "duplicate P-code ML0101" in reasons
    assert "level 1, column is level 2" in reasons


def test_missing_table_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        read_population_table(tmp_path / "nope.csv")


# ----------------------------------------------------------------------------- real data


@pytest.mark.integration
def test_shared_worldpop_density_grid(data_dir: Path) -> None:
    path = data_dir / "population" / "worldpop2020_density_10arcmin_mli.tif"
    raster = read_population_raster(path)
    assert raster.kind_detected == "density"
    assert raster.shape == (92, 101)
    with rasterio.open(path) as src:
        raw_sum = float(src.read(1, masked=True).sum())
    # density -> count multiplies every cell by ~300-345 km²
    assert 290 < raster.total / raw_sum < 350
    # the bounding box (+0.2°) also holds Burkina Faso and parts of six neighbours
    assert 50e6 < raster.total < 65e6
    # clipped to Mali by area-weighted intersection: SOURCE.md's 19.40 M
    mali = gpd.read_file(data_dir / "boundaries" / "mli_adm0_ocha_cod_2015.geojson")
    rows, cols = np.indices(raster.shape)
    t = raster.transform
    west, north = t.c + t.a * cols, t.f + t.e * rows
    cells = gpd.GeoSeries(
        shapely.box(west.ravel(), (north + t.e).ravel(), (west + t.a).ravel(), north.ravel()),
        crs=4326,
    ).to_crs(METRIC_CRS)
    share = cells.intersection(mali.to_crs(METRIC_CRS).union_all()).area / cells.area
    in_mali = float(np.nansum(raster.counts.ravel() * share.to_numpy()))
    assert in_mali == pytest.approx(19.40e6, rel=0.005)


@pytest.mark.integration
def test_shared_grid_as_points(data_dir: Path) -> None:
    raster = read_population_raster(
        data_dir / "population" / "worldpop2020_density_10arcmin_mli.tif"
    )
    points = population_points(raster)
    assert points["population"].sum() == pytest.approx(raster.total)
    bamako_xy = gpd.GeoSeries([shapely.Point(-8.0, 12.65)], crs=4326).to_crs(METRIC_CRS)[0]
    bamako = points.to_crs(METRIC_CRS).geometry.distance(bamako_xy).idxmin()
    assert points.loc[bamako, "population"] == points["population"].max()


@pytest.mark.integration
def test_shared_census_table(data_dir: Path) -> None:
    with pytest.warns(UserWarning, match="pop_census_2009_provisional"):
        table = read_population_table(data_dir / "population" / "mli_adm1_pop_census_1998_2009.csv")
    assert len(table) == 9
    assert table["population"].sum() == 14_517_176
    assert set(table["level"]) == {1}
    assert table.set_index("pcode").loc["ML09", "name"] == "Bamako"


@pytest.mark.integration
def test_shared_adm2_estimate_table(data_dir: Path) -> None:
    table = read_population_table(
        data_dir / "population" / "mli_adm2_pop2020_worldpop10arcmin_estimate.csv"
    )
    assert len(table) == 50
    assert set(table["level"]) == {2}
    assert table["population"].sum() == pytest.approx(19.40e6, rel=0.005)
