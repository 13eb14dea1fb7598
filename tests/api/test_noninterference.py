"""Nothing public depends on a confidential record (the non-interference property).

Two builds from one directory, with and without its confidential records (a 10 km grid,
car and walk, the three scenarios: seconds each), and two apps.  Every GET route of the
app, found by walking the app's own routes (a route added later is covered without
anyone listing it), is asked a grid of parameters: services a confidential record
offers (shelter, psychosocial, medical, legal...), modes, scenarios, levels, points
beside each confidential site and far from them, what-ifs that add a centre next to a
shelter or remove a public provider.  Without a token the two apps must give the same
answer, byte for byte once timestamps and timings are taken out; with a token the
answers may differ and say so.  The CLI's public commands, and every function of the
Python API (`api.services`) without `caseworker=True`, are held to the same rule.

A last test breaks the property on purpose (public answers fed the confidential sets)
and checks that the comparison sees it: the test can fail.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import random
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner

from api.build.pipeline import build_all
from api.http.app import create_app
from api.settings import Settings, get_settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TOKEN = "non-interference-token"
#: Requests per route beyond the one-parameter sweeps (seeded sample of combinations).
SAMPLE = 10


def _features() -> list[dict]:
    return json.loads((REPO / "data" / "providers.geojson").read_text(encoding="utf-8"))["features"]


def _confidential() -> list[dict]:
    return [f for f in _features() if f["properties"]["confidential"] is not False]


@pytest.fixture(scope="module")
def twins(data_dir, tmp_path_factory) -> dict[str, Settings]:
    """Settings of two builds: the directory as it is, and without confidential records."""
    root = tmp_path_factory.mktemp("twins")
    out = {}
    for name, keep in (("with", lambda f: True), ("without", lambda f: f not in _confidential())):
        # same path length and layout for both, so a leaked path would show as itself
        base = root / {"with": "conf-yes", "without": "conf-not"}[name]
        base.mkdir()
        data = json.loads((REPO / "data" / "providers.geojson").read_text(encoding="utf-8"))
        data["features"] = [f for f in data["features"] if keep(f)]
        providers = base / "providers.geojson"
        providers.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        settings = Settings(
            data_dir=data_dir,
            build_dir=base / "build",
            providers=providers,
            boundaries_dir=base / "no-user-boundaries",
            grid_cell_m=10_000,
            caseworker_token_hashes=[hashlib.sha256(TOKEN.encode()).hexdigest()],
            warm_up=False,
        )
        # motorbike too: the referral pathways and clinical windows report it
        build_all(settings, modes=["car", "walk", "motorbike"])
        out[name] = settings
    assert len(_confidential()) >= 5  # the property is about something
    return out


@pytest.fixture(scope="module")
def apps(twins):
    with (
        TestClient(create_app(twins["with"])) as with_conf,
        TestClient(create_app(twins["without"])) as without,
    ):
        yield with_conf, without


# ----------------------------------------------------------------------------- routes


def get_routes(app) -> list[APIRoute]:
    """Every GET route of the app, included routers walked (the app's own list)."""
    found: list[APIRoute] = []

    def walk(routes) -> None:
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:  # an included router (FastAPI >= 0.120)
                walk(inner.routes)
            elif isinstance(r, APIRoute) and "GET" in r.methods:
                found.append(r)

    walk(app.routes)
    return found


def _points() -> list[tuple[float, float]]:
    """Beside every confidential site (1.5 km and 12 km away) and a few far from them."""
    out = []
    for f in _confidential():
        if f["geometry"]:
            lon, lat = f["geometry"]["coordinates"]
            out += [(lon + 0.014, lat), (lon - 0.05, lat + 0.08)]
    return [*out, (-8.0, 12.65), (-4.2, 14.5), (0.05, 16.27), (-11.43, 14.45)]


def _values() -> dict[str, list]:
    """Candidate values per parameter name (query and path)."""
    points = _points()
    public = [f["properties"] for f in _features() if f["properties"]["confidential"] is False]
    near_shelters = sorted(
        p["id"]
        for p in public
        if set(p.get("services") or []) & {"psychosocial", "medical", "legal"}
    )[:6]
    return {
        # the base is psychosocial: public and confidential records both offer it
        "service": [None, "psychosocial", "shelter", "medical", "legal", "one_stop_centre"],
        "mode": ["car", "walk"],
        "scenario": ["baseline", "avoid", "slowed"],
        "level": ["adm1", "adm2", "adm3"],
        "lat": [p[1] for p in points],
        "lon": [p[0] for p in points],
        "point": points,
        # "Kona" is a name searched without a pick: the answer offers the other places
        "place": ["Segou", "Mopti", "Bamako", "Gao", "Sikasso", "Kayes", "Kona"],
        "k": [1, 5],
        "routes": ["true", "false"],
        "threshold_min": [30, 60, 120, 300],
        "add": [f"{lon:.5f},{lat:.5f}" for lon, lat in points],
        "remove": near_shelters,
        # a centre at an existing site: public providers, confidential ids (refused as
        # unknown ones) and health facilities (no value: the other changes are asked)
        "add_at": [
            None,
            *near_shelters[:2],
            *[f["properties"]["id"] for f in _confidential()][:3],
            "no-such-provider",
        ],
        "add_facility": [None, *FACILITIES],
        "format": ["json", "csv", "hxl"],
        # one région, several, or a name (coverage files, /planifier)
        "region": [None, "ML05", "ML04,ML07", "Gao"],
        "hxl": ["true"],
        "n": [1, 3],
        "q": ["Segou", "Mop", "Bamako"],
        "limit": [5],
        "lang": ["fr", "en"],
        "type": [None, "ngo", "one_stop_centre"],
        "adm1": [None, "ML04", "ML05"],
        "adm2": [None, "ML0401"],
        # GET /api/v1/route: from a point or place to a point, a place or a provider id,
        # the confidential ids among them (refused alike whether or not the record exists)
        "from": [f"{lon:.5f},{lat:.5f}" for lon, lat in points[-3:]] + ["Mopti"],
        "to": [
            *[f["properties"]["id"] for f in _confidential()][:4],
            *near_shelters[:2],
            *[f"{lon:.5f},{lat:.5f}" for lon, lat in points[:4]],
            "Gao",
        ],
        "pcode": ["ML01", "ML02", "ML03", "ML04", "ML05", "ML06", "ML07", "ML08", "ML09"],
        "frame": ["2015", "2023"],
    }


#: A health facility of the WHO/KEMRI list (Bandiagara's referral centre, by its stable
#: id) and an unknown id, for ``add_facility``.
FACILITIES = ["who:517a99b6db", "who:0000000000"]
#: The what-if parameters, of which a request gives one (the first present).
CHANGES = ("add_at", "add_facility", "remove", "add")

#: The cercles and communes of the confidential sites (and Bandiagara): the referral
#: pathways around them, by P-code (a pathway names the providers nearest the area's
#: main settlement, by car, motorbike and on foot).
AREAS = [
    *("ML0901", "ML090104", "ML0501", "ML050105", "ML050109"),
    *("ML0506", "ML0205", "ML020518", "ML0502"),
]
#: Areas whose PDF is asked (the page shows the same pathway).
PDF_AREAS = ["ML0901", "ML050105", "ML0506"]
#: 2023 régions of confidential sites, for the briefings by the 2023 frame.
REGIONS_2023 = ["R2023-district-de-bamako", "R2023-douentza"]
#: Values of a parameter for one route only (a pathway's P-code is a cercle's or a commune's).
ROUTE_VALUES = {
    "/circuits/{pcode}": {"pcode": AREAS},
    "/circuits/{pcode}.pdf": {"pcode": PDF_AREAS},
}
#: Requests asked beside the sweeps: every area's pathway in the 2023 frame and in
#: English, and the briefings of 2023 régions (their P-codes exist only in that frame).
EXTRA = {
    "/circuits/{pcode}": [(f"/circuits/{a}", {"lang": "en", "frame": "2023"}) for a in AREAS],
    "/circuits/{pcode}.pdf": [
        (f"/circuits/{a}.pdf", {"lang": "en", "frame": "2023"}) for a in PDF_AREAS
    ],
    "/regions/{pcode}/brief.html": [
        (f"/regions/{r}/brief.html", {"frame": "2023"}) for r in REGIONS_2023
    ],
    # medical care by clinical window, in either frame, by région, ranked, as files
    "/api/v1/coverage": [
        ("/api/v1/coverage", {"window": w, "level": level, "mode": m, "frame": f, **more})
        for w, level, m, f in (
            ("pep", "adm1", "walk", "2023"),
            ("ec", "adm2", "motorbike", "2015"),
            ("pep", "adm3", "walk", "2023"),
        )
        for more in (
            {},
            {"threshold_min": 4320, "format": "csv", "lang": "fr"},
            {"region": "Mopti,Gao", "threshold_min": 7200, "format": "hxl"},
        )
    ],
}


#: Parameters a page reads from the request itself (not declared in its signature).
PAGE_PARAMS = {
    "/": ["service", "mode", "scenario", "threshold_min", "lang"],
    "/trouver": ["lang"],
    "/planifier": ["service", "mode", "scenario", "threshold_min", "level", "region", "lang"],
    "/regions/{pcode}": ["service", "mode", "scenario", "threshold_min", "lang"],
    "/regions/{pcode}/carte": ["service", "mode", "scenario", "lang"],
    "/circuits": ["lang"],
    "/circuits/{pcode}": ["lang"],
}
#: Routes that answer no question about providers or figures.
SKIP = {"/docs"}


def _requests(route: APIRoute, rng: random.Random) -> list[tuple[str, dict]]:
    """URLs and query parameters to ask one route: a sweep of each parameter's values
    from a base, then a seeded sample of combinations."""
    values = {**_values(), **ROUTE_VALUES.get(route.path, {})}
    names = [p.alias or p.name for p in route.dependant.query_params]
    names += [n for n in PAGE_PARAMS.get(route.path, []) if n not in names]
    names = [n for n in names if n in values]
    path_names = re.findall(r"{(\w+)}", route.path)
    if "lat" in names and "lon" in names:  # a point is one parameter here
        names = [n for n in names if n not in ("lat", "lon")] + ["point"]
    grid = {n: values.get(n, [None]) for n in [*path_names, *names]}

    def make(choice: dict) -> tuple[str, dict]:
        path = route.path
        for n in path_names:
            value = choice[n] if n != "level" else choice.get(n, "adm1")
            path = path.replace("{" + n + "}", str(value))
        params = {}
        for n in names:
            v = choice.get(n)
            if v is None:
                continue
            if n == "point":
                params["lon"], params["lat"] = v
            else:
                params[n] = v
        given = [n for n in CHANGES if n in params]
        for n in given[1:]:  # a what-if makes one change: the first given
            params.pop(n)
        return path, params

    base = {n: vs[0] if vs[0] is not None or len(vs) == 1 else vs[1] for n, vs in grid.items()}
    changes = [n for n in CHANGES if n in grid]
    if len(changes) > 1:
        base.update({n: None for n in changes if n != "add"})
    out = [make(base)]
    for n, vs in grid.items():  # every value of every parameter, the others at base
        for v in vs:
            # a what-if makes one change: sweep each without the added centre
            out.append(make({**base, n: v, **({"add": None} if n in changes[:-1] else {})}))
    keys = list(grid)
    for _ in range(SAMPLE):
        out.append(make({n: rng.choice(grid[n]) for n in keys}))
    out += EXTRA.get(route.path, [])
    unique = []
    for item in out:
        if item not in unique:
            unique.append(item)
    return unique


# ----------------------------------------------------------------------------- compare

_TIMES = [
    (
        re.compile(
            r'"(built_at|generated_at|generated|seconds[a-z_]*)": ?("[^"]*"|[0-9.eE+-]+|null)'
        ),
        r'"\1": 0',
    ),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"), "T"),
    (re.compile(r"\b\d{1,2}[:h]\d{2}(:\d{2})?\b"), "H"),
    (re.compile(r"(calculé en|computed in|en) [0-9.,]+ ?s\b", re.I), r"\1 S"),
    (re.compile(r"[0-9]+(?:[.,][0-9]+)? ?s\)"), "S)"),  # "(0.7 MB, 0.7 s)" of the CLI
    # a progress bar's count and elapsed time once white space is out: "━━50/500:00:11"
    (re.compile(r"━+(\d+)/\1\d+:\d{2}:\d{2}"), r"━\1/\1"),
]


def _normal(response) -> tuple[int, str, str]:
    """Status, content type and body with timestamps and timings taken out."""
    kind = response.headers.get("content-type", "").split(";")[0]
    if kind == "application/pdf":
        text = "\n".join(
            page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
        )
    else:
        text = response.text
    for pattern, repl in _TIMES:
        text = pattern.sub(repl, text)
    return response.status_code, kind, _renumber(text)


_ELEMENT_ID = re.compile(r"_[0-9a-f]{32}(?![0-9a-f])")


def _renumber(text: str) -> str:
    """folium names map elements with random hex ids: number them by first appearance."""
    seen: dict[str, str] = {}
    return _ELEMENT_ID.sub(lambda m: seen.setdefault(m.group(0), f"_id{len(seen)}"), text)


def _server_paths(client) -> list[str]:
    """Where this server's data, build and directory live: no answer may name them."""
    s = client.app.state.settings
    return [str(p) for p in (s.data_dir.resolve(), s.build_dir, s.providers.parent, REPO)]


def _compare(apps, route, path, params, headers=None) -> str | None:
    a, b = (c.get(path, params=params, headers=headers or {}) for c in apps)
    na, nb = _normal(a), _normal(b)
    for client, (_, _, text) in zip(apps, (na, nb), strict=True):
        named = [p for p in _server_paths(client) if p in text]
        if named:  # issue 14: no answer names a server path
            return f"{route}: {path} {params} names a server path: {named}"
    if na == nb:
        return None
    return f"{route}: {path} {params} -> {na[0]} vs {nb[0]}"


def test_the_routes_are_found_from_the_app(apps):
    paths = {r.path for r in get_routes(apps[0].app)}
    # a sanity floor: the API, the pages, the planning and the briefings are all there
    assert {"/api/v1/nearest", "/api/v1/coverage", "/api/v1/whatif", "/api/v1/site"} <= paths
    assert {"/", "/trouver", "/planifier", "/regions/{pcode}"} <= paths
    assert {"/regions/{pcode}/brief.pdf", "/carte/couverture.geojson"} <= paths
    assert {"/circuits", "/circuits/{pcode}", "/circuits/{pcode}.pdf"} <= paths


@pytest.mark.timeout(1200)
def test_no_public_answer_depends_on_a_confidential_record(apps):
    rng = random.Random(12)
    differences, asked = [], 0
    for route in get_routes(apps[0].app):
        if route.path in SKIP:
            continue
        for path, params in _requests(route, rng):
            asked += 1
            found = _compare(apps, route.path, path, params)
            if found:
                differences.append(found)
    assert asked > 300
    assert not differences, "\n".join(differences[:20])


@pytest.mark.timeout(1200)
def test_triangulating_a_shelter_with_what_ifs_learns_nothing(apps):
    """A bounded grid of what-if, siting and coverage probes around each confidential
    site: the answers are the same as if the site did not exist."""
    differences = []
    for f in _confidential():
        if not f["geometry"]:
            continue
        lon0, lat0 = f["geometry"]["coordinates"]
        for dx, dy in itertools.product((-0.2, 0.0, 0.2), repeat=2):
            for service in ("psychosocial", "medical", "one_stop_centre"):
                params = {
                    "service": service,
                    "mode": "walk",
                    "threshold_min": 60,
                    "level": "adm3",
                    "add": f"{lon0 + dx:.5f},{lat0 + dy:.5f}",
                }
                found = _compare(apps, "/api/v1/whatif", "/api/v1/whatif", params)
                if found:
                    differences.append(found)
        for service in ("psychosocial", "medical"):
            for path, params in (
                ("/api/v1/site", {"service": service, "n": 2, "threshold_min": 60}),
                ("/api/v1/coverage", {"service": service, "level": "adm3", "format": "csv"}),
            ):
                found = _compare(apps, path, path, params)
                if found:
                    differences.append(found)
    assert not differences, "\n".join(differences[:20])


def test_with_a_token_the_answers_include_confidential_ones_and_say_so(apps):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with_conf, without = apps
    lon, lat = _points()[0]
    params = {"lon": lon, "lat": lat, "service": "shelter", "k": 2}
    a = with_conf.get("/api/v1/nearest", params=params, headers=auth)
    b = without.get("/api/v1/nearest", params=params, headers=auth)
    assert a.status_code == b.status_code == 200
    assert a.json()["query"]["includes_confidential"] is True
    assert a.json()["results"] and not b.json()["results"]
    assert a.headers["cache-control"] == "no-store"
    whatif = with_conf.get(
        "/api/v1/whatif",
        params={"service": "shelter", "add": f"{lon:.5f},{lat:.5f}", "threshold_min": 60},
        headers=auth,
    )
    assert whatif.status_code == 200 and whatif.json()["meta"]["includes_confidential"] is True


# ----------------------------------------------------------------------------- CLI

#: Public CLI commands and the arguments to ask them (every command of the CLI must be
#: here or in CLI_NOT_PUBLIC, so a new command is not forgotten).
CLI_PUBLIC = {
    "coverage": [
        ["--level", "adm3", "--service", s, "--format", f]
        for s in ("shelter", "psychosocial", "one_stop_centre")
        for f in ("csv", "json", "hxl")
    ]
    + [["--level", "adm2", "--underserved", "--format", "json", "--service", "psychosocial"]]
    + [["--level", "adm2", "--region", "ML05,ML07", "--format", f] for f in ("csv", "hxl")]
    + [
        ["--level", level, "--window", w, "--mode", m, "--format", "json", "--frame", frame]
        for level, w, m, frame in (
            ("adm1", "pep", "walk", "2023"),
            ("adm1", "ec", "motorbike", "2015"),
            ("adm2", "pep", "motorbike", "2023"),
            ("adm3", "ec", "walk", "2015"),
        )
    ]
    + [["--level", "adm2", "--window", "pep", "--underserved", "--format", "csv"]]
    # the planner's files of the 2023 frame, by région and clinical window
    + [
        [
            *("--level", "adm3", "--frame", "2023", "--region", "Mopti,Gao", "--window", "pep"),
            *("--mode", "walk", "--underserved", "--format", "csv", "--lang", "fr"),
        ],
        ["--level", "adm1", "--frame", "2023", "--format", "hxl"],
    ],
    "site": [
        ["--service", "psychosocial", "--n", "2", "--json"],
        ["--service", "medical", "--add", "-6.26,13.44", "--json"],
        ["--service", "medical", "--add-facility", FACILITIES[0], "--json"],
        ["--service", "legal", "--add-at", "osc-gao", "--level", "adm3"],
        *[
            ["--service", "psychosocial", "--add-at", f["properties"]["id"]]
            for f in _confidential()[:3]
        ],
    ],
    "nearest": [
        ["--place", p, "--service", s, "--json", "--k", "5"]
        for p in ("Segou", "Mopti")
        for s in ("psychosocial", "shelter")
    ]
    # the table: place used and others, road distance, national lines, flags
    + [["--place", "Kona", "--service", "psychosocial", "--k", "5"]],
    "brief": [
        ["--region", "ML04", "--out", "{tmp}/b.html"],
        ["--region", "Mopti", "--frame", "2023", "--out", "{tmp}/b23.html"],
        ["--region", "ML09", "--lang", "en", "--out", "{tmp}/b09.html"],
    ],
    "pathway": [
        *[["--area", a, "--out", f"{{tmp}}/p-{a}.html"] for a in AREAS],
        ["--area", "Konna", "--lang", "en", "--frame", "2023", "--out", "{tmp}/p-konna.html"],
        ["--area", "ML0901", "--out", "{tmp}/p-bamako.pdf"],
        ["--all", "--level", "adm2", "--format", "html", "--out", "{tmp}/cercles"],
    ],
    "map": [["--service", "psychosocial", "--out", "{tmp}/m.html"]],
    "export": [["--service", "shelter", "--scenario", "slowed", "--out", "{tmp}/e.gpkg"]],
    "conflict": [["summary", "--format", "json"]],
    "places": [["search", "Segou", "--json"]],
    "route": [
        ["--from", "Segou", "--to", "-6.26,13.44", "--json"],
        ["--from", "-5.0,14.0", "--to", "osc-mopti", "--mode", "walk", "--json"],
        *[["--from", "Mopti", "--to", f["properties"]["id"]] for f in _confidential()[:2]],
    ],
}
#: Commands that publish nothing about providers or that only a caseworker runs.
CLI_NOT_PUBLIC = {"build", "up", "serve", "data", "providers", "roads"}


def _file_text(path: Path) -> str:
    """A text file as it is; a PDF as its text; a directory as its files' texts, by name;
    a GeoPackage as every table's rows (geometry as WKT) and a hash of every raster's cells."""
    if path.is_dir():
        return "\n".join(f"{f.name}\n{_file_text(f)}" for f in sorted(path.iterdir()))
    if path.suffix == ".pdf":
        return "\n".join(page.extract_text() for page in PdfReader(path).pages)
    if path.suffix != ".gpkg":
        return path.read_text(encoding="utf-8")
    import pyogrio
    import rasterio

    parts = []
    for name, geometry_type in pyogrio.list_layers(path):
        frame = pyogrio.read_dataframe(path, layer=name, read_geometry=geometry_type is not None)
        if geometry_type is not None:
            frame["geometry"] = frame.geometry.to_wkt()
        text = frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S")  # as _TIMES expects
        parts.append(f"{name}\n{text}")
    with sqlite3.connect(path) as con:
        grids = con.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = '2d-gridded-coverage'"
        ).fetchall()
    for (table,) in grids:
        with rasterio.open(f"GPKG:{path}:{table}") as src:
            parts.append(f"{table} {hashlib.sha256(src.read(1).tobytes()).hexdigest()}")
    return "\n".join(parts)


