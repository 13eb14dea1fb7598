"""Settlements gazetteer: read OCHA populated places, search them by name.

Search is accent- and case-insensitive, tolerates typos, knows common English
exonyms (Timbuktu) and ranks larger places (capitals) first among equally good
matches, so that "segou" finds the town of Ségou before a village called Ségou.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from geo.crs import ensure_geographic
from geo.errors import DataFileError

__all__ = [
    "EXONYMS",
    "SAME_PLACE_M",
    "SETTLEMENT_COLUMNS",
    "Gazetteer",
    "normalize_name",
    "read_settlements",
]

SETTLEMENT_COLUMNS = [
    "pcode",
    "name",
    "alt_names",
    "place_class",
    "adm1_pcode",
    "adm1_name",
    "adm2_pcode",
    "adm2_name",
    "adm3_pcode",
    "adm3_name",
    "geometry",
]
#: Columns of a search result before lon, lat and score.
_ADMIN_COLUMNS = [
    "pcode",
    "name",
    "adm1_pcode",
    "adm1_name",
    "adm2_pcode",
    "adm2_name",
    "adm3_pcode",
    "adm3_name",
    "place_class",
]
#: English (and older French) names in common use -> the gazetteer's name.
EXONYMS: dict[str, str] = {
    "timbuktu": "tombouctou",
    "timbuctoo": "tombouctou",
    "tombuctu": "tombouctou",
    "koulikouro": "koulikoro",
}
#: Two entries of one name in one commune closer than this are one place (metres).
SAME_PLACE_M = 2000.0
#: Ranking bonus by place class (1 national capital … 5 village), in score points.
_CLASS_BONUS = {1: 8.0, 2: 6.0, 3: 4.0, 4: 2.0, 5: 0.0}
_OCHA_REQUIRED = ["featureNam", "pcode", "admin1Pcod", "admin2Pcod", "admin3Pcod"]


def normalize_name(text: str) -> str:
    """Lower-case, strip accents, punctuation to spaces: ``"Ségou-Koura"`` -> ``"segou koura"``."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", ascii_only.lower()).strip()


