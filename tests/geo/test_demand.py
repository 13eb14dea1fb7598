from __future__ import annotations

import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import Point, Polygon, box

from geo.calibration import calibrate_demand, calibrate_population
from geo.coverage import coverage_table, point_coverage_table
from geo.crs import METRIC_CRS
from geo.demand import (
    DEMAND_COLUMNS,
    DEMAND_MODELS,
    build_demand,
    demand_from_polygons,
    points_on_grid,
    population_on_grid,
    settlement_demand,
)
from geo.errors import DataValidationError
from geo.grid import Grid
from geo.population import PopulationRaster, read_population_raster, read_population_table
from geo.units import assign_points


def _grid(n=20):
    return Grid(
        crs=METRIC_CRS,
        x0=0.0,
        y0=n * 1000.0,
        cell_m=1000.0,
        nrows=n,
        ncols=n,
        active=np.ones((n, n), bool),
    )


def test_coarse_source_spreads_density_over_fine_cells():
    # a 2 x 2 source of 10 km cells in the grid's own CRS: 100 km² each
    counts = np.array([[1000.0, 0.0], [500.0, np.nan]])
    raster = PopulationRaster(
        counts=counts,
        transform=Affine(10_000, 0, 0, 0, -10_000, 20_000),
        crs=CRS.from_user_input(METRIC_CRS),
        kind_detected="count",
        source="test",
        kind_rule="argument",
    )
    people = _grid().to_raster(population_on_grid(raster, _grid()))
    assert people.sum() == pytest.approx(1500.0)
    assert people[:10, :10] == pytest.approx(np.full((10, 10), 10.0))  # 1000 / 100 cells
    inside = population_on_grid(raster, _grid(), area=box(0, 10_000, 5_000, 20_000))
    assert inside.sum() == pytest.approx(500.0)  # only the 50 cells of that half


def test_fine_source_is_summed_into_grid_cells():
    counts = np.ones((40, 40))  # 500 m cells over the 20 km grid
    raster = PopulationRaster(
        counts=counts,
        transform=Affine(500, 0, 0, 0, -500, 20_000),
        crs=CRS.from_user_input(METRIC_CRS),
        kind_detected="count",
        source="test",
        kind_rule="argument",
    )
    people = population_on_grid(raster, _grid())
    assert people.sum() == pytest.approx(1600.0)
    assert np.allclose(people, 4.0)


# ----------------------------------------------------------------------------- settlements

# a 2 x 2 raster of 10 km cells in the metric CRS, covering x 0-20 km, y 0-20 km
#   (0,0) 1000 people, two settlements (a village and a commune seat)
#   (0,1)  300 people, no settlement -> one point at the cell centre
#   (1,0)  500 people, one settlement
#   (1,1)  no data, one settlement -> left out
COUNTS = np.array([[1000.0, 300.0], [500.0, np.nan]])


def _raster(counts=COUNTS):
    return PopulationRaster(
        counts=counts,
        transform=Affine(10_000, 0, 0, 0, -10_000, 20_000),
        crs=CRS.from_user_input(METRIC_CRS),
        kind_detected="count",
        source="test_ppp.tif",
        kind_rule="argument",
    )


def _places():
    xy = [(2_000, 18_000), (7_000, 13_000), (5_000, 5_000), (15_000, 5_000)]
    metric = gpd.GeoSeries([Point(x, y) for x, y in xy], crs=METRIC_CRS)
    return gpd.GeoDataFrame(
        {
            "pcode": ["ML0001", "ML0002", "ML0003", "ML0004"],
            "name": ["Village", "Chef-lieu", "Hameau", "Nodata"],
            "place_class": [5, 4, 5, 5],
        },
        geometry=metric.to_crs("EPSG:4326").values,
        crs="EPSG:4326",
    )


def _metric_xy(points):
    m = points.to_crs(METRIC_CRS).geometry
    return list(zip(np.round(m.x, 3), np.round(m.y, 3), strict=True))


