"""Read service-mapping sheets (CSV or XLSX) by column name or by HXL hashtag.

Humanitarian sheets name their columns in many ways.  :func:`read_sheet` accepts the
directory's field names, common French and English headers (:data:`COLUMN_ALIASES`),
and HXL hashtags (:data:`HXL_TAGS`: ``#org+name``, ``#adm1+code``, ``#geo+lat``,
``#sector`` ...) in a hashtag row under the header or instead of it.  The same hashtag
table is used by :mod:`geo.provider_export` to write HXL, so an exported sheet reads
back.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from geo.errors import DataFileError

__all__ = [
    "COLUMN_ALIASES",
    "HXL_TAGS",
    "HxlTag",
    "find_hashtag_row",
    "header_key",
    "parse_hashtag",
    "read_raw_tables",
    "read_sheet",
    "write_workbook",
]

#: Sheet header (normalised: lower case, no accents, words joined by "_") -> field.
COLUMN_ALIASES: dict[str, str] = {
    **{a: "id" for a in ("id", "identifiant", "provider_id")},
    **{a: "name" for a in ("name", "nom", "organisation", "organization", "structure", "provider")},
    **{a: "type" for a in ("type", "provider_type", "type_de_structure")},
    **{a: "services" for a in ("services", "service", "services_offerts")},
    **{a: "other_services" for a in ("other_services", "autres_services")},
    **{a: "lat" for a in ("lat", "latitude", "y")},
    **{a: "lon" for a in ("lon", "long", "lng", "longitude", "x")},
    **{a: "pcode" for a in ("pcode", "p_code", "settlement_pcode", "code_localite")},
    **{
        a: "settlement"
        for a in ("settlement", "localite", "locality", "town", "ville", "village", "lieu")
    },
    **{a: "region" for a in ("region", "adm1", "admin1", "adm1_pcode")},
    **{a: "adm2_pcode" for a in ("adm2_pcode", "cercle_pcode")},
    **{a: "adm3_pcode" for a in ("adm3_pcode", "commune_pcode")},
    **{a: "address" for a in ("address", "adresse")},
    **{a: "phone" for a in ("phone", "telephone", "tel", "contact")},
    **{a: "opening_hours" for a in ("opening_hours", "horaires", "heures_d_ouverture")},
    **{a: "languages" for a in ("languages", "langues")},
    **{a: "confidential" for a in ("confidential", "confidentiel")},
    **{a: "location_precision" for a in ("location_precision", "precision")},
    **{a: "location_source" for a in ("location_source",)},
    **{a: "source" for a in ("source", "sources")},
    **{a: "source_date" for a in ("source_date", "date_source", "date_de_la_source", "date")},
    **{a: "source_date_note" for a in ("source_date_note",)},
    **{a: "last_verified" for a in ("last_verified", "derniere_verification")},
    **{a: "verified_by" for a in ("verified_by", "verifie_par")},
    **{a: "unconfirmed_since" for a in ("unconfirmed_since", "non_confirme_depuis")},
    **{a: "confidence" for a in ("confidence", "confiance")},
    **{a: "status" for a in ("status", "statut")},
    **{a: "status_date" for a in ("status_date", "date_du_statut")},
    **{a: "same_as" for a in ("same_as", "meme_site_que")},
    **{a: "notes" for a in ("notes", "remarques", "commentaires")},
}


@dataclass(frozen=True)
class HxlTag:
    """One row of :data:`HXL_TAGS`: a hashtag, the attributes it needs, the field."""

    hashtag: str
    attributes: frozenset[str]
    field: str | None  # None: a known tag that Orienter ignores

    @property
    def text(self) -> str:
        """The tag as written in a sheet, e.g. ``#org+name``."""
        return "#" + "+".join([self.hashtag, *sorted(self.attributes)])


def _tag(text: str, field: str | None) -> HxlTag:
    hashtag, attributes = parse_hashtag(text) or ("", frozenset())
    return HxlTag(hashtag, attributes, field)


