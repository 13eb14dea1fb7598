"""`orienter export`: one GeoPackage of Orienter's public layers that opens styled in QGIS.

Usage::

    from api.services.export import ExportRequest, export_package

    report = export_package(settings, ExportRequest(out=Path("orienter_mali.gpkg")))
    report.files      # the GeoPackage, then the COGs and their .qml styles beside it

The GeoPackage holds the vector layers (public providers, coverage per admin level,
isochrones, conflict zones, service deserts), the rasters (travel time, population) as
tiled gridded coverages, the ``layer_styles`` table QGIS reads default styles from, and
``orienter_metadata`` (what every layer rests on, in French and English).  Beside it, each
raster is also written as a Cloud-Optimised GeoTIFF with a ``.qml`` of the same name.

Confidentiality: every layer is public.  Providers come through
:func:`geo.providers.public_providers`; surfaces, deserts and isochrones from
``surfaces/public/``; coverage figures from :class:`~api.services.analysis.Analysis`
(public providers only); conflict zones carry aggregates only.  Before the files are put
in place, :func:`verify_public` reads the written GeoPackage back and refuses it if any
provider id outside the public directory appears in it.

Errors: :class:`ExportUsageError` (a bad option: the CLI exits 2), :class:`NotBuiltChoiceError`
and ``NotBuiltError`` / :class:`~geo.errors.DataFileError` (data missing: exit 1).  Writes are
atomic: every file goes to a temporary directory beside ``out`` and is moved into place
only when all are written and checked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio

from api.build.pipeline import SERVICE_KEYS
from api.choices import ChoiceError
from api.services.analysis import Analysis
from api.services.export_layers import (
    LEVELS,
    THRESHOLDS_MIN,
    ExportRequest,
    RasterLayer,
    VectorLayer,
    collect_layers,
)
from api.settings import Settings
from geo.errors import DataFileError
from geo.geopackage import (
    LayerStyle,
    write_cog,
    write_gpkg_raster,
    write_layer_styles,
    write_vector_layer,
)
from geo.providers import public_mask, read_providers
from geo.speeds import read_speed_table
from geo.zones import SCENARIOS
from web.i18n import LANGS

__all__ = [
    "LEVELS",
    "METADATA_TABLE",
    "THRESHOLDS_MIN",
    "ExportRefusedError",
    "ExportReport",
    "ExportRequest",
    "ExportUsageError",
    "NotBuiltChoiceError",
    "check_request",
    "export_package",
    "verify_public",
]

METADATA_TABLE = "orienter_metadata"
Progress = Callable[[str], None]


class ExportUsageError(ValueError):
    """A bad option value; ``option`` names it (``--service``, ``--out`` ...)."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(f"{option} {message}")


class NotBuiltChoiceError(DataFileError):
    """A known mode or scenario that the build directory does not hold."""

    def __init__(self, option: str, value: str, built: tuple[str, ...], root: Path) -> None:
        self.option = option
        hint = f"run `orienter build --{option.lstrip('-')} {value}`"
        if option == "--scenario":
            hint = "build with conflict data (the scenarios need conflict events)"
        super().__init__(
            f"{option} {value!r} is not built in {root} (built: {', '.join(built) or 'none'}); "
            + hint
        )


class ExportRefusedError(DataFileError):
    """The written file failed the confidentiality check (nothing is put in place)."""


@dataclass
class ExportReport:
    """What an export wrote and how long it took."""

    out: Path
    files: list[Path] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    rasters: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def size_bytes(self) -> int:
        """Bytes of every file written."""
        return sum(p.stat().st_size for p in self.files if p.is_file())


