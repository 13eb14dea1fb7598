"""docs/python-api.md: every public name of ``geo`` and ``api.services`` has its section
with an example, and every example runs, as written, top to bottom in one session."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import api.services
import geo

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "python-api.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def sections() -> dict[str, str]:
    """Level-3 heading -> its text (up to the next heading)."""
    parts = re.split(r"^(###? .*)$", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def examples() -> list[tuple[str, str]]:
    """(heading, code) of every python block, in the order of the page."""
    intro = re.split(r"^## ", DOC.read_text(encoding="utf-8"), maxsplit=1, flags=re.M)[0]
    out = [("the introduction", code) for code in _BLOCK.findall(intro)]
    for heading, body in sections().items():
        out += [(heading, code) for code in _BLOCK.findall(body)]
    return out


@pytest.mark.parametrize(
    ("package", "name"),
    [("geo", n) for n in geo.__all__] + [("api.services", n) for n in api.services.__all__],
)
def test_every_public_name_has_a_section_with_an_example(package: str, name: str) -> None:
    found = [
        body
        for heading, body in sections().items()
        if heading.startswith("### ") and f"`{name}`" in heading
    ]
    assert found, f"docs/python-api.md has no '### `{name}`' section ({package})"
    blocks = _BLOCK.findall(found[0])
    assert any(name in code for code in blocks), f"the section of {name} has no example using it"


def test_the_page_lists_nothing_that_is_not_exported() -> None:
    public = set(geo.__all__) | set(api.services.__all__)
    for heading in sections():
        if heading.startswith("### "):
            for name in re.findall(r"`([^`]+)`", heading):
                assert name in public, f"docs/python-api.md documents {name}, not exported"


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_every_example_runs(
    car_build: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The examples as a reader runs them from the repository's root: ``build`` is the car
    build, ``../shared/data`` the data directory, ``data/`` the repository's; the one
    example that builds uses a 10 km grid here (seconds, not 80)."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "build").symlink_to(car_build)
    (root / "data").symlink_to(REPO / "data")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(data_dir)
    monkeypatch.chdir(root)
    for name in ("ORIENTER_BUILD_DIR", "ORIENTER_DATA_DIR", "ORIENTER_CASEWORKER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORIENTER_GRID_CELL_M", "10000")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "python_api_docs"}
    blocks = examples()
    assert len(blocks) >= 40  # the page was read
    for heading, code in blocks:
        try:
            exec(compile(code, f"docs/python-api.md {heading}", "exec"), namespace)
        except Exception as exc:  # name the example that broke
            raise AssertionError(f"the example of {heading} fails: {exc!r}") from exc
    import matplotlib.pyplot as plt

    plt.close("all")
    built = namespace["fresh"]
    assert isinstance(built, api.services.Build)
    assert built.build_dir == (root / "new-build").resolve()
