"""One list of health facilities from two: WHO/KEMRI and healthsites.io (OSM) matched.

A facility both lists hold is kept once (the WHO record, completed from OSM); see
:func:`merge_facilities`.
"""

from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from scipy.spatial import cKDTree

from geo.crs import METRIC_CRS, check_same_crs
from geo.facilities import FACILITY_COLUMNS, same_kind
from geo.settlements import normalize_name

__all__ = ["merge_facilities"]

logger = logging.getLogger(__name__)

_GENERIC_WORDS = re.compile(
    r"\b(community|referral|health|centre|center|centre de sante|sante|communautaire|de|du|des|"
    r"la|le|les|d|l|reference|cscom|csref|cs|com|ref|clinique|clinic|cabinet|medical|medicale|"
    r"hopital|hospital|polyclinique|polyclinic|chu|regional)\b"
)
_GENERIC_TYPES = {"clinic", "doctors", "other"}
_NOT_CARE = {"pharmacy", "dentist"}


def _compatible(who_type: str, osm_type: str) -> bool:
    """Whether a WHO and an OSM type can describe one facility.

    Equal types, two hospital types, or a generic type (clinic, doctors, other: OSM
    mappers use them for every level) against any type that is not a pharmacy/dentist.
    """
    if same_kind(who_type, osm_type):
        return True
    generic = who_type in _GENERIC_TYPES or osm_type in _GENERIC_TYPES
    return generic and who_type not in _NOT_CARE and osm_type not in _NOT_CARE


def _name_key(name: object) -> str:
    """A facility name without accents, case, punctuation and generic words."""
    if not isinstance(name, str):
        return ""
    return " ".join(_GENERIC_WORDS.sub(" ", normalize_name(name)).split())


def merge_facilities(
    who: gpd.GeoDataFrame,
    healthsites: gpd.GeoDataFrame,
    *,
    tolerance_m: float = 250.0,
    min_name_similarity: float = 80.0,
) -> gpd.GeoDataFrame:
    """Combine WHO/KEMRI and healthsites.io facilities, matching the same place once.

    A healthsites facility matches the nearest WHO facility that lies within
    ``tolerance_m``, is of a compatible type (equal, two hospital types, or OSM's generic
    clinic/doctors against any level of care; a CSCom never matches a CSRéf, a pharmacy
    only a pharmacy) and whose name is similar once generic words
    (centre, santé, CSCom, clinique, hôpital …) are removed (rapidfuzz
    ``token_set_ratio`` ≥ ``min_name_similarity``).  Each WHO facility matches at most one
    healthsites facility (the nearest).  Matched WHO rows keep their id, name and type,
    take missing operator/contact/opening hours from OSM, list the OSM id in
    ``merged_ids`` and name both sources; unmatched healthsites rows are appended.

    Parameters
    ----------
    who, healthsites
        Outputs of :func:`geo.facilities.read_who_facilities` and
        :func:`geo.facilities.read_healthsites` (same CRS).
    tolerance_m
        Largest distance between matched points, metres.
    min_name_similarity
        Smallest name similarity for a match, 0–100.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`FACILITY_COLUMNS`, WHO rows first.
    """
    for arg, value in (("who", who), ("healthsites", healthsites)):
        if not isinstance(value, gpd.GeoDataFrame):
            raise TypeError(f"{arg} must be a GeoDataFrame, got {type(value).__name__}")
        missing = [c for c in FACILITY_COLUMNS if c not in value.columns]
        if missing:
            raise ValueError(
                f"{arg} lacks facility column(s) {missing}; load it with geo.facilities"
            )
    if not tolerance_m >= 0:
        raise ValueError(f"tolerance_m must be >= 0 metres, got {tolerance_m!r}")
    if not 0 <= min_name_similarity <= 100:
        raise ValueError(f"min_name_similarity must be 0-100, got {min_name_similarity!r}")
    check_same_crs(who, healthsites, what="merge_facilities")
    who = who.reset_index(drop=True)
    healthsites = healthsites.reset_index(drop=True)
    if who.empty or healthsites.empty:
        return pd.concat([who, healthsites], ignore_index=True)[FACILITY_COLUMNS]

    who_xy = who.geometry.to_crs(METRIC_CRS).get_coordinates().to_numpy()
    hs_xy = healthsites.geometry.to_crs(METRIC_CRS).get_coordinates().to_numpy()
    who_type = who["facility_type"].astype(str).to_numpy()
    who_key = who["name"].map(_name_key)
    candidates: list[tuple[float, int, int]] = []
    tree = cKDTree(who_xy)
    for h, near in enumerate(tree.query_ball_point(hs_xy, tolerance_m)):
        osm_type = str(healthsites["facility_type"].iloc[h])
        key = _name_key(healthsites["name"].iloc[h])
        for w in near:
            if not _compatible(who_type[w], osm_type) or not key or not who_key.iloc[w]:
                continue
            if fuzz.token_set_ratio(key, who_key.iloc[w]) >= min_name_similarity:
                distance = float(np.hypot(*(hs_xy[h] - who_xy[w])))
                candidates.append((distance, h, w))
    used_who: set[int] = set()
    used_hs: set[int] = set()
    out = who.copy()
    for _, h, w in sorted(candidates):
        if h in used_hs or w in used_who:
            continue
        used_hs.add(h)
        used_who.add(w)
        for column in ("operator", "contact_number", "opening_hours"):
            if pd.isna(out.at[w, column]):
                out.at[w, column] = healthsites.at[h, column]
        ids = [i for i in (out.at[w, "merged_ids"], healthsites.at[h, "facility_id"]) if i]
        out.at[w, "merged_ids"] = "; ".join(str(i) for i in ids)
        out.at[w, "source"] = f"{out.at[w, 'source']}; {healthsites.at[h, 'source']}"
    logger.info("merge_facilities: %d healthsites facilities matched WHO ones", len(used_hs))
    rest = healthsites.drop(index=sorted(used_hs))
    merged = pd.concat([out, rest], ignore_index=True)
    return gpd.GeoDataFrame(merged[FACILITY_COLUMNS], geometry="geometry", crs=who.crs)
