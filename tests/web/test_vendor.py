"""The vendored browser assets are the files the README records, byte for byte, with licences."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor"
README = VENDOR / "README.md"
_LINE = re.compile(r"^([0-9a-f]{64})  (\S+/\S+)$", re.M)


def recorded() -> dict[str, str]:
    """Relative path -> SHA-256, from the per-file list of the README."""
    return {path: digest for digest, path in _LINE.findall(README.read_text(encoding="utf-8"))}


def on_disk() -> list[str]:
    return sorted(
        p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file() and p != README
    )


def test_every_vendored_file_is_recorded_and_every_record_exists() -> None:
    hashes = recorded()
    assert hashes, "no per-file SHA-256 list in web/static/vendor/README.md"
    assert sorted(hashes) == on_disk()
    assert {p for p in hashes if p.endswith((".js", ".css"))} >= {
        "leaflet/leaflet.js",
        "leaflet/leaflet.css",
        "swagger-ui-dist/swagger-ui-bundle.js",
        "swagger-ui-dist/swagger-ui.css",
    }


@pytest.mark.parametrize("relative", on_disk())
def test_vendored_file_matches_its_recorded_sha256(relative: str) -> None:
    digest = hashlib.sha256((VENDOR / relative).read_bytes()).hexdigest()
    assert digest == recorded().get(relative), f"{relative} differs from the README's SHA-256"


def test_each_package_ships_its_licence_and_bundled_notices() -> None:
    for package in {p.split("/", 1)[0] for p in on_disk()}:
        assert (VENDOR / package / "LICENSE").is_file(), package
    for js in VENDOR.rglob("*.js"):
        head = js.read_text(encoding="utf-8", errors="replace")[:300]
        named = re.search(r"license information please see (\S+?)\s*\*/", head)
        if named:  # a webpack bundle naming the file with its third-party licences
            assert (js.parent / named.group(1)).is_file(), f"{js.name} needs {named.group(1)}"
