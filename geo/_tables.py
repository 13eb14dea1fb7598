"""Reading tabular source files (CSV, Excel) with errors that name the file and columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geo.errors import DataFileError

__all__ = ["read_table", "require_columns", "text_column"]


def read_table(path: Path, *, what: str) -> pd.DataFrame:
    """Every cell as a string (empty cells NA); ``what`` names the kind of file in errors."""
    if not path.is_file():
        raise DataFileError(f"{path}: {what} not found")
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            return pd.read_excel(path, dtype=str)
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # pandas raises several types for corrupt files
        raise DataFileError(f"{path}: cannot be read as a table ({exc})") from exc


def require_columns(df: pd.DataFrame, columns: list[str], path: Path, what: str) -> None:
    """Raise :class:`DataFileError` naming every column of ``columns`` missing from ``df``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataFileError(
            f"{path}: {what} file lacks required column(s) {', '.join(missing)}; "
            f"columns are {list(df.columns)}"
        )


def text_column(df: pd.DataFrame, column: str) -> pd.Series:
    """A column as stripped strings (NA for empty); all NA when the column is absent."""
    if column not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype="string")
    out = df[column].astype("string").str.strip()
    return out.mask(out == "")