def _cli_names() -> set[str]:
    from api.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups}
    return names


def test_every_cli_command_is_classed():
    assert _cli_names() <= set(CLI_PUBLIC) | CLI_NOT_PUBLIC, _cli_names() - set(CLI_PUBLIC)


@pytest.mark.timeout(1200)
def test_the_cli_public_outputs_do_not_depend_on_confidential_records(twins, tmp_path, monkeypatch):
    from api.cli import app

    outputs = {}
    for name, settings in twins.items():
        for key, value in {
            "ORIENTER_DATA_DIR": settings.data_dir,
            "ORIENTER_BUILD_DIR": settings.build_dir,
            "ORIENTER_PROVIDERS": settings.providers,
            "ORIENTER_GRID_CELL_M": "10000",
        }.items():
            monkeypatch.setenv(key, str(value))
        monkeypatch.delenv("ORIENTER_CASEWORKER_TOKEN", raising=False)
        get_settings.cache_clear()
        out = tmp_path / name
        out.mkdir()
        for command, runs in CLI_PUBLIC.items():
            for args in runs:
                args = [a.replace("{tmp}", str(out)) for a in args]
                result = CliRunner().invoke(app, [command, *args])
                # the console wraps lines by width (the two runs' paths differ in length):
                # compare without any white space
                text = "".join(result.output.split()).replace(str(out), "OUT")
                for a in args:
                    if a.startswith(str(out)):
                        path = Path(a)
                        text += _file_text(path) if path.exists() else "-"
                for pattern, repl in _TIMES:
                    text = pattern.sub(repl, text)
                text = _renumber(text)
                key = (command, tuple(a.replace(str(out), "{tmp}") for a in args))
                outputs.setdefault(key, {})[name] = (result.exit_code, text)
    get_settings.cache_clear()
    differences = [
        " ".join((key[0], *key[1]))
        for key, both in outputs.items()
        if both["with"][1].replace("conf-yes", "X") != both["without"][1].replace("conf-not", "X")
        or both["with"][0] != both["without"][0]
    ]
    assert not differences, differences
    shutil.rmtree(tmp_path, ignore_errors=True)