def parse_hashtag(text: str) -> tuple[str, frozenset[str]] | None:
    """``"#org +name"`` -> ``("org", {"name"})``; None when ``text`` is not an HXL tag."""
    cleaned = re.sub(r"\s+", "", str(text)).lower()
    if not re.fullmatch(r"#[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*", cleaned):
        return None
    hashtag, *attributes = cleaned[1:].split("+")
    return hashtag, frozenset(attributes)


#: HXL hashtags Orienter reads (and writes, first tag of each field).  A sheet's tag
#: matches a row when it has that hashtag and at least the row's attributes
#: (``#org+name+impl`` is a name); the most specific row wins.
HXL_TAGS: tuple[HxlTag, ...] = (
    _tag("#meta+id", "id"),
    _tag("#org+name", "name"),
    _tag("#org+type", "type"),
    _tag("#org+funder", None),
    _tag("#org+prog", None),
    _tag("#org+verifier", "verified_by"),
    _tag("#org", "name"),
    _tag("#sector+services", "services"),
    _tag("#sector+other", "other_services"),
    _tag("#sector+cluster", None),
    _tag("#service+other", "other_services"),
    _tag("#service", "services"),
    _tag("#sector", "services"),
    _tag("#status", "status"),
    _tag("#date+status", "status_date"),
    _tag("#meta+same_as", "same_as"),
    _tag("#adm1+code", "region"),
    _tag("#adm1+name", "region_name"),
    _tag("#adm1", "region"),
    _tag("#adm2+code", "adm2_pcode"),
    _tag("#adm3+code", "adm3_pcode"),
    _tag("#loc+code", "pcode"),
    _tag("#loc+address", "address"),
    _tag("#loc+name", "settlement"),
    _tag("#loc", "settlement"),
    _tag("#geo+lat", "lat"),
    _tag("#geo+lon", "lon"),
    _tag("#contact+address", "address"),
    _tag("#contact+phone", "phone"),
    _tag("#meta+hours", "opening_hours"),
    _tag("#meta+languages", "languages"),
    _tag("#meta+confidential", "confidential"),
    _tag("#meta+precision", "location_precision"),
    _tag("#meta+location_source", "location_source"),
    _tag("#meta+source", "source"),
    _tag("#date+source", "source_date"),
    _tag("#meta+source_date_note", "source_date_note"),
    _tag("#date+verified", "last_verified"),
    _tag("#date+unconfirmed", "unconfirmed_since"),
    _tag("#meta+confidence", "confidence"),
    _tag("#meta+notes", "notes"),
    _tag("#description", "notes"),
    # English versions of the display fields (HXL's language attribute)
    _tag("#org+name+i_en", "name_en"),
    _tag("#loc+name+i_en", "town_en"),
    _tag("#contact+address+i_en", "address_en"),
    _tag("#meta+hours+i_en", "opening_hours_en"),
)
_BY_SPECIFICITY = sorted(HXL_TAGS, key=lambda t: -len(t.attributes))


def hxl_field(text: str) -> str | None:
    """The field an HXL tag means (:data:`HXL_TAGS`), or None (unknown or ignored)."""
    parsed = parse_hashtag(text)
    if parsed is None:
        return None
    hashtag, attributes = parsed
    for tag in _BY_SPECIFICITY:
        if tag.hashtag == hashtag and tag.attributes <= attributes:
            return tag.field
    return None


# --------------------------------------------------------------------------- reading