def test_settlements_share_their_cell_and_the_total_is_the_rasters():
    raster = _raster()
    points = settlement_demand(raster, _places())
    assert points.crs.to_epsg() == 4326
    assert list(points.columns) == [*DEMAND_COLUMNS, "geometry"]
    assert math.isclose(points["population"].sum(), raster.total, rel_tol=1e-12)
    by_name = points.set_index(points["settlement_name"].fillna("centre"))
    assert by_name.loc["Village", "population"] == pytest.approx(500.0)  # equal weights
    assert by_name.loc["Chef-lieu", "population"] == pytest.approx(500.0)
    assert by_name.loc["Hameau", "population"] == pytest.approx(500.0)
    assert "Nodata" not in by_name.index  # a settlement in a no-data cell gets nobody
    centre = points[points["settlement_pcode"].isna()]
    assert len(centre) == 1 and centre.iloc[0]["population"] == pytest.approx(300.0)
    assert centre.iloc[0]["settlement_name"] is None
    assert (centre.iloc[0]["source_row"], centre.iloc[0]["source_col"]) == (0, 1)
    assert _metric_xy(centre)[0] == pytest.approx((15_000.0, 15_000.0), abs=0.01)
    assert points.attrs["population_source"] == "test_ppp.tif"
    assert points.attrs["demand"] == "settlements"
    assert points.attrs["settlements_left_out"] == 1


def test_weights_by_class_or_by_column():
    raster = _raster()
    by_class = settlement_demand(raster, _places(), weight={4: 3.0, 5: 1.0})
    pop = by_class.set_index("settlement_pcode")["population"]
    assert pop["ML0001"] == pytest.approx(250.0)
    assert pop["ML0002"] == pytest.approx(750.0)
    assert math.isclose(by_class["population"].sum(), raster.total, rel_tol=1e-12)
    places = _places().assign(pop_est=[100.0, 900.0, 5.0, 1.0])
    by_col = settlement_demand(raster, places, weight="pop_est")
    assert by_col.set_index("settlement_pcode")["population"]["ML0002"] == pytest.approx(900.0)
    with pytest.raises(ValueError, match="place class"):
        settlement_demand(raster, _places(), weight={5: 1.0})
    with pytest.raises(ValueError, match="weight 'size'"):
        settlement_demand(raster, _places(), weight="size")
    with pytest.raises(ValueError, match="positive weight"):
        settlement_demand(raster, places.assign(pop_est=[0.0, 1.0, 1.0, 1.0]), weight="pop_est")


def test_area_keeps_only_the_people_inside_it():
    raster = _raster()
    # the western 14 km: all of the west column, 40 % of cell (0, 1), whose centre is out
    country = gpd.GeoSeries([box(0, 0, 14_000, 20_000)], crs=METRIC_CRS).to_crs(4326)
    points = settlement_demand(raster, _places(), area=country)
    assert points["population"].sum() == pytest.approx(1000 + 500 + 0.4 * 300, rel=1e-6)
    edge = points[(points["source_row"] == 0) & (points["source_col"] == 1)]
    assert len(edge) == 1 and edge.iloc[0]["population"] == pytest.approx(120.0, rel=1e-6)
    x, _y = _metric_xy(edge)[0]
    assert 10_000 < x < 14_000  # moved inside the area, not left at the centre (15 km)
    # a settlement outside the area gets nobody, even in a populated cell
    west = gpd.GeoSeries([box(0, 0, 4_000, 20_000)], crs=METRIC_CRS)
    inside = settlement_demand(raster, _places(), area=west)
    assert "Chef-lieu" not in set(inside["settlement_name"].dropna())
    assert inside.set_index("settlement_name")["population"]["Village"] == pytest.approx(400.0)


def test_settlement_demand_validates_its_inputs():
    with pytest.raises(TypeError, match="raster"):
        settlement_demand(np.ones((2, 2)), _places())
    with pytest.raises(ValueError, match="no CRS"):
        settlement_demand(_raster(), _places().set_crs(None, allow_override=True))
    with pytest.raises(TypeError, match="area"):
        settlement_demand(_raster(), _places(), area=box(0, 0, 1, 1))


