"""Where a source's files are: already in the data directory, in a mirror, or at which URL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from api.build.fetch.files import FetchError
from api.build.fetch.manifest import MANIFEST_NAME, Manifest, matches
from api.build.fetch.outcome import Outcome, Status
from api.build.fetch.sources import Source
from api.build.fetch.transfer import Expected
from api.datasets import DATASETS, find_dataset
from api.settings import Settings

__all__ = [
    "check_present",
    "find_in_mirror",
    "glob_first",
    "mirror_expected",
    "present_file",
    "read_md5",
    "rel",
    "rel_list",
    "rewriter",
]

_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")


def rewriter(mirror_url: str | None) -> Callable[[str], str]:
    if not mirror_url:
        return lambda url: url
    base = mirror_url.rstrip("/")

    def rewrite(url: str) -> str:
        parts = urlsplit(url)
        if base.startswith(f"{parts.scheme}://{parts.netloc}"):
            return url  # already on the mirror
        query = f"?{parts.query}" if parts.query else ""
        return f"{base}/{parts.netloc}{parts.path}{query}"

    return rewrite


def glob_first(directory: Path, patterns: Iterable[str]) -> Path | None:
    if not directory.is_dir():
        return None
    for pattern in patterns:
        for path in sorted(directory.glob(pattern)):
            if path.is_file():
                return path
    return None


def present_file(settings: Settings, source: Source) -> Path | None:
    if source.present_patterns:
        return glob_first(settings.data_dir / source.folder, source.present_patterns)
    return find_dataset(settings, source.dataset)


def check_present(
    settings: Settings, source: Source, manifest: Manifest, *, default_run: bool
) -> Outcome | str | None:
    """An Outcome when nothing needs fetching; a note (str) or None when fetching is due."""
    records = manifest.records_for(source.key)
    data_dir = settings.data_dir
    if records:
        paths = [data_dir / rel for rel in records]
        bad = [rel for rel, rec in records.items() if not matches(data_dir / rel, rec)]
        if not bad:
            return Outcome(source.key, Status.VERIFIED, rel_list(paths), tuple(paths))
        missing = [rel for rel in bad if not (data_dir / rel).exists()]
        if len(missing) < len(bad):
            return f"{', '.join(bad)} changed since Orienter fetched it; fetching again"
        # recorded files are gone: fall through (a user file may now stand in for them)
    target = data_dir / source.folder / source.filename
    found = target if target.is_file() else present_file(settings, source)
    if found is not None:
        return Outcome(source.key, Status.PRESENT, str(found), (found,))
    if default_run:
        for alt in source.alternatives:
            alt_path = find_dataset(settings, alt)
            if alt_path is not None:
                message = (
                    f"{alt_path} is there; to get the {DATASETS[source.dataset].description}, "
                    f"run `orienter data fetch --only {source.key}`"
                )
                return Outcome(source.key, Status.ALTERNATIVE, message, (alt_path,))
    if source.manual:
        return Outcome(source.key, Status.MANUAL, source.manual)
    return None


def rel_list(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def rel(data_dir: Path, path: Path) -> str:
    return path.relative_to(data_dir).as_posix()


def read_md5(client: httpx.Client, url: str) -> Expected:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot read the publisher's checksum file {url}: {exc}") from exc
    if response.status_code != 200:
        raise FetchError(
            f"cannot read the publisher's checksum file {url} (HTTP {response.status_code}); "
            "not downloading a file that cannot be verified"
        )
    match = _MD5.search(response.text)
    if match is None:
        raise FetchError(f"no MD5 digest in the publisher's checksum file {url}")
    return Expected("md5", match.group(1).lower(), f"the publisher's checksum file {url}")


def mirror_expected(mirror: Path, src: Path, manifest: Manifest | None) -> Expected | None:
    md5_file = src.with_name(src.name + ".md5")
    if md5_file.is_file():
        match = _MD5.search(md5_file.read_text(encoding="utf-8", errors="replace"))
        if match:
            return Expected("md5", match.group(1).lower(), f"the mirror's {md5_file.name}")
    if manifest is not None:
        try:
            rec = manifest.files.get(src.relative_to(mirror).as_posix())
        except ValueError:
            rec = None
        if rec and rec.get("sha256"):
            return Expected("sha256", rec["sha256"], f"the mirror's {MANIFEST_NAME}")
    return None


def find_in_mirror(mirror: Path, source: Source) -> list[tuple[Path, bool]]:
    """Files of ``source`` in a mirror, each with True when it is the raw artefact."""
    folder = mirror / source.folder
    names = [source.filename]
    if source.download_name and source.download_name != source.filename:
        names.append(source.download_name)
    for name in names:
        for directory in (folder, mirror):
            path = directory / name
            if path.is_file():
                return [(path, bool(source.unpack) and name == source.download_name)]
    if (mirror / MANIFEST_NAME).is_file():
        recs = Manifest.load(mirror).records_for(source.key)
        paths = [mirror / rel for rel in recs]
        if paths and all(p.is_file() for p in paths):
            return [(p, False) for p in paths]
    patterns = source.present_patterns or DATASETS[source.dataset].patterns
    match = glob_first(folder, patterns)
    if match is None:
        return []
    if match.suffix.lower() == ".shp":  # a shapefile travels with its sidecar files
        siblings = sorted(p for p in folder.glob(f"{match.stem}.*") if p.is_file())
        return [(p, False) for p in siblings]
    return [(match, False)]