# ----------------------------------------------------------------------------- Python API

#: Every public function of the Python API (api.services) is asked below; a function added
#: to the API without a question here fails test_every_python_api_function_is_asked.
PYTHON_API_ASKED = {
    "build_layers",  # builds, then opens: what it opens is asked through open_build
    "conflict_zones",
    "coverage",
    "national",
    "nearest",
    "open_build",
    "site",
    "travel_time_surface",
    "underserved",
    "what_if",
}


def _python_text(value: object) -> str:
    """A Python API answer as comparable text: frames as JSON, arrays by digest, times out."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    def plain(v: object) -> object:
        if isinstance(v, gpd.GeoDataFrame):
            return json.loads(v.to_json(drop_id=True))
        if isinstance(v, pd.DataFrame):
            return json.loads(v.to_json(orient="records"))
        if isinstance(v, np.ndarray):
            return hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
        if hasattr(v, "__dataclass_fields__"):
            return {k: plain(getattr(v, k)) for k in v.__dataclass_fields__}
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v if isinstance(v, str | int | float | bool | type(None)) else repr(v)

    text = json.dumps(plain(value), sort_keys=True, ensure_ascii=False, default=str)
    for pattern, repl in _TIMES:
        text = pattern.sub(repl, text)
    return text.replace("conf-yes", "X").replace("conf-not", "X")


def _python_questions() -> list[tuple[str, dict]]:
    """(function, keyword arguments) asked of each build: every service a confidential
    record offers, both modes, every scenario and level, points beside each confidential
    site, what-ifs next to them, removals of public providers nearby, siting."""
    v = _values()
    asked: list[tuple[str, dict]] = []
    services = [s for s in v["service"] if s is not None]
    for level in v["level"]:
        for service in services:
            asked.append(("coverage", {"level": level, "service": service}))
        asked.append(("underserved", {"level": level, "service": "psychosocial"}))
    for scenario in v["scenario"]:
        for mode in v["mode"]:
            asked.append(
                ("coverage", {"service": "psychosocial", "mode": mode, "scenario": scenario})
            )
            asked.append(
                ("national", {"service": "psychosocial", "mode": mode, "scenario": scenario})
            )
        for service in services:
            asked.append(("travel_time_surface", {"service": service, "scenario": scenario}))
    for lon, lat in v["point"]:
        for service in v["service"]:
            asked.append(("nearest", {"lon": lon, "lat": lat, "service": service, "routes": True}))
        asked.append(
            ("nearest", {"lon": lon, "lat": lat, "service": "medical", "scenario": "avoid"})
        )
    for point in v["point"][:6]:
        for service in ("psychosocial", "shelter", "medical"):
            asked.append(("what_if", {"add": point, "service": service, "level": "adm3"}))
    for remove in v["remove"]:
        asked.append(("what_if", {"remove": remove, "service": "psychosocial"}))
    for at in v["add_at"]:  # public, confidential and unknown ids alike
        if at is not None:
            asked.append(("what_if", {"add_at": at, "service": "psychosocial"}))
    for facility in v["add_facility"]:
        if facility is not None:
            asked.append(("what_if", {"add_facility": facility, "service": "medical"}))
    for place in v["place"][:3]:
        asked.append(("nearest", {"place": place, "service": "psychosocial"}))
    asked += [
        ("site", {"n": 3, "service": "psychosocial"}),
        ("site", {"n": 2, "service": "shelter"}),
        ("conflict_zones", {}),
        ("providers", {}),
        ("open_build", {}),
    ]
    return asked


def _python_answer(build, function: str, kwargs: dict) -> str:
    from api import services

    try:
        if function == "providers":
            return _python_text(build.providers())
        if function == "open_build":
            return _python_text({"modes": build.modes, "scenarios": build.scenarios})
        return _python_text(getattr(services, function)(build, **kwargs))
    except (ValueError, TypeError, PermissionError, FileNotFoundError) as exc:
        return f"{type(exc).__name__}: {_python_text(str(exc))}"


def test_every_python_api_function_is_asked():
    from api import services

    functions = {n for n in services.__all__ if n[0].islower() and n != "__version__"}
    assert functions == PYTHON_API_ASKED, functions ^ PYTHON_API_ASKED
    assert PYTHON_API_ASKED - {"build_layers"} <= {f for f, _ in _python_questions()}


@pytest.mark.timeout(1200)
def test_the_python_api_public_answers_do_not_depend_on_confidential_records(twins):
    from api.services import nearest, open_build

    builds = {name: open_build(settings=settings) for name, settings in twins.items()}
    differences, asked, refused = [], 0, 0
    for function, kwargs in _python_questions():
        a, b = (_python_answer(builds[n], function, kwargs) for n in ("with", "without"))
        asked += 1
        refused += a.startswith(("ValueError", "PermissionError", "FileNotFoundError"))
        if a != b:
            differences.append(f"{function}({kwargs})")
    assert asked > 150 and refused < asked / 5, (asked, refused)  # mostly real answers
    assert not differences, "\n".join(differences[:20])
    # with caseworker=True the answers may differ, and say so
    lon, lat = _points()[0]
    answer = nearest(builds["with"], lon, lat, service="shelter", caseworker=True)
    assert answer["query"]["includes_confidential"]
    confidential = {f["properties"]["id"] for f in _confidential()}
    assert confidential & {r["id"] for r in answer["results"]}


# ----------------------------------------------------------------------------- the test can fail


def test_the_comparison_sees_a_leak_when_there_is_one(twins, monkeypatch):
    """Feed public answers the confidential sets: the comparison must notice."""
    from geo.layers import Layer

    real = Layer.visible

    def leaky(self, service, *, caseworker):
        return real(self, service, caseworker=True)

    monkeypatch.setattr(Layer, "visible", leaky)
    with (
        TestClient(create_app(twins["with"])) as a,
        TestClient(create_app(twins["without"])) as b,
    ):
        lon, lat = _points()[0]
        params = {"lon": lon, "lat": lat, "service": "psychosocial", "k": 5}
        assert _compare((a, b), "/api/v1/nearest", "/api/v1/nearest", params)
    # and the Python API's comparison sees it too
    from api.services import open_build

    builds = [open_build(settings=twins[name]) for name in ("with", "without")]
    question = {"lon": lon, "lat": lat, "service": "psychosocial"}
    answers = [_python_answer(build, "nearest", question) for build in builds]
    assert answers[0] != answers[1]