def test_points_give_coverage_by_their_own_cell_and_unit():
    grid = _grid()  # 20 x 20 cells of 1 km over the raster
    points = settlement_demand(_raster(), _places())
    units = gpd.GeoDataFrame(
        {"pcode": ["ML01", "ML02"], "name": ["Ouest", "Est"]},
        geometry=[box(0, 0, 10_000, 20_000), box(10_000, 0, 20_000, 20_000)],
        crs=METRIC_CRS,
    ).to_crs(4326)
    where = assign_points(points, grid, units)
    assert (where.rule == "within").all()
    minutes = grid.cell_centres()[0] / 100.0  # 1 min per 100 m east of x = 0
    table = point_coverage_table(minutes, where, units, thresholds_min=(30, 60, 120, 300))
    # west: Village (x 2 km, 25 min) 500, Chef-lieu (7 km, 75 min) 500, Hameau (5 km) 500
    west, east = table.iloc[0], table.iloc[1]
    assert west["population"] == pytest.approx(1500.0)
    assert west["pop_within_30"] == pytest.approx(500.0)
    assert west["pop_within_60"] == pytest.approx(1000.0)
    assert west["pop_within_120"] == pytest.approx(1500.0)
    assert east["population"] == pytest.approx(300.0)  # the cell-centre point, 155 min
    assert east["pop_within_120"] == 0 and east["pop_within_300"] == pytest.approx(300.0)
    # the grid model spreads the same people evenly over the 1 km cells instead
    people = population_on_grid(_raster(), grid)
    label = (grid.cell_centres()[0] >= 10_000).astype(np.int64)
    grid_table = coverage_table(minutes, people, label, units)
    assert grid_table["population"].sum() == pytest.approx(table["population"].sum())
    # west columns x < 3 km (centres 0.5, 1.5, 2.5 km): 30 cells of 10 and 30 of 5 people
    assert grid_table.iloc[0]["pop_within_30"] == pytest.approx(450.0)
    # the people summed back onto the grid keep their total
    assert points_on_grid(points, grid).sum() == pytest.approx(1800.0)


def test_points_outside_units_or_grid():
    grid = _grid()
    units = gpd.GeoDataFrame(
        {"pcode": ["ML01"], "name": ["Ouest"]}, geometry=[box(0, 0, 5_000, 20_000)], crs=METRIC_CRS
    )
    pts = gpd.GeoDataFrame(
        {"population": [10.0, 20.0, 30.0]},
        geometry=[Point(1_000, 1_000), Point(8_000, 1_000), Point(50_000, 1_000)],
        crs=METRIC_CRS,
    )
    where = assign_points(pts, grid, units)
    assert where.unit.tolist() == [0, 0, 0]
    assert where.rule.tolist() == ["within", "nearest", "nearest"]
    assert where.cell[2] == -1
    table = point_coverage_table(np.zeros(grid.n_cells), where, units)
    assert table.iloc[0]["population"] == 60
    assert table.iloc[0]["pop_within_30"] == 30  # the point off the grid cannot reach anyone


# ----------------------------------------------------------------------------- calibration

UNITS3 = pd.DataFrame(
    {"pcode": ["ML01", "ML02", "ML03"], "name": ["Kayes", "Koulikoro", "Sikasso"]}
)


def test_calibration_scales_each_unit_to_the_table_and_warns_for_missing_units():
    pop = np.array([10.0, 30.0, 60.0, 5.0, 7.0])
    label = np.array([0, 0, 1, 2, -1])
    table = pd.DataFrame({"pcode": ["ML01", "ML02"], "population": [80.0, 120.0]})
    with pytest.warns(UserWarning, match=r"ML03 \(Sikasso\)"):
        result = calibrate_population(pop, label, UNITS3, table)
    assert result.population.tolist() == pytest.approx([20.0, 60.0, 120.0, 5.0, 7.0])
    report = result.report.set_index("pcode")
    assert report.loc["ML01", "factor"] == pytest.approx(2.0)
    assert report.loc["ML03", "status"] == "not in table"
    assert np.isnan(report.loc["ML03", "population_table"])
    totals = np.bincount(label[label >= 0], weights=result.population[label >= 0])
    assert totals[:2].tolist() == pytest.approx([80.0, 120.0])


def test_calibration_rejects_a_row_matching_no_unit_naming_it():
    table = pd.DataFrame(
        {"pcode": ["ML01", "ML02", "ML09"], "name": ["a", "b", "Nowhere"], "population": [1, 2, 3]}
    )
    with pytest.raises(DataValidationError, match=r"row 4.*'Nowhere'.*ML09"):
        calibrate_population(np.ones(3), np.array([0, 1, 2]), UNITS3, table)


