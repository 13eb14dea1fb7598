"""Shared fixtures: the real data directory for integration tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The Mali data directory named by ORIENTER_DATA_DIR (default ../shared/data).

    Skips when it is missing on a developer machine; fails under CI=true, where the
    integration tests are required.
    """
    path = Path(os.environ.get("ORIENTER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()
    if not (path / "boundaries").is_dir():
        message = f"data directory not found at {path} (set ORIENTER_DATA_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
