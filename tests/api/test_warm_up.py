"""Start-up warm-up: the tables the pages open with are computed before anyone asks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.choices import LEVELS
from api.http.app import create_app
from api.settings import Settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _warm_up_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == "orienter-warm-up"), None)


def test_warm_up_fills_the_tables_of_every_service_and_level(data_dir, car_build):
    settings = Settings(
        data_dir=data_dir,
        build_dir=car_build,
        providers=REPO / "data" / "providers.geojson",
        warm_up=True,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        thread = _warm_up_thread()
        assert thread is not None, "no warm-up thread started"
        if thread.is_alive():  # health says the first pages would wait
            assert client.get("/api/v1/health").json()["warm_up"] in ("running", "done")
        thread.join(timeout=300)
        assert not thread.is_alive()
        assert client.get("/api/v1/health").json()["warm_up"] == "done"
        analysis = app.state.analysis
        warmed = {(key[0], key[1]) for key in analysis._tables}  # (level, service)
        services = analysis.choices["service"]
        assert {(lv, s) for lv in LEVELS for s in services} <= warmed
        # and the API answers from them
        assert client.get("/api/v1/coverage", params={"level": "adm3"}).status_code == 200


def test_no_warm_up_when_turned_off(data_dir, car_build):
    settings = Settings(data_dir=data_dir, build_dir=car_build, warm_up=False)
    with TestClient(create_app(settings)) as client:
        assert _warm_up_thread() is None
        assert client.get("/api/v1/health").json()["warm_up"] == "off"
