"""Existing sites a what-if may add a centre at: a public provider of the directory, or a
health facility of the WHO/KEMRI list (``GET /api/v1/whatif?add_at=`` / ``add_facility=``,
``orienter site --add-at`` / ``--add-facility``, the ``/planifier`` page).

A :class:`Pick` is the site found: what it is, its id, name and point, and whether the
point is the site itself.  A provider located at its town's, commune's or cercle's point
(location precision other than ``exact`` or ``facility``) is *approximate*: the centre
is then placed at that point, and the answer says so.

Privacy: only public providers can be picked (:func:`geo.providers.public_mask`, on top
of the built layers' public table); a confidential id and an unknown id get the very
same error, so no answer tells that a confidential record exists.  Errors never repeat
the id asked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.datasets import find_dataset
from api.errors import RequestError
from api.settings import Settings
from geo.facilities import TYPE_RANK, read_who_facilities
from geo.nearest import providers_offering
from geo.providers import public_mask
from geo.settlements import normalize_name

__all__ = [
    "APPROXIMATE_NOTE",
    "PRECISE",
    "Pick",
    "facility_pick",
    "provider_pick",
    "read_facilities",
    "search_facilities",
]

#: Location precisions at which a provider's point is the site itself.
PRECISE = ("exact", "facility")
#: What an approximate pick's answer says (``meta.picked.note``).
APPROXIMATE_NOTE = (
    "the provider's location is approximate (location_precision): the centre is placed at "
    "the point of its {precision}, not at the site itself"
)
#: Columns of the facility table (:func:`read_facilities`).
FACILITY_FIELDS = ("id", "name", "type", "adm1_name")


@dataclass(frozen=True)
class Pick:
    """An existing site picked for a new centre: ``kind`` (``provider`` or ``facility``),
    its ``id``, ``name``, point (``lon``, ``lat``, degrees), ``location_precision``,
    whether that point is ``approximate`` and, for a provider, whether it already
    ``offers_service`` (then adding changes nothing)."""

    kind: str
    id: str
    name: str
    lon: float
    lat: float
    location_precision: str
    approximate: bool
    offers_service: bool | None = None

    @property
    def parameter(self) -> str:
        """The what-if parameter that names this kind of site."""
        return "add_at" if self.kind == "provider" else "add_facility"

    @property
    def point(self) -> tuple[float, float]:
        """(lon, lat) where the centre is added."""
        return self.lon, self.lat

    def meta(self) -> dict[str, Any]:
        """What the answer's ``meta.picked`` says about the site."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "lon": round(self.lon, 5),
            "lat": round(self.lat, 5),
            "location_precision": self.location_precision,
            "approximate": self.approximate,
        }
        if self.offers_service is not None:
            out["offers_service"] = self.offers_service
        if self.approximate:
            out["note"] = APPROXIMATE_NOTE.format(precision=self.location_precision)
        return out


def _text(value: object) -> str:
    return "" if value is None or pd.isna(value) else str(value)  # type: ignore[call-overload]


def provider_pick(providers: gpd.GeoDataFrame, provider_id: str, *, service: str) -> Pick:
    """The public, located provider ``provider_id`` of ``providers`` (the built layers'
    public table), as a site for a centre of ``service``; a 422 naming ``add_at``
    otherwise (the same for a confidential id as for an unknown one)."""
    located = ~(providers.geometry.isna() | providers.geometry.is_empty).to_numpy()
    ids = providers["id"].astype(str).to_numpy()
    hit = np.flatnonzero((ids == provider_id) & public_mask(providers) & located)
    if len(hit) == 0:
        raise RequestError(422, "add_at", parameter="add_at")
    j = int(hit[0])
    row = providers.iloc[j]
    precision = _text(row.get("location_precision")) or "unknown"
    offers = bool(providers_offering(providers, service)[j])
    return Pick(
        "provider",
        str(row["id"]),
        str(row["name"]),
        float(row.geometry.x),
        float(row.geometry.y),
        precision,
        precision not in PRECISE,
        offers,
    )


def read_facilities(settings: Settings) -> pd.DataFrame | None:
    """The WHO/KEMRI health facilities (``id``, ``name``, ``type``, ``adm1_name``,
    ``lon``, ``lat``, and ``key``: the name normalised for search), every type; None
    when the data directory has no list."""
    path = find_dataset(settings, "facilities_who")
    if path is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = read_who_facilities(path).to_crs("EPSG:4326")
    out = pd.DataFrame(
        {
            "id": fac["facility_id"].astype(str).to_numpy(),
            "name": fac["name"].astype(str).to_numpy(),
            "type": fac["facility_type"].astype(str).to_numpy(),
            "adm1_name": [_text(v) or None for v in fac["adm1_name"]],
            "lon": fac.geometry.x.to_numpy(),
            "lat": fac.geometry.y.to_numpy(),
        }
    )
    out["key"] = [normalize_name(n) for n in out["name"]]
    rank = out["type"].map(TYPE_RANK).fillna(0).astype(int)
    order = np.lexsort((out["key"].to_numpy(), -rank.to_numpy()))  # hospitals first
    return out.iloc[order].reset_index(drop=True)


def facility_pick(facilities: pd.DataFrame | None, facility_id: str) -> Pick:
    """The health facility ``facility_id`` of :func:`read_facilities`; 503 when there is
    no list, 422 naming ``add_facility`` for an unknown id."""
    if facilities is None:
        raise RequestError(503, "no_candidates")
    hit = np.flatnonzero(facilities["id"].to_numpy() == facility_id)
    if len(hit) == 0:
        raise RequestError(422, "add_facility", parameter="add_facility")
    row = facilities.iloc[int(hit[0])]
    return Pick(
        "facility",
        str(row["id"]),
        str(row["name"]),
        float(row["lon"]),
        float(row["lat"]),
        "facility",
        False,
    )


def search_facilities(facilities: pd.DataFrame, query: str, *, limit: int = 8) -> list[dict]:
    """Health facilities whose name holds every word of ``query`` (accents and case
    ignored), names starting with the query first, then hospitals before health centres;
    :class:`ValueError` when ``query`` holds no letter or digit."""
    words = normalize_name(query).split()
    if not words:
        raise ValueError("query holds no letter or digit")
    keys = facilities["key"]
    found = np.ones(len(facilities), dtype=bool)
    for word in words:
        found &= keys.str.contains(word, regex=False).to_numpy()
    hits = facilities[found]
    starts = hits["key"].str.startswith(words[0]).to_numpy()
    hits = hits.iloc[np.argsort(~starts, kind="stable")].head(limit)
    return [
        {
            "id": r.id,
            "name": r.name,
            "type": r.type,
            "adm1_name": r.adm1_name,
            "lon": round(float(r.lon), 5),
            "lat": round(float(r.lat), 5),
        }
        for r in hits.itertuples()
    ]