def read_raw_tables(path: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Every sheet of a CSV or XLSX file as text, without a header (cells "" when empty).

    Returns
    -------
    dict
        Sheet name -> table (``"csv"`` for a CSV file); row i of a table is spreadsheet
        row i + 1.

    Raises
    ------
    DataFileError
        Missing or unreadable file, or an extension other than .csv, .xlsx, .xlsm.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: spreadsheet not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig") as handle:
                first = handle.readline()
            sep = max((",", ";", "\t"), key=first.count)
            tables = {
                "csv": pd.read_csv(
                    path,
                    header=None,
                    dtype=str,
                    keep_default_na=False,
                    encoding="utf-8-sig",
                    sep=sep,
                    skip_blank_lines=False,
                )
            }
        elif suffix in (".xlsx", ".xlsm"):
            tables = pd.read_excel(path, header=None, dtype=str, sheet_name=None, engine="openpyxl")
        else:
            raise DataFileError(f"{path}: unknown spreadsheet type {suffix!r}; use .csv or .xlsx")
    except DataFileError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types on corrupt files
        raise DataFileError(f"{path}: cannot be read as a spreadsheet ({exc})") from exc
    return {
        str(name): table.fillna("").map(lambda v: str(v).strip()) for name, table in tables.items()
    }


def find_hashtag_row(table: pd.DataFrame, *, search_rows: int = 5) -> int | None:
    """Position of the HXL hashtag row among the first rows, or None.

    A hashtag row has at least one cell and every non-empty cell is an HXL tag.
    """
    for position in range(min(search_rows, len(table))):
        cells = [c for c in table.iloc[position] if c]
        if cells and all(parse_hashtag(c) is not None for c in cells):
            return position
    return None


def read_sheet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the first sheet of a CSV or XLSX service-mapping sheet, columns named by field.

    Columns are named by their header (the first row, :data:`COLUMN_ALIASES`) or by
    an HXL hashtag row (:data:`HXL_TAGS`) under the header or instead of it; where both
    exist the hashtag wins and untagged columns keep their header's meaning.  Cells are
    strings ("" when empty).  The index is the spreadsheet row number (header = row 1,
    so without a hashtag row the first data row is 2).  Blank rows are dropped.

    Raises
    ------
    DataFileError
        Missing or unreadable file, unknown extension, two columns meaning one field,
        or no name column.
    """
    path = Path(path)
    table = next(iter(read_raw_tables(path).values()))
    if table.empty:
        raise DataFileError(f"{path}: the sheet is empty")
    tag_row = find_hashtag_row(table)
    header_row = 0 if tag_row != 0 else None
    names: list[str | None] = []
    for position in range(table.shape[1]):
        field = None
        if tag_row is not None:
            field = hxl_field(table.iat[tag_row, position])
        if field is None and header_row is not None and tag_row != header_row:
            key = header_key(table.iat[header_row, position])
            field = COLUMN_ALIASES.get(key, key) or None
        names.append(field)
    first_data = (tag_row if tag_row is not None else 0) + 1
    data = table.iloc[first_data:, :]
    data.index = pd.RangeIndex(first_data + 1, first_data + 1 + len(data))
    seen: dict[str, int] = {}
    keep = []
    for position, field in enumerate(names):
        if field is None:
            continue
        if field in seen:
            raise DataFileError(
                f"{path}: two columns mean {field!r} (columns {seen[field] + 1} and "
                f"{position + 1}); keep one"
            )
        seen[field] = position
        keep.append(position)
    data = data.iloc[:, keep]
    data.columns = [names[p] for p in keep]
    if "name" not in data.columns:
        found = ", ".join(str(c) for c in table.iloc[header_row or 0] if c)
        raise DataFileError(
            f"{path}: no name column; found {found}. Name it 'name', 'nom' or "
            "'organisation', or tag it #org+name"
        )
    blank = data.apply(lambda row: not any(row.to_numpy()), axis=1)
    return data[~blank]


def header_key(text: str) -> str:
    """A header as a lookup key: lower case, no accents, words joined by ``_``."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", ascii_only.lower()).strip("_")


def write_workbook(sheets: dict[str, pd.DataFrame], path: str | os.PathLike[str]) -> Path:
    """Write tables as the sheets of one .xlsx file, atomically (temporary file moved over).

    Columns are sized to their content (at most 60 characters wide).
    """
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"path must end in .xlsx, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            for name, table in sheets.items():
                table.to_excel(writer, sheet_name=name, index=False)
                sheet = writer.sheets[name]
                for i, column in enumerate(table.columns, start=1):
                    width = max([len(str(column)), *(len(str(v)) for v in table[column])])
                    sheet.column_dimensions[sheet.cell(1, i).column_letter].width = min(
                        max(width + 2, 8), 60
                    )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
