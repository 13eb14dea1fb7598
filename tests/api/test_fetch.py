"""`orienter data fetch`: downloads from a local HTTP server on 127.0.0.1, never the internet."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from api.build.fetch import (
    CATALOGUE,
    MANIFEST_NAME,
    ChecksumError,
    Expected,
    FetchError,
    FetchOptions,
    Outcome,
    Source,
    Status,
    download_file,
    fetch_sources,
    missing_required,
    unpack_shapefile_zip,
)
from api.cli import app
from api.datasets import find_dataset
from api.settings import Settings, get_settings

pytestmark = pytest.mark.timeout(60)

FAST = FetchOptions(timeout_s=5.0, retries=0, backoff_s=0.0, chunk_bytes=4096)
GB_COMMIT = "abc1234"


# --------------------------------------------------------------------------- local server


@dataclass
class ServerState:
    """What the test server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    drops: dict[str, list[int]] = field(default_factory=dict)  # path -> bytes sent per drop
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        state.requests.append((self.path, rng))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        etag = f'"{hashlib.sha1(body).hexdigest()}"'
        start = 0
        if rng and not state.ignore_range:
            if_range = self.headers.get("If-Range")
            match = re.fullmatch(r"bytes=(\d+)-", rng)
            if match and (if_range is None or if_range == etag):
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
        payload = body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        drops = state.drops.get(self.path)
        if drops:
            self.wfile.write(payload[: drops.pop(0)])
            self.wfile.flush()
            self.close_connection = True  # the client sees the connection end mid-body
            return
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ServerState]]:
    """A ThreadingHTTPServer on 127.0.0.1 (port 0) with Range support; yields (base URL, state)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _blob(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", boundaries_dir=tmp_path / "no-repo-boundaries")


def _tif_source(base: str, **changes: object) -> Source:
    src = Source(
        key="population_raster",
        dataset="population_raster",
        folder="population",
        filename="mli_ppp_2020_1km_Aggregated.tif",
        publisher="test",
        licence="CC BY 4.0",
        url=f"{base}/files/mli_ppp_2020_1km_Aggregated.tif",
        stable=True,
    )
    return replace(src, **changes)  # type: ignore[arg-type]


def _run(settings: Settings, catalogue: list[Source], **kwargs: object) -> list[Outcome]:
    options = kwargs.pop("options", FAST)
    return list(fetch_sources(settings, catalogue=catalogue, options=options, **kwargs))  # type: ignore[arg-type]


def _manifest(settings: Settings) -> dict[str, dict[str, object]]:
    return json.loads((settings.data_dir / MANIFEST_NAME).read_text())["files"]


# --------------------------------------------------------------------------- engine


def test_download_records_manifest_and_is_found(server, tmp_path):
    base, state = server
    body = _blob(50_000, 1)
    state.files["/files/mli_ppp_2020_1km_Aggregated.tif"] = body
    settings = _settings(tmp_path)
    [out] = _run(settings, [_tif_source(base)])
    assert out.status is Status.DOWNLOADED, out.message
    dest = settings.data_dir / "population" / "mli_ppp_2020_1km_Aggregated.tif"
    assert dest.read_bytes() == body
    assert find_dataset(settings, "population_raster") == dest
    rec = _manifest(settings)["population/mli_ppp_2020_1km_Aggregated.tif"]
    assert rec["sha256"] == hashlib.sha256(body).hexdigest()
    assert rec["bytes"] == len(body)
    assert rec["url"].endswith("/files/mli_ppp_2020_1km_Aggregated.tif")
    assert rec["licence"] == "CC BY 4.0" and re.match(r"\d{4}-\d\d-\d\dT", rec["date"])
    assert not list(dest.parent.glob("*.part*"))


def test_dropped_download_resumes_on_next_run_byte_identical(server, tmp_path):
    base, state = server
    body = _blob(200_000, 2)
    path = "/files/mli_ppp_2020_1km_Aggregated.tif"
    state.files[path] = body
    state.drops[path] = [70_000]
    settings = _settings(tmp_path)
    dest = settings.data_dir / "population" / "mli_ppp_2020_1km_Aggregated.tif"

    [first] = _run(settings, [_tif_source(base)])
    assert first.status is Status.FAILED and "70,000 bytes are kept" in first.message
    assert not dest.exists()  # nothing under the final name
    part = dest.with_name(dest.name + ".part")
    assert part.read_bytes() == body[:70_000]
    assert missing_required(settings, ["population_raster"]) == ["population_raster"]

    [second] = _run(settings, [_tif_source(base)])
    assert second.status is Status.RESUMED, second.message
    assert state.requests[-1] == (path, "bytes=70000-")
    assert dest.read_bytes() == body
    assert not part.exists() and not dest.with_name(dest.name + ".part.json").exists()


def test_retries_resume_within_one_run(server, tmp_path):
    base, state = server
    body = _blob(120_000, 3)
    state.files["/f.bin"] = body
    state.drops["/f.bin"] = [10_000, 30_000]
    dest = tmp_path / "f.bin"
    with _client() as client:
        transfer = download_file(
            client, f"{base}/f.bin", dest, options=replace(FAST, retries=3), label="f"
        )
    assert transfer.resumed and dest.read_bytes() == body
    assert [r for _, r in state.requests] == [None, "bytes=10000-", "bytes=40000-"]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    base, state = server
    body = _blob(90_000, 4)
    path = "/files/mli_ppp_2020_1km_Aggregated.tif"
    state.files[path] = body
    state.drops[path] = [40_000]
    settings = _settings(tmp_path)
    assert _run(settings, [_tif_source(base)])[0].status is Status.FAILED

    state.ignore_range = True
    [out] = _run(settings, [_tif_source(base)])
    assert out.status is Status.DOWNLOADED and "ignored the resume request" in out.message
    assert state.requests[-1][1] == "bytes=40000-"  # it asked, the server sent everything
    dest = settings.data_dir / "population" / "mli_ppp_2020_1km_Aggregated.tif"
    assert dest.read_bytes() == body  # not 40,000 stale bytes + the whole file


def test_file_replaced_between_runs_restarts_via_if_range(server, tmp_path):
    base, state = server
    state.files["/f.bin"] = _blob(60_000, 5)
    state.drops["/f.bin"] = [25_000]
    dest = tmp_path / "f.bin"
    with _client() as client, pytest.raises(FetchError):
        download_file(client, f"{base}/f.bin", dest, options=FAST)
    new_body = _blob(61_000, 6)  # the publisher replaced the file (new ETag)
    state.files["/f.bin"] = new_body
    with _client() as client:
        transfer = download_file(client, f"{base}/f.bin", dest, options=FAST)
    assert transfer.restarted and not transfer.resumed
    assert dest.read_bytes() == new_body


def test_complete_part_left_before_rename_is_finished(server, tmp_path):
    base, state = server
    body = _blob(20_000, 14)
    state.files["/f.bin"] = body
    dest = tmp_path / "f.bin"  # a run that wrote every byte, then stopped before the rename:
    (tmp_path / "f.bin.part").write_bytes(body)
    etag = f'"{hashlib.sha1(body).hexdigest()}"'
    (tmp_path / "f.bin.part.json").write_text(
        json.dumps({"url": f"{base}/f.bin", "validator": etag})
    )
    with _client() as client:
        transfer = download_file(client, f"{base}/f.bin", dest, options=FAST)
    assert state.requests[-1] == ("/f.bin", "bytes=20000-")  # answered 416 bytes */20000
    assert transfer.resumed and dest.read_bytes() == body


def test_wrong_publisher_checksum_fails_and_keeps_good_file(server, tmp_path):
    base, state = server
    body = _blob(30_000, 7)
    state.files["/africa/mali-latest.osm.pbf"] = body
    state.files["/africa/mali-latest.osm.pbf.md5"] = b"0" * 32 + b"  mali-latest.osm.pbf\n"
    src = replace(
        next(s for s in CATALOGUE if s.key == "roads_osm"),
        url=f"{base}/africa/mali-latest.osm.pbf",
        checksum_url=f"{base}/africa/mali-latest.osm.pbf.md5",
    )
    settings = _settings(tmp_path)
    dest = settings.data_dir / "roads" / "mali-latest.osm.pbf"

    [out] = _run(settings, [src])
    assert out.status is Status.FAILED and "checksum mismatch" in out.message
    assert "nothing was written" in out.message
    assert not dest.exists() and not list(dest.parent.glob("*.part*"))

    good = b"a good extract from last week"
    dest.write_bytes(good)
    [out] = _run(settings, [src], force=True)
    assert out.status is Status.FAILED and "left as it was" in out.message
    assert dest.read_bytes() == good

    state.files["/africa/mali-latest.osm.pbf.md5"] = (
        hashlib.md5(body).hexdigest().encode() + b"  mali-latest.osm.pbf\n"
    )
    [out] = _run(settings, [src], force=True)
    assert out.status is Status.DOWNLOADED and "checksum file" in out.message
    assert dest.read_bytes() == body


def test_stable_source_must_match_its_manifest_on_redownload(server, tmp_path):
    base, state = server
    path = "/files/mli_ppp_2020_1km_Aggregated.tif"
    state.files[path] = _blob(10_000, 8)
    settings = _settings(tmp_path)
    _run(settings, [_tif_source(base)])
    dest = settings.data_dir / "population" / "mli_ppp_2020_1km_Aggregated.tif"
    good = dest.read_bytes()
    state.files[path] = _blob(10_000, 9)  # the "versioned" file silently changed upstream
    [out] = _run(settings, [_tif_source(base)], force=True)
    assert out.status is Status.FAILED and "the manifest" in out.message
    assert dest.read_bytes() == good


def test_http_404_fails_with_reason(server, tmp_path):
    base, _ = server
    settings = _settings(tmp_path)
    [out] = _run(settings, [_tif_source(base, url=f"{base}/missing.tif")])
    assert out.status is Status.FAILED and "HTTP 404" in out.message
    assert not (settings.data_dir / "population").exists() or not any(
        (settings.data_dir / "population").iterdir()
    )


def test_download_file_raises_checksum_error(server, tmp_path):
    base, state = server
    state.files["/f.bin"] = b"payload"
    with _client() as client, pytest.raises(ChecksumError):
        download_file(
            client,
            f"{base}/f.bin",
            tmp_path / "f.bin",
            expected=Expected("sha256", "0" * 64, "a test"),
            options=FAST,
        )
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


# --------------------------------------------------------------------------- pinned SHA-256


def test_every_versioned_download_is_pinned_or_says_why_not():
    versioned = {s.key: s for s in CATALOGUE if s.stable}
    assert {"population_raster", "facilities_who", "conflict"} <= set(versioned)
    for key, source in versioned.items():
        if source.sha256 is None:
            # the development copy is a derived file, so the publisher's digest is unknown:
            # the reason names the SOURCE.md that says so, and trust-on-first-download applies
            assert source.sha256_unknown and "SOURCE.md" in source.sha256_unknown, key
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", source.sha256), key
    with pytest.raises(ValueError, match="sha256 must be 64"):
        replace(versioned["conflict"], sha256="ABC")


def test_pinned_sha256_is_enforced_from_the_first_download(server, tmp_path):
    base, state = server
    body = _blob(30_000, 21)
    state.files["/files/mli_ppp_2020_1km_Aggregated.tif"] = body
    dest_rel = "population/mli_ppp_2020_1km_Aggregated.tif"
    wrong = _settings(tmp_path / "wrong")
    [out] = _run(wrong, [_tif_source(base, sha256=hashlib.sha256(b"other").hexdigest())])
    assert out.status is Status.FAILED and "checksum mismatch" in out.message
    assert "pinned in Orienter's catalogue" in out.message
    assert not (wrong.data_dir / dest_rel).exists()

    right = _settings(tmp_path / "right")
    [out] = _run(right, [_tif_source(base, sha256=hashlib.sha256(body).hexdigest())])
    assert out.status is Status.DOWNLOADED, out.message
    assert "verified against the SHA-256 pinned in Orienter's catalogue" in out.message
    assert (right.data_dir / dest_rel).read_bytes() == body

    mirror = tmp_path / "mirror"  # a mirror copy of the publisher's file is held to the pin
    mirror.mkdir()
    (mirror / "mli_ppp_2020_1km_Aggregated.tif").write_bytes(b"tampered" + body)
    copied = _settings(tmp_path / "copied")
    pinned = _tif_source(base, sha256=hashlib.sha256(body).hexdigest())
    [out] = _run(copied, [pinned], mirror_dir=mirror)
    assert out.status is Status.FAILED and "pinned" in out.message
    assert not (copied.data_dir / dest_rel).exists()


def test_first_download_of_unpinned_versioned_file_reports_its_sha256(server, tmp_path):
    base, state = server
    body = _blob(12_000, 22)
    state.files["/files/mli_ppp_2020_1km_Aggregated.tif"] = body
    [out] = _run(_settings(tmp_path), [_tif_source(base)])
    assert out.status is Status.DOWNLOADED
    assert hashlib.sha256(body).hexdigest() in out.message
    assert "later downloads must match it" in out.message


# --------------------------------------------------------------------------- skipping


def test_present_and_verified_files_are_skipped_without_network(server, tmp_path):
    base, state = server
    state.files["/files/mli_ppp_2020_1km_Aggregated.tif"] = _blob(5_000, 10)
    settings = _settings(tmp_path)
    _run(settings, [_tif_source(base)])
    seen = len(state.requests)
    [out] = _run(settings, [_tif_source(base)])
    assert out.status is Status.VERIFIED
    assert len(state.requests) == seen

    dest = settings.data_dir / "population" / "mli_ppp_2020_1km_Aggregated.tif"
    dest.write_bytes(b"edited by hand")
    [out] = _run(settings, [_tif_source(base, stable=False)])
    assert out.status is Status.DOWNLOADED and "changed since Orienter fetched it" in out.message
    assert dest.read_bytes() == state.files["/files/mli_ppp_2020_1km_Aggregated.tif"]


def test_user_file_counts_as_present(server, tmp_path):
    base, state = server
    settings = _settings(tmp_path)
    (settings.data_dir / "population").mkdir(parents=True)
    mine = settings.data_dir / "population" / "kontur_pop_density.tif"
    mine.write_bytes(b"user raster")
    [out] = _run(settings, [_tif_source(base)])
    assert out.status is Status.PRESENT and out.paths == (mine,)
    assert state.requests == []
    assert not (settings.data_dir / MANIFEST_NAME).exists()


def _complete_dir(root: Path) -> None:
    for rel in (
        "boundaries/mli_adm0_x.geojson",
        "boundaries/mli_adm1_x.geojson",
        "boundaries/mli_adm2_x.geojson",
        "boundaries/mli_adm3_x.geojson",
        "settlements/mli_populated_places_x.geojson",
        "population/worldpop_density.tif",
        "roads/AfricaNetworkEdges.csv",
        "facilities/who_kemri_mali.csv",
        "conflict/acled_mali.csv",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")


def _snapshot(root: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
    )


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "data"
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data))
    monkeypatch.setenv("ORIENTER_BOUNDARIES_DIR", str(tmp_path / "no-repo-boundaries"))
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


def _fetch_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["data", "fetch", *args])
    return result.exit_code, " ".join(result.output.split())


def test_complete_read_only_dir_exits_0_and_writes_nothing(server, cli_env):
    base, state = server
    _complete_dir(cli_env)
    for d in [cli_env, *cli_env.iterdir()]:
        d.chmod(0o555)
    before = _snapshot(cli_env)
    try:
        code, out = _fetch_cli("--mirror-url", base)
    finally:
        for d in [cli_env, *cli_env.iterdir()]:
            d.chmod(0o755)
    assert code == 0, out
    assert "present (not fetched by Orienter, not verified)" in out
    assert "a coarser layer is present" in out and "--only roads_osm" in out
    assert "API key" in out  # healthsites is explained, not pretended
    assert state.requests == []
    assert _snapshot(cli_env) == before


@pytest.mark.integration
def test_shared_data_dir_needs_nothing(server, data_dir, monkeypatch):
    base, state = server
    monkeypatch.setenv("ORIENTER_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    before = _snapshot(data_dir)
    try:
        code, out = _fetch_cli("--mirror-url", base)
    finally:
        get_settings.cache_clear()
    assert code == 0, out
    assert "present (not fetched by Orienter, not verified)" in out
    assert state.requests == [] and _snapshot(data_dir) == before


# --------------------------------------------------------------------------- whole catalogue


def _ucdp_zip() -> bytes:
    rows = [
        "id,country_id,country,latitude,longitude,date_start,best",
        "1,432,Mali,16.27,-0.04,2024-01-03,5",
        "2,475,Nigeria,11.8,13.1,2024-01-04,2",
        "3,432,Mali,14.49,-4.19,2024-02-11,0",
    ]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("GEDEvent_v25_1.csv", "\n".join(rows) + "\n")
    return buf.getvalue()


def _who_xlsx() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["Country", "Admin1", "Facility name", "Facility type", "Ownership", "Lat", "Long"])
    ws.append(["Mali", "Gao", "Gao Referral Health Centre", "CSRef", None, 16.25, -0.047])
    ws.append(["Niger", "Tillaberi", "Ayorou", "CSI", None, 14.7, 0.9])
    ws.append(["Mali", "Mopti", "Mopti Referral Health Centre", "CSRef", None, 14.5, -4.17])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _serve_catalogue(state: ServerState, *, hdx_format: str = "GeoJSON") -> dict[str, bytes]:
    """Publisher paths as the --mirror-url rewrite produces them."""
    files: dict[str, bytes] = {}
    for level in range(4):
        name = f"geoBoundaries-MLI-ADM{level}.geojson"
        gh = f"github.com/wmgeolab/geoBoundaries/raw/{GB_COMMIT}/releaseData/gbOpen/MLI/ADM{level}"
        meta = {"gjDownloadURL": f"https://{gh}/{name}", "boundaryLicense": "CC BY 4.0"}
        files[f"/www.geoboundaries.org/api/current/gbOpen/MLI/ADM{level}/"] = json.dumps(
            meta
        ).encode()
        files[f"/{gh}/{name}"] = json.dumps({"type": "FeatureCollection", "n": level}).encode()
    res_path = "data.humdata.org/dataset/d1/resource/r1/download/mli_pplp.geojson"
    files["/data.humdata.org/api/3/action/package_show?id=mali-settlements"] = json.dumps(
        {
            "success": True,
            "result": {
                "license_title": "Creative Commons Attribution for Intergovernmental Organisations",
                "resources": [
                    {"format": "CSV", "url": "https://data.humdata.org/x.csv"},
                    {"format": hdx_format, "url": f"https://{res_path}"},
                ],
            },
        }
    ).encode()
    files[f"/{res_path}"] = b'{"type": "FeatureCollection", "features": []}'
    files[
        "/data.worldpop.org/GIS/Population/Global_2000_2020_1km/2020/MLI/mli_ppp_2020_1km_Aggregated.tif"
    ] = _blob(40_000, 11)
    pbf = _blob(70_000, 12)
    files["/download.geofabrik.de/africa/mali-latest.osm.pbf"] = pbf
    files["/download.geofabrik.de/africa/mali-latest.osm.pbf.md5"] = (
        hashlib.md5(pbf).hexdigest().encode() + b"  mali-latest.osm.pbf\n"
    )
    files["/www.who.int/malaria/areas/surveillance/who-cds-gmp-2019-01-eng.xlsx"] = _who_xlsx()
    files["/ucdp.uu.se/downloads/ged/ged251-csv.zip"] = _ucdp_zip()
    state.files.update(files)
    return files


def test_cli_fetches_whole_catalogue_then_verifies(server, cli_env):
    base, state = server
    _serve_catalogue(state)
    code, out = _fetch_cli("--mirror-url", base)
    assert code == 0, out
    assert out.count("✓") == 9 and "API key" in out and "never downloads" in out
    settings = get_settings()
    assert missing_required(settings) == []
    assert find_dataset(settings, "adm2").name == "geoBoundaries-MLI-ADM2.geojson"
    assert find_dataset(settings, "settlements").name == "mli_populated_places_hdx.geojson"
    assert find_dataset(settings, "roads_osm").name == "mali-latest.osm.pbf"

    ucdp = find_dataset(settings, "conflict")
    assert ucdp is not None and ucdp.name == "ucdp_ged_251_mali.csv"
    lines = ucdp.read_text().splitlines()
    assert lines[0].startswith("id,country_id") and [ln.split(",")[0] for ln in lines[1:]] == [
        "1",
        "3",
    ]
    who = find_dataset(settings, "facilities_who")
    assert who is not None
    assert [r.split(",")[2] for r in who.read_text().splitlines()[1:]] == [
        "Gao Referral Health Centre",
        "Mopti Referral Health Centre",
    ]
    manifest = _manifest(settings)
    assert manifest["roads/mali-latest.osm.pbf"]["verified_by"].startswith(
        "the publisher's checksum file"
    )
    assert manifest["conflict/ucdp_ged_251_mali.csv"]["derived_from"] == "conflict/ged251-csv.zip"
    assert manifest["boundaries/geoBoundaries-MLI-ADM1.geojson"]["url"].startswith(
        f"https://github.com/wmgeolab/geoBoundaries/raw/{GB_COMMIT}/"
    )
    assert manifest["settlements/mli_populated_places_hdx.geojson"]["licence"].startswith(
        "Creative Commons"
    )

    seen = len(state.requests)
    code, out = _fetch_cli("--mirror-url", base)
    assert code == 0, out
    assert out.count("already present and verified") == 9
    assert len(state.requests) == seen

    ucdp.unlink()  # derived file lost: rebuilt from the verified zip, no network
    code, out = _fetch_cli("--mirror-url", base, "--only", "conflict")
    assert code == 0 and "re-extracted" in out and ucdp.is_file()
    assert len(state.requests) == seen


def test_cli_failure_exit_code_and_reasons(server, cli_env):
    base, state = server
    _serve_catalogue(state)
    del state.files["/ucdp.uu.se/downloads/ged/ged251-csv.zip"]
    state.files["/download.geofabrik.de/africa/mali-latest.osm.pbf.md5"] = b"f" * 32 + b"  x\n"
    code, out = _fetch_cli("--mirror-url", base)
    assert code == 1
    assert "conflict: failed — HTTP 404" in out
    assert "roads_osm: failed — checksum mismatch" in out
    assert "failed: roads_osm, conflict" in out
    assert "required datasets still missing: conflict" in out
    assert not (cli_env / "roads" / "mali-latest.osm.pbf").exists()
    assert find_dataset(get_settings(), "adm3") is not None  # the others still arrived


def test_geoboundaries_api_down_uses_static_release_url(server, tmp_path):
    base, state = server
    body = b'{"type": "FeatureCollection"}'
    state.files[
        "/github.com/wmgeolab/geoBoundaries/raw/9469f09/releaseData/gbOpen/MLI/ADM1/"
        "geoBoundaries-MLI-ADM1.geojson"
    ] = body
    settings = _settings(tmp_path)
    [out] = _run(settings, list(CATALOGUE), keys=["adm1"], mirror_url=base)
    assert out.status is Status.DOWNLOADED and "static release URL" in out.message
    assert find_dataset(settings, "adm1").read_bytes() == body


def test_hdx_zipped_shapefile_is_unpacked(server, tmp_path):
    base, state = server
    _serve_catalogue(state, hdx_format="zipped shapefile")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for ext in ("shp", "shx", "dbf", "prj"):
            archive.writestr(f"mli_pplp_1m_dnct_ocha.{ext}", f"{ext} bytes")
        archive.writestr("mli_pplp_1m_dnct_ocha.shp.xml", "<metadata/>")
    state.files["/data.humdata.org/dataset/d1/resource/r1/download/mli_pplp.geojson"] = (
        buf.getvalue()
    )
    settings = _settings(tmp_path)
    [out] = _run(settings, list(CATALOGUE), keys=["settlements"], mirror_url=base)
    assert out.status is Status.DOWNLOADED, out.message
    found = find_dataset(settings, "settlements")
    assert found is not None and found.name == "mli_PopulatedPlaces_hdx.shp"
    assert found.with_suffix(".dbf").read_text() == "dbf bytes"
    [again] = _run(settings, list(CATALOGUE), keys=["settlements"], mirror_url=base)
    assert again.status is Status.VERIFIED and len(again.paths) == 4


def test_unpack_shapefile_zip_refuses_ambiguous_archive(tmp_path):
    artefact = tmp_path / "two.zip"
    with zipfile.ZipFile(artefact, "w") as archive:
        archive.writestr("mli_pplp_a.shp", "a")
        archive.writestr("mli_pplp_b.shp", "b")
    with pytest.raises(FetchError, match="several shapefiles"):
        unpack_shapefile_zip(artefact, tmp_path)


# --------------------------------------------------------------------------- --from DIR


def _publisher_mirror(root: Path, state: ServerState) -> None:
    files = _serve_catalogue(state)
    root.mkdir()
    for path, body in files.items():
        name = path.rsplit("/", 1)[-1]
        if name and "?" not in name:
            (root / name).write_bytes(body)
    (root / "mli_populated_places_hdx.geojson").write_text('{"type": "FeatureCollection"}')


def test_from_mirror_with_publisher_names(cli_env, tmp_path):
    state = ServerState()
    mirror = tmp_path / "mirror"
    _publisher_mirror(mirror, state)
    code, out = _fetch_cli("--from", str(mirror))
    assert code == 0, out
    assert out.count("copied from the mirror") == 9
    assert "verified against the mirror's mali-latest.osm.pbf.md5" in out
    settings = get_settings()
    assert missing_required(settings) == []
    assert (cli_env / "roads" / "mali-latest.osm.pbf").read_bytes() == (
        mirror / "mali-latest.osm.pbf"
    ).read_bytes()
    assert find_dataset(settings, "conflict").name == "ucdp_ged_251_mali.csv"
    assert _manifest(settings)["roads/mali-latest.osm.pbf"]["copied_from"] == str(
        mirror / "mali-latest.osm.pbf"
    )
    code, out = _fetch_cli("--from", str(mirror))
    assert code == 0 and out.count("already present and verified") == 9


def test_from_mirror_wrong_md5_fails_atomically(cli_env, tmp_path):
    state = ServerState()
    mirror = tmp_path / "mirror"
    _publisher_mirror(mirror, state)
    (mirror / "mali-latest.osm.pbf.md5").write_text("0" * 32 + "  mali-latest.osm.pbf\n")
    code, out = _fetch_cli("--from", str(mirror), "--only", "roads_osm")
    assert code == 1 and "checksum mismatch" in out
    assert not (cli_env / "roads" / "mali-latest.osm.pbf").exists()
    assert not list((cli_env / "roads").glob("*.part*"))


def test_from_mirror_laid_out_like_data_dir(cli_env, tmp_path):
    mirror = tmp_path / "mirror"
    _complete_dir(mirror)
    code, out = _fetch_cli("--from", str(mirror), "--only", "adm1,settlements", "--only", "adm0")
    assert code == 0, out
    settings = get_settings()
    assert find_dataset(settings, "adm1") == cli_env / "boundaries" / "mli_adm1_x.geojson"
    assert find_dataset(settings, "settlements").name == "mli_populated_places_x.geojson"
    assert find_dataset(settings, "adm2") is None  # not asked for
    code, out = _fetch_cli("--from", str(mirror), "--only", "acled")
    assert code == 1 and "ACLED's terms forbid redistribution" in out  # never copied either
    assert "required datasets still missing: conflict" in out
    assert not (cli_env / "conflict").exists()


def test_from_previous_fetch_verifies_against_its_manifest(server, cli_env, tmp_path):
    base, state = server
    state.files["/files/mli_ppp_2020_1km_Aggregated.tif"] = _blob(8_000, 13)
    first = Settings(data_dir=tmp_path / "first", boundaries_dir=tmp_path / "none")
    _run(first, [_tif_source(base)])
    tif = first.data_dir / "population" / "mli_ppp_2020_1km_Aggregated.tif"
    tif.write_bytes(b"corrupted on the USB stick")
    code, out = _fetch_cli("--from", str(first.data_dir), "--only", "population_raster")
    assert code == 1 and f"the mirror's {MANIFEST_NAME}" in out
    assert not (cli_env / "population" / tif.name).exists()


# --------------------------------------------------------------------------- CLI arguments


def test_cli_rejects_unknown_key_and_missing_mirror(cli_env, tmp_path):
    code, out = _fetch_cli("--only", "roads")
    assert code == 2 and "unknown dataset key(s) roads" in out and "roads_osm" in out
    code, out = _fetch_cli("--from", str(tmp_path / "nowhere"))
    assert code == 2 and "not a directory" in out


def test_cli_healthsites_needs_a_key_but_is_optional(cli_env):
    code, out = _fetch_cli("--only", "facilities_healthsites")
    assert code == 0, out
    assert "needs a personal API key" in out and "facilities/healthsites_mali.geojson" in out


def _client() -> httpx.Client:
    return httpx.Client(timeout=5.0, trust_env=False)


# --------------------------------------------------------------------------- --list, --dry-run


def test_list_describes_the_catalogue_and_touches_nothing(server, cli_env):
    base, state = server
    _serve_catalogue(state)
    code, out = _fetch_cli("--mirror-url", base, "--only", "population_raster")
    assert code == 0, out
    before, seen = _snapshot(cli_env), len(state.requests)
    code, out = _fetch_cli("--list")
    assert code == 0, out
    for source in CATALOGUE:
        assert f"{source.key} (dataset {source.dataset}" in out
        assert source.publisher in out and source.licence in out
        assert (source.url or source.manual or "") in out
    raster = out[out.index("population_raster (dataset") : out.index("roads_osm (dataset")]
    assert "size: 40,000 bytes" in raster and "present: yes:" in raster
    assert "first download's SHA-256 is recorded" in raster  # no pin, and why
    osm = out[out.index("roads_osm (dataset") : out.index("facilities_who (dataset")]
    assert "present: no" in osm and "size: unknown until fetched" in osm
    assert "the publisher's MD5 file" in osm
    assert len(state.requests) == seen and _snapshot(cli_env) == before
    code, out = _fetch_cli("--list", "--only", "conflict")
    assert code == 0 and "conflict (dataset conflict)" in out and "adm0 (dataset" not in out
    code, out = _fetch_cli("--list", "--dry-run")
    assert code == 2 and "choose one" in out


def _steps(out: str) -> dict[str, str]:
    """Dry-run lines by catalogue key."""
    keys = [s.key for s in CATALOGUE]
    found = {}
    for match in re.finditer(r"[·↓→!✗] (\S+): (would [^—]*)— (.*?)(?= [·↓→!✗] \S+: would |$)", out):
        if match[1] in keys:
            found[match[1]] = f"{match[2].strip()} — {match[3]}"
    return found


def test_dry_run_says_what_a_run_would_do_and_touches_nothing(server, cli_env):
    base, state = server
    _serve_catalogue(state)
    conflict = cli_env / "conflict"
    conflict.mkdir(parents=True)
    zip_url = "/ucdp.uu.se/downloads/ged/ged251-csv.zip"
    (conflict / "ged251-csv.zip.part").write_bytes(state.files[zip_url][:100])
    (conflict / "ged251-csv.zip.part.json").write_text(json.dumps({"url": base + zip_url}))
    before = _snapshot(cli_env)
    code, out = _fetch_cli("--dry-run", "--mirror-url", base)
    assert code == 0, out
    assert "nothing is downloaded or written" in out
    steps = _steps(out)
    assert set(steps) == {s.key for s in CATALOGUE if s.default}
    assert steps["adm0"].startswith("would download — ask " + base + "/www.geoboundaries.org/")
    assert f"verify it against the MD5 in {base}/download.geofabrik.de/" in steps["roads_osm"]
    assert "record its SHA-256 (first copy of a versioned file" in steps["population_raster"]
    assert "resume from the 100 bytes already in ged251-csv.zip.part" in steps["conflict"]
    assert "extract ucdp_ged_251_mali.csv" in steps["conflict"]
    assert steps["facilities_healthsites"].startswith("would not fetch")
    assert state.requests == [] and _snapshot(cli_env) == before

    code, out = _fetch_cli("--mirror-url", base)  # the real run does what was announced
    assert code == 0, out
    assert "conflict: resumed and completed" in out
    code, out = _fetch_cli("--dry-run", "--mirror-url", base)
    not_skipped = {
        k: v
        for k, v in _steps(out).items()
        if not v.startswith("would skip — already present and verified")
    }
    assert code == 0 and list(not_skipped) == ["facilities_healthsites", "acled"], not_skipped
    assert not_skipped["acled"].startswith("would not fetch (not fetched by Orienter) — ACLED's")
    only = "conflict,population_raster"
    code, out = _fetch_cli("--dry-run", "--mirror-url", base, "--only", only, "--force")
    steps = _steps(out)
    assert steps["conflict"].startswith("would skip — re-extract ucdp_ged_251_mali.csv from the")
    assert steps["population_raster"].startswith("would download")
    assert "verify it against the SHA-256 the manifest recorded on" in steps["population_raster"]


def test_dry_run_from_a_mirror(cli_env, tmp_path):
    state = ServerState()
    mirror = tmp_path / "mirror"
    _publisher_mirror(mirror, state)
    (mirror / "ged251-csv.zip").unlink()
    before = _snapshot(cli_env.parent)
    code, out = _fetch_cli("--dry-run", "--from", str(mirror))
    assert code == 0, out
    steps = _steps(out)
    assert steps["roads_osm"].startswith(f"would copy — copy {mirror / 'mali-latest.osm.pbf'}")
    assert "verified against the mirror's mali-latest.osm.pbf.md5" in steps["roads_osm"]
    assert "then extract who_kemri_mali_health_facilities.csv" in steps["facilities_who"]
    assert steps["conflict"].startswith("would fail: not in the mirror")
    assert _snapshot(cli_env.parent) == before