def test_calibration_spreads_people_over_a_unit_the_model_left_empty():
    table = pd.DataFrame({"pcode": ["ML01", "ML02", "ML03"], "population": [10.0, 40.0, 0.0]})
    result = calibrate_population(
        np.array([5.0, 0.0, 0.0, 2.0]), np.array([0, 1, 1, 2]), UNITS3, table
    )
    assert result.population.tolist() == pytest.approx([10.0, 20.0, 20.0, 0.0])
    assert result.report.set_index("pcode").loc["ML02", "status"] == "spread evenly"
    with pytest.raises(ValueError, match=r"ML02 \(Koulikoro\)"):
        calibrate_population(np.array([5.0, 2.0]), np.array([0, 2]), UNITS3, table)


def test_calibrate_demand_points_from_a_census_csv(tmp_path: Path):
    csv = tmp_path / "census.csv"
    csv.write_text(
        "admin1Pcod,admin1Name,pop_census_2009\nML01,Ouest,3000\nML02,Est,600\nML03,Vide,50\n",
        encoding="utf-8",
    )
    table = read_population_table(csv)
    units = gpd.GeoDataFrame(
        UNITS3.assign(name=["Ouest", "Est", "Vide"]),
        geometry=[
            box(0, 0, 10_000, 20_000),
            box(10_000, 0, 20_000, 20_000),
            box(20_000, 0, 21_000, 1_000),
        ],
        crs=METRIC_CRS,
    ).to_crs(4326)
    points = settlement_demand(_raster(), _places())
    scaled, report = calibrate_demand(points, units, table)
    where = assign_points(scaled, _grid(40), units)
    totals = np.bincount(where.unit, weights=where.population, minlength=3)
    assert totals.tolist() == pytest.approx([3000.0, 600.0, 50.0])
    # shares inside a unit are kept: the three western points stay equal
    assert scaled.iloc[:3]["population"].tolist() == pytest.approx([1000.0, 1000.0, 1000.0])
    added = scaled.iloc[-1]
    assert added["settlement_name"] is None and added["population"] == pytest.approx(50.0)
    assert scaled.attrs["population_source"] == "test_ppp.tif"
    assert scaled.attrs["calibrated_to"] == {"units": 3, "total": 3650.0}
    assert report["status"].tolist() == ["scaled", "scaled", "added point"]


def test_build_demand_states_its_source_and_keeps_totals():
    grid = _grid()
    country = gpd.GeoSeries([box(0, 0, 20_000, 20_000)], crs=METRIC_CRS)
    units = gpd.GeoDataFrame(
        {"pcode": ["ML01", "ML02"], "name": ["Ouest", "Est"]},
        geometry=[box(0, 0, 10_000, 20_000), box(10_000, 0, 20_000, 20_000)],
        crs=METRIC_CRS,
    )
    table = pd.DataFrame({"pcode": ["ML01", "ML02"], "population": [900.0, 100.0]})
    for model in DEMAND_MODELS:
        plain = build_demand(_raster(), grid, country, model=model, settlements=_places())
        assert plain.per_cell.sum() == pytest.approx(1800.0)
        assert plain.describe() == {
            "population_source": "test_ppp.tif",
            "demand": model,
            "population_table": None,
            "calibrated": False,
            "population_total": 1800,
        }
        assert (plain.points is None) == (model == "grid")
        cal = build_demand(
            _raster(),
            grid,
            country,
            model=model,
            settlements=_places(),
            table=table,
            table_units=units,
            table_source="census.csv",
        )
        west = grid.cell_centres()[0] < 10_000
        assert cal.per_cell[west].sum() == pytest.approx(900.0)
        assert cal.per_cell[~west].sum() == pytest.approx(100.0)
        assert cal.describe()["population_table"] == "census.csv"
        assert cal.describe()["calibrated"] is True
    with pytest.raises(ValueError, match="model 'dots'"):
        build_demand(_raster(), grid, country, model="dots")
    with pytest.raises(ValueError, match="needs settlements"):
        build_demand(_raster(), grid, country, model="settlements")


# ----------------------------------------------------------------------------- finer sources


def _write_lonlat_tif(path: Path, values: np.ndarray, res_deg: float) -> Path:
    transform = Affine(res_deg, 0, -8.05, 0, -res_deg, 12.70)  # around Bamako
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
        nodata=-99999.0,
    ) as dst:
        dst.write(values.astype("float32"), 1)
    return path


def _grid_over(x0, y0, n):
    return Grid(
        crs=METRIC_CRS,
        x0=x0,
        y0=y0,
        cell_m=1000.0,
        nrows=n,
        ncols=n,
        active=np.ones((n, n), bool),
    )