def read_settlements(path: str | Path) -> gpd.GeoDataFrame:
    """Read the OCHA populated places (COD-PP) layer into the settlements schema.

    Raises
    ------
    DataFileError
        The file is missing or unreadable, or lacks the OCHA columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: settlements file not found")
    try:
        raw = gpd.read_file(path)
    except Exception as exc:
        raise DataFileError(f"{path}: cannot be read as a vector layer ({exc})") from exc
    missing = [c for c in _OCHA_REQUIRED if c not in raw.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)}")
    alt_cols = [c for c in ("featureRef", "featureAlt", "featureA_1") if c in raw.columns]

    def alts(row: pd.Series) -> str:
        names = {str(row[c]) for c in alt_cols if pd.notna(row[c]) and str(row[c]).strip()}
        names.discard(str(row["featureNam"]))
        return "; ".join(sorted(names))

    out = gpd.GeoDataFrame(
        {
            "pcode": raw["pcode"].astype("string"),
            "name": raw["featureNam"].astype("string"),
            "alt_names": raw.apply(alts, axis=1).astype("string"),
            "place_class": pd.to_numeric(raw.get("popPlaceCl", 5), errors="coerce")
            .fillna(5)
            .astype("int8"),
            "adm1_pcode": raw["admin1Pcod"].astype("string"),
            "adm1_name": raw.get("admin1Name", pd.Series(pd.NA, index=raw.index)).astype("string"),
            "adm2_pcode": raw["admin2Pcod"].astype("string"),
            "adm2_name": raw.get("admin2Name", pd.Series(pd.NA, index=raw.index)).astype("string"),
            "adm3_pcode": raw["admin3Pcod"].astype("string"),
            "adm3_name": raw.get("admin3Name", pd.Series(pd.NA, index=raw.index)).astype("string"),
        },
        geometry=raw.geometry.values,
        crs=raw.crs,
    )
    out = out[out.geometry.notna() & ~out.geometry.is_empty]
    return ensure_geographic(out, source=str(path))[SETTLEMENT_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class Gazetteer:
    """A name index over settlements; build it once with :meth:`from_settlements`."""

    places: gpd.GeoDataFrame
    keys: tuple[str, ...]
    keys_array: np.ndarray
    key_rows: np.ndarray

    @classmethod
    def from_settlements(cls, settlements: gpd.GeoDataFrame) -> Gazetteer:
        """Index every name and alternative name of ``settlements`` (settlements schema)."""
        missing = [c for c in SETTLEMENT_COLUMNS if c not in settlements.columns]
        if missing:
            raise ValueError(f"settlements lacks column(s) {missing}; use read_settlements()")
        places = settlements.reset_index(drop=True)
        keys: list[str] = []
        rows: list[int] = []
        for i, (name, alt) in enumerate(zip(places["name"], places["alt_names"], strict=True)):
            names = {normalize_name(name)}
            if pd.notna(alt) and alt:
                names |= {normalize_name(a) for a in str(alt).split(";")}
            for key in names - {""}:
                keys.append(key)
                rows.append(i)
        return cls(
            places=places,
            keys=tuple(keys),
            keys_array=np.asarray(keys, dtype=str),
            key_rows=np.asarray(rows, dtype=np.int64),
        )

    def lookup_pcode(self, pcode: str) -> pd.Series | None:
        """The settlement with P-code ``pcode`` (case-insensitive), or None."""
        hit = self.places[self.places["pcode"].str.upper() == str(pcode).strip().upper()]
        return None if hit.empty else hit.iloc[0]

    def _distinct(self, rows: np.ndarray, order: np.ndarray, limit: int) -> np.ndarray:
        """The first ``limit`` of ``order`` with duplicates merged: a place listed twice
        by the gazetteer (same name, same commune, within :data:`SAME_PLACE_M`; "Konna"
        as a town and as a village at one point) is kept once, its better-ranked entry."""
        places = self.places
        kept: list[int] = []
        seen: list[tuple[str, str, float, float]] = []
        for i in order:
            row = places.iloc[int(rows[i])]
            key = (normalize_name(row["name"]), str(row["adm3_pcode"]))
            x, y = float(row.geometry.x), float(row.geometry.y)
            if any(
                (k, c) == key and _metres(x, y, kx, ky) <= SAME_PLACE_M for k, c, kx, ky in seen
            ):
                continue
            seen.append((*key, x, y))
            kept.append(int(i))
            if len(kept) == limit:
                break
        return np.asarray(kept, dtype=np.int64)

    def resolve(self, query: str) -> dict | None:
        """One place for ``query``, a P-code (``ML050109007``) or a name; None when none matches.

        Returns a dict with name, pcode, adm1, adm2 and adm3 (names), adm1_pcode,
        adm2_pcode, adm3_pcode, lon, lat and score (100 for a P-code).
        """
        text = str(query).strip()
        if text.upper().startswith("ML") and text[2:].isdigit():
            hit = self.lookup_pcode(text)
            if hit is None:
                return None
            return _place(hit, float(hit.geometry.x), float(hit.geometry.y), 100.0)
        found = self.search(text, limit=1)
        if found.empty:
            return None
        best = found.iloc[0]
        return _place(best, float(best["lon"]), float(best["lat"]), float(best["score"]))

    def search(
        self, query: str, *, region: str | None = None, limit: int = 10, min_score: float = 70.0
    ) -> pd.DataFrame:
        """Best matches for ``query``, best first.

        Parameters
        ----------
        query
            A place name, any case, with or without accents, with small typos.
        region
            Restrict to one région (ADM1 P-code such as ``ML05``) or cercle (ADM2 P-code).
        limit
            At most this many results (1–100).
        min_score
            Drop matches whose similarity (0–100) is below this.

        Returns
        -------
        pandas.DataFrame
            Columns pcode, name, adm1_pcode, adm1_name, adm2_pcode, adm2_name, adm3_pcode,
            adm3_name, place_class, lon, lat, score (similarity 0–100).
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be 1 to 100, got {limit}")
        norm = normalize_name(query)
        if not norm:
            raise ValueError(f"query {query!r} holds no letters or digits")
        norm = EXONYMS.get(norm, norm)
        allowed = None
        if region:
            code = region.strip().upper()
            col = "adm1_pcode" if len(code) <= 4 else "adm2_pcode"
            allowed = set(np.flatnonzero((self.places[col].str.upper() == code).to_numpy()))
            if not allowed:
                raise ValueError(
                    f"region {region!r} matches no settlement; give an ADM1/ADM2 P-code"
                )
        keys = self.keys_array
        best: dict[int, float] = {}
        for _key, score, key_index in process.extract(
            norm, self.keys, scorer=fuzz.ratio, limit=max(200, limit * 20), score_cutoff=min_score
        ):
            row = int(self.key_rows[key_index])
            best[row] = max(best.get(row, 0.0), float(score))
        # exact names, whole-word prefixes ("segou" -> "segou koura") and, for
        # autocomplete, partial prefixes ("seva" -> "sevare")
        for mask, score in (
            (keys == norm, 100.0),
            (np.char.startswith(keys, norm + " "), 95.0),
            (np.char.startswith(keys, norm), 90.0),
        ):
            for row in self.key_rows[np.flatnonzero(mask)]:
                best[int(row)] = max(best.get(int(row), 0.0), score)
        if allowed is not None:
            best = {row: s for row, s in best.items() if row in allowed}
        if not best:
            return _empty_result()
        rows = np.fromiter(best, dtype=np.int64)
        scores = np.fromiter(best.values(), dtype=np.float64)
        klass = self.places["place_class"].to_numpy()[rows]
        rank = scores + np.vectorize(_CLASS_BONUS.get)(klass, 0.0)
        order = self._distinct(rows, np.lexsort((klass, -rank)), limit)
        picked = self.places.iloc[rows[order]]
        result = pd.DataFrame(picked[_ADMIN_COLUMNS]).reset_index(drop=True)
        result["lon"] = picked.geometry.x.to_numpy()
        result["lat"] = picked.geometry.y.to_numpy()
        result["score"] = np.round(scores[order], 1)
        return result


def _place(row: pd.Series, lon: float, lat: float, score: float) -> dict:
    """One settlement as :meth:`Gazetteer.resolve` gives it."""

    def text(column: str) -> str | None:
        value = row.get(column)
        return None if value is None or pd.isna(value) else str(value)

    return {
        "name": str(row["name"]),
        "pcode": str(row["pcode"]),
        "adm1": text("adm1_name"),
        "adm1_pcode": text("adm1_pcode"),
        "adm2": text("adm2_name"),
        "adm2_pcode": text("adm2_pcode"),
        "adm3": text("adm3_name"),
        "adm3_pcode": text("adm3_pcode"),
        "lon": lon,
        "lat": lat,
        "score": score,
    }


def _metres(x0: float, y0: float, x1: float, y1: float) -> float:
    """Approximate metres between two points in degrees (equirectangular; short ranges)."""
    k = 111_320.0
    dx = (x1 - x0) * k * np.cos(np.radians((y0 + y1) / 2))
    return float(np.hypot(dx, (y1 - y0) * k))


def _empty_result() -> pd.DataFrame:
    return pd.DataFrame(columns=[*_ADMIN_COLUMNS, "lon", "lat", "score"])