def check_request(request: ExportRequest, *, known_modes: tuple[str, ...] = ()) -> None:
    """Raise :class:`ExportUsageError` for an option no build could satisfy.

    Checked before any data is read: ``--out`` (a ``.gpkg`` in a writable directory),
    ``--service``, ``--level``, ``--threshold-min``, ``--lang``, and ``--mode`` /
    ``--scenario`` when they are in no speed table (``known_modes``) or scenario list.
    """
    out = request.out
    if out.suffix.lower() != ".gpkg":
        raise ExportUsageError("--out", f"{out}: the export is a GeoPackage; end the name in .gpkg")
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise ExportUsageError("--out", f"{out}: is a directory")
    if not parent.is_dir():
        raise ExportUsageError("--out", f"{out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ExportUsageError("--out", f"{out}: directory {parent} is not writable")
    choices = {
        "--service": (request.service, SERVICE_KEYS),
        "--scenario": (request.scenario, SCENARIOS),
        "--lang": (request.lang, LANGS),
    }
    if known_modes:
        choices["--mode"] = (request.mode, known_modes)
    for option, (value, allowed) in choices.items():
        if value not in allowed:
            raise ExportUsageError(option, f"{value!r}: use one of {', '.join(allowed)}")
    bad = [lvl for lvl in request.levels if lvl not in LEVELS]
    if bad or not request.levels:
        raise ExportUsageError("--level", f"{bad or 'none'}: use adm1, adm2 and/or adm3")
    if request.threshold_min not in THRESHOLDS_MIN:
        raise ExportUsageError(
            "--threshold-min",
            f"{request.threshold_min:g}: use one of {', '.join(map(str, THRESHOLDS_MIN))} "
            "(the coverage thresholds)",
        )
    if not request.min_desert_population >= 0:
        raise ExportUsageError("--min-desert-population", "must be >= 0")


def _known_modes(settings: Settings) -> tuple[str, ...]:
    try:
        return tuple(read_speed_table(settings.speeds, profile=settings.speed_profile).modes)
    except (OSError, ValueError):
        return ()  # a bad speed table is the build's concern; rely on the manifest


def _check_built(analysis: Analysis, request: ExportRequest, root: Path) -> None:
    try:
        analysis.check(mode=request.mode, scenario=request.scenario)
    except ChoiceError as exc:
        raise NotBuiltChoiceError(f"--{exc.parameter}", str(exc.value), exc.allowed, root) from exc


# --------------------------------------------------------------------------- writing


def _write_gpkg(
    path: Path,
    vectors: list[VectorLayer],
    rasters: list[RasterLayer],
    meta: pd.DataFrame,
    lang: str,
) -> None:
    styles = []
    for layer in vectors:
        write_vector_layer(
            path,
            layer.frame,
            layer.name,
            title=layer.title[lang],
            description=layer.description[lang],
        )
        styles.append(LayerStyle(layer.name, layer.qml, layer.name, layer.title[lang]))
    for raster in rasters:
        write_gpkg_raster(
            path,
            raster.band,
            table=raster.name,
            transform=raster.transform,
            crs=raster.crs,
            nodata=np.nan,
            title=raster.title[lang],
            description=raster.description[lang],
        )
        styles.append(
            LayerStyle(raster.name, raster.qml, raster.name, raster.title[lang], geometry_column="")
        )
    write_vector_layer(
        path, meta, METADATA_TABLE, title=METADATA_TABLE, description=str(meta.attrs["title"])
    )
    write_layer_styles(path, styles)


def _write_cogs(directory: Path, stem: str, rasters: list[RasterLayer]) -> list[Path]:
    names = []
    for raster in rasters:
        tif = directory / f"{stem}_{raster.name}.tif"
        write_cog(
            tif,
            raster.band,
            transform=raster.transform,
            crs=raster.crs,
            nodata=np.nan,
            tags=raster.tags,
            band_description=raster.tags.get("units", ""),
        )
        qml = tif.with_suffix(".qml")
        qml.write_text(raster.qml, encoding="utf-8")
        names += [tif, qml]
    return names


def verify_public(path: Path, public_ids: set[str], hidden_ids: set[str]) -> None:
    """Raise :class:`ExportRefusedError` if a written GeoPackage names a non-public provider.

    Every ``id`` of the providers layer and every ``nearest_provider_id`` must be a
    public id, and no text cell of any table may equal a non-public id.
    """
    for name, _ in pyogrio.list_layers(path):
        frame = pyogrio.read_dataframe(path, layer=name, read_geometry=False)
        for column in ("id", "nearest_provider_id"):
            if column not in frame.columns or (column == "id" and name != "providers"):
                continue
            ids = {str(v) for v in frame[column].dropna()}
            if not ids <= public_ids:
                raise ExportRefusedError(
                    f"export refused: layer {name} names {len(ids - public_ids)} provider(s) "
                    f"that are not public in the directory ({column}); rebuild with it"
                )
        text = frame.select_dtypes(include=["object", "string"])
        values = {str(v) for column in text.columns for v in text[column].dropna()}
        if values & hidden_ids:
            raise ExportRefusedError(f"export refused: layer {name} holds a non-public provider id")


def _directory_ids(settings: Settings) -> tuple[set[str], set[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        directory = read_providers(settings.providers)
    mask = public_mask(directory)
    ids = directory["id"].astype(str)
    return set(ids[mask]), set(ids[~mask])


def _move_into_place(staged: list[Path], out: Path) -> list[Path]:
    """Move the staged files beside ``out`` (rasters and styles first, the GeoPackage last)."""
    placed = []
    for path in sorted(staged, key=lambda p: p.suffix == ".gpkg"):
        target = out.with_name(path.name) if path.suffix != ".gpkg" else out
        os.replace(path, target)
        os.chmod(target, 0o644)  # files to share, not mkstemp's private 0600
        placed.append(target)
    return placed


def export_package(
    settings: Settings, request: ExportRequest, *, progress: Progress | None = None
) -> ExportReport:
    """Write the GeoPackage ``request.out``, its COGs and their styles (see the module doc)."""
    started = time.perf_counter()
    note = progress or (lambda step: None)
    check_request(request, known_modes=_known_modes(settings))
    root = settings.build_dir
    analysis = Analysis.load(settings)
    _check_built(analysis, request, root)
    public_ids, hidden_ids = _directory_ids(settings)
    exported_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    vectors, rasters, meta, notes = collect_layers(
        settings, analysis, request, public_ids=public_ids, exported_at=exported_at, note=note
    )
    out = request.out
    staging = Path(tempfile.mkdtemp(dir=out.parent or Path("."), prefix=f".{out.name}."))
    try:
        gpkg = staging / out.name
        note("writing the GeoPackage")
        _write_gpkg(gpkg, vectors, rasters, meta, request.lang)
        note("writing the Cloud-Optimised GeoTIFFs")
        staged = [gpkg, *_write_cogs(staging, out.stem, rasters)]
        verify_public(gpkg, public_ids, hidden_ids)
        placed = _move_into_place(staged, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportReport(
        out=out,
        files=[out, *(p for p in placed if p != out)],
        layers=[v.name for v in vectors],
        rasters=[r.name for r in rasters],
        notes=notes,
        seconds=time.perf_counter() - started,
    )