@pytest.mark.parametrize(
    ("name", "res_deg"),
    [("mli_ppp_2020_constrained.tif", 3 / 3600), ("mli_ppp_2020_1km_Aggregated.tif", 30 / 3600)],
)
def test_a_finer_worldpop_count_raster_is_summed_without_loss(tmp_path, name, res_deg):
    rng = np.random.default_rng(5)
    values = rng.gamma(0.5, 20.0, size=(60, 60))
    values[0, :5] = -99999.0  # nodata
    path = _write_lonlat_tif(tmp_path / name, values, res_deg)
    raster = read_population_raster(path)
    assert raster.kind_detected == "count" and raster.kind_rule == "file name"
    expected = float(values[values >= 0].astype("float32").sum(dtype="float64"))
    assert raster.total == pytest.approx(expected, rel=1e-6)
    # a 1 km grid in the metric CRS that holds the whole raster (all four corners)
    lon0, lat0, span = -8.05, 12.70, 60 * res_deg
    to_m = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    x, y = to_m.transform(
        [lon0, lon0 + span, lon0, lon0 + span], [lat0, lat0, lat0 - span, lat0 - span]
    )
    x0, y0 = np.floor(min(x) / 1000) * 1000 - 2000, np.ceil(max(y) / 1000) * 1000 + 2000
    n = int(max(max(x) - x0, y0 - min(y)) // 1000) + 3
    grid = _grid_over(x0, y0, n)
    people = population_on_grid(raster, grid)
    assert people.sum() == pytest.approx(raster.total, rel=1e-9)
    if res_deg < 1 / 120:  # 100 m: about 100 source cells per grid cell
        assert (people > 0).sum() > 20
    points = settlement_demand(raster, gpd.GeoDataFrame(geometry=[], crs=4326))
    assert points["population"].sum() == pytest.approx(raster.total, rel=1e-12)
    assert points_on_grid(points, grid).sum() == pytest.approx(raster.total, rel=1e-9)


def test_kontur_like_hexagons_become_demand_points(tmp_path):
    hexes = []
    for i in range(3):
        cx, cy = -890_000 + i * 800.0, 1_420_000.0  # EPSG:3857, near Bamako
        hexes.append(
            Polygon(
                [
                    (cx + 400 * math.cos(a), cy + 400 * math.sin(a))
                    for a in np.arange(6) * math.pi / 3
                ]
            )
        )
    layer = gpd.GeoDataFrame({"population": [120.0, 0.0, 30.0]}, geometry=hexes, crs="EPSG:3857")
    path = tmp_path / "kontur_population_ML_20231101.gpkg"
    layer.to_file(path, layer="population")
    points = demand_from_polygons(gpd.read_file(path), source=path.name)
    assert points.crs.to_epsg() == 4326
    assert points["population"].tolist() == [120.0, 30.0]
    assert points.attrs["population_source"] == path.name
    with pytest.raises(ValueError, match="population_column 'pop'"):
        demand_from_polygons(layer, population_column="pop")


# ----------------------------------------------------------------------------- real data


@pytest.mark.integration
def test_settlement_demand_on_the_mali_data_keeps_the_grid_models_total(data_dir):
    from geo.boundaries import read_boundaries
    from geo.grid import make_grid
    from geo.settlements import read_settlements

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raster = read_population_raster(
            data_dir / "population" / "worldpop2020_density_10arcmin_mli.tif"
        )
    places = read_settlements(
        data_dir / "settlements" / "mli_populated_places_ocha_cod_2015.geojson"
    )
    adm0 = read_boundaries(next((data_dir / "boundaries").glob("*adm0*")), level=0)
    points = settlement_demand(raster, places, area=adm0)
    country = adm0.to_crs(METRIC_CRS).union_all()
    grid = make_grid(country, crs=METRIC_CRS, cell_m=1000.0)
    grid_total = population_on_grid(raster, grid, area=country).sum()
    assert points["population"].sum() == pytest.approx(grid_total, rel=0.01)
    assert 18e6 < points["population"].sum() < 21e6
    on_settlement = points["settlement_pcode"].notna()
    assert on_settlement.sum() > 18_000  # nearly every settlement gets people
    # most people live at a settlement, not at an empty cell's centre
    assert points.loc[on_settlement, "population"].sum() > 0.9 * points["population"].sum()
    inside = adm0.to_crs(4326).union_all()
    assert inside.buffer(1e-6).contains(points.geometry).all()
