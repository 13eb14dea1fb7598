"""Browser fixtures: Debian's chromium driven by Playwright against a real ``orienter serve``.

``chromium`` skips on a developer machine without /usr/bin/chromium (or the playwright
package) and fails under CI=true, where the browser test is required (``.ci/run``
installs chromium).  The browser context blocks every request that does not go to the
local server, so a page that needs the internet (a CDN script, a font) shows up as
broken; map tiles are blocked too, which is the offline case the pages must handle.
Screenshots go to ``ORIENTER_TEST_ARTIFACTS`` (default ``test-artifacts/browser`` in
the repository, git-ignored).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
#: The one caseworker token the served app accepts (its SHA-256 is configured).
CASEWORKER_TOKEN = "browser-test-caseworker-token"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where the browser tests save their screenshots (kept after the run)."""
    path = Path(os.environ.get("ORIENTER_TEST_ARTIFACTS", REPO / "test-artifacts" / "browser"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def served_app(data_dir: Path, car_build: Path, tmp_path_factory) -> Iterator[str]:
    """Base URL of a real ``orienter serve`` on a free port, serving the session car build."""
    port = _free_port()
    env = {
        **os.environ,
        "ORIENTER_DATA_DIR": str(data_dir),
        "ORIENTER_BUILD_DIR": str(car_build),
        "ORIENTER_PROVIDERS": str(REPO / "data" / "providers.geojson"),
        "ORIENTER_BOUNDARIES_DIR": str(car_build / "no-user-boundaries"),
        "ORIENTER_CASEWORKER_TOKEN_HASHES": json.dumps(
            [hashlib.sha256(CASEWORKER_TOKEN.encode()).hexdigest()]
        ),
    }
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    orienter = Path(sys.executable).with_name("orienter")
    command = [str(orienter)] if orienter.exists() else [sys.executable, "-m", "api.cli"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"orienter serve exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"orienter serve did not answer in 180 s: {log_path.read_text()}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def caseworker_token() -> str:
    """A caseworker token ``served_app`` accepts."""
    return CASEWORKER_TOKEN


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian chromium driven by Playwright (skips/fails when missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        _missing(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def offline_page(chromium, served_app):
    """A fresh page whose requests reach only the local server; ``page.blocked`` lists
    the outside URLs that were refused and ``page.errors`` the script errors."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    blocked: list[str] = []

    def only_local(route):
        if route.request.url.startswith(served_app + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.blocked = blocked
    page.errors = errors
    page.base = served_app
    yield page
    context.close()
