"""Apply the answers of a verification round to the provider directory.

The answers come from a KoboToolbox / ODK export of the round's XLSForm (XLSX with the
repeat on its own sheet, or CSV, XML values and headers) or from a filled paper sheet
(:mod:`geo.rounds`).  Each answered row confirms or changes one record:

- "still operating? yes" -> ``status: operating``; "suspended" -> ``suspended`` since
  the date given (else the date of the check); "closed" -> ``historic``; "could not
  check" or an empty row changes nothing;
- ``last_verified`` becomes the date of the check and ``verified_by`` the organisation
  that ran the round; a confirmed record loses its ``unconfirmed_since`` caveat;
- services, phone, opening hours, languages and confidentiality change when answered
  (an empty cell keeps the value, ``-`` clears it).

Every row is checked before anything is written: unknown ids, two rows for one id that
disagree, values outside the vocabulary, dates in the future and any record the change
would make invalid are refused with the sheet row and the reason.  Nothing is written
unless every row passes, or, with ``skip_invalid``, the valid rows are applied and the
others reported.  The directory is replaced atomically (backup kept) and one JSON line
per changed record is appended to the change log (who, when, record id, field, old,
new).  Free-text notes are never copied: they stay in the returned sheet.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geo.errors import DataFileError, DataProblem, DataValidationError
from geo.provider_schema import SERVICES, parse_date
from geo.provider_sheets import header_key, read_raw_tables
from geo.provider_validation import SITE_PRECISIONS, validate_providers
from geo.providers import atomic_write_text, read_providers, to_feature_collection
from geo.rounds import ANSWER_COLUMNS

__all__ = [
    "ApplyResult",
    "RecordChange",
    "apply_round",
    "change_log_path",
    "plan_round",
    "read_round_answers",
]

_OPERATING = {
    **dict.fromkeys(("yes", "oui", "oui_fonctionne", "yes_operating", "operating"), "yes"),
    **dict.fromkeys(("fonctionne", "en_service", "ouvert", "open"), "yes"),
    **dict.fromkeys(("suspended", "suspendu", "suspendue", "suspension"), "suspended"),
    **dict.fromkeys(("closed", "ferme", "fermee", "closure", "historic"), "closed"),
    **dict.fromkeys(("unknown", "inconnu", "pas_pu_verifier", "could_not_check"), "unknown"),
    **dict.fromkeys(("ne_sait_pas", "nsp", ""), "unknown"),
}
_NEW_STATUS = {"yes": "operating", "suspended": "suspended", "closed": "historic"}
_SERVICE_WORDS = {
    **{s: s for s in SERVICES},
    **dict.fromkeys(("m", "medical", "medicale", "sante"), "medical"),
    **dict.fromkeys(("p", "psychosociale", "psycho_social"), "psychosocial"),
    **dict.fromkeys(("l", "juridique", "legale"), "legal"),
    **dict.fromkeys(("r", "reinsertion", "reinsertion_socio_economique"), "reintegration"),
    **dict.fromkeys(("socio_economic_reintegration",), "reintegration"),
    **dict.fromkeys(("s", "hebergement", "abri"), "shelter"),
}
_YES_NO = {
    **dict.fromkeys(("yes", "oui", "o", "y", "true", "vrai", "1"), True),
    **dict.fromkeys(("no", "non", "n", "false", "faux", "0"), False),
}
_CLEAR = "-"
#: The fields an answer may set, in the order the change log lists them.
_LOGGED_FIELDS = (
    "status",
    "status_date",
    "services",
    "phone",
    "opening_hours",
    "languages",
    "confidential",
    "address",
    "unconfirmed_since",
    "last_verified",
    "verified_by",
)


@dataclass
class RecordChange:
    """What one answer row changes in one record: ``[(field, old, new), ...]``."""

    ident: str
    row: int
    verified_on: str
    by: str
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


@dataclass
class ApplyResult:
    """What :func:`apply_round` did: the changes, refused rows, files written."""

    changes: list[RecordChange] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    written: Path | None = None
    backup: Path | None = None
    log: Path | None = None


# --------------------------------------------------------------------------- reading


def read_round_answers(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The answer rows of a returned round, one per provider, indexed by sheet row.

    Reads the first sheet that has a ``provider_id`` column (a KoboToolbox export puts the
    repeat on its own sheet; group prefixes such as ``provider/`` are dropped).  Only
    :data:`geo.rounds.ANSWER_COLUMNS` and ``verified_by`` are kept; cells are text.

    Raises
    ------
    DataFileError
        Unreadable file, or no sheet with a ``provider_id`` column.
    """
    path = Path(path)
    for table in read_raw_tables(path).values():
        if table.empty:
            continue
        names = [_answer_name(c) for c in table.iloc[0]]
        if "provider_id" not in names:
            continue
        wanted = [*ANSWER_COLUMNS, "verified_by"]
        keep = [i for i, n in enumerate(names) if n in wanted]
        chosen = [names[i] for i in keep]
        duplicated = sorted({n for n in chosen if chosen.count(n) > 1})
        if duplicated:
            raise DataFileError(f"{path}: two columns named {duplicated[0]!r}; keep one")
        data = table.iloc[1:, keep]
        data.columns = chosen
        data.index = pd.RangeIndex(2, 2 + len(data))
        for column in wanted:
            if column not in data.columns:
                data[column] = ""
        return data[wanted]
    raise DataFileError(
        f"{path}: no sheet has a provider_id column; give the round's paper sheet or a "
        "KoboToolbox/ODK export with XML values and headers"
    )


def _answer_name(header: str) -> str:
    last = re.split(r"[/:]", str(header))[-1]
    return header_key(last)


# --------------------------------------------------------------------------- planning


@dataclass
class _Answer:
    row: int
    ident: str
    operating: str
    values: dict[str, Any]
    verified_on: str | None
    by: str | None


def plan_round(
    directory: gpd.GeoDataFrame,
    answers: pd.DataFrame,
    *,
    by: str | None,
    as_of: date,
) -> tuple[gpd.GeoDataFrame, list[RecordChange], list[DataProblem]]:
    """Apply ``answers`` to a copy of ``directory`` and say what changed and what is wrong.

    Parameters
    ----------
    directory
        The provider directory (valid).
    answers
        As :func:`read_round_answers` returns them (index = sheet row).
    by
        The organisation that ran the round (``verified_by``); a ``verified_by`` column
        in ``answers`` is used where this is None.
    as_of
        Today's date: a check cannot be dated after it.

    Returns
    -------
    updated, changes, problems
        The updated directory (every answer applied, valid or not), one
        :class:`RecordChange` per changed record, and the problems (row = sheet row).
    """
    if not isinstance(as_of, date):
        raise TypeError(f"as_of must be a datetime.date, got {as_of!r}")
    ids = {str(v): i for i, v in enumerate(directory["id"])}
    parsed: list[_Answer] = []
    problems: list[DataProblem] = []
    for row, cells in answers.iterrows():
        answer, row_problems = _parse_row(int(str(row)), cells, ids, by, as_of)
        problems += row_problems
        if answer is not None and not row_problems:
            parsed.append(answer)
    parsed, conflicts = _drop_conflicts(parsed)
    problems += conflicts
    updated = directory.copy()
    changes = []
    for answer in parsed:
        change, change_problems = _apply_answer(updated, ids[answer.ident], answer)
        problems += change_problems
        if change.changes:
            changes.append(change)
    problems += _record_problems(updated, changes, as_of)
    return updated, changes, sorted(set(problems), key=lambda p: (p.row or 0, p.field or ""))


def _parse_row(
    row: int, cells: pd.Series, ids: dict[str, int], by: str | None, as_of: date
) -> tuple[_Answer | None, list[DataProblem]]:
    ident = str(cells.get("provider_id", "")).strip()
    answered = {c: str(cells.get(c, "")).strip() for c in ANSWER_COLUMNS if c != "notes"}
    if not any(v for k, v in answered.items() if k != "provider_id"):
        return None, []  # a provider nobody reached
    problems: list[DataProblem] = []

    def bad(field_name: str, reason: str) -> None:
        problems.append(DataProblem(row, field_name, reason, ident or None))

    if not ident:
        bad("provider_id", "missing: which record does this row answer for?")
    elif ident not in ids:
        bad("provider_id", f"unknown id {ident!r}: not in the provider directory")
    operating = _OPERATING.get(header_key(answered["operating"]))
    if operating is None:
        bad("operating", f"{answered['operating']!r}: use oui, suspendu, fermé or inconnu")
    elif operating == "unknown":
        if any(answered[c] for c in ("services", "phone", "opening_hours", "languages")):
            bad("operating", "say whether it still operates (oui, suspendu, fermé)")
        return None, problems
    values = _parse_values(answered, bad, as_of)
    verified_on = _parse_day(answered["verified_on"], "verified_on", bad, as_of, required=True)
    who = by or str(cells.get("verified_by", "")).strip() or None
    if not who:
        bad("verified_by", "who verified? give --by ORG or a verified_by column")
    if problems or operating is None:
        return None, problems
    return _Answer(row, ident, operating, values, verified_on, who), []


def _parse_values(answered: dict[str, str], bad: Any, as_of: date) -> dict[str, Any]:
    values: dict[str, Any] = {}
    status_date = _parse_day(answered["status_date"], "status_date", bad, as_of, required=False)
    if status_date:
        values["status_date"] = status_date
    if answered["services"]:
        tokens = [t for t in re.split(r"[,;\s]+", answered["services"]) if t]
        services = []
        for token in tokens:
            service = _SERVICE_WORDS.get(header_key(token))
            if service is None:
                bad("services", f"unknown service {token!r}; use {', '.join(SERVICES)}")
            elif service not in services:
                services.append(service)
        values["services"] = services
    for column in ("phone", "opening_hours"):
        if answered[column]:
            values[column] = None if answered[column] == _CLEAR else answered[column]
    if answered["languages"]:
        text = answered["languages"]
        values["languages"] = (
            None if text == _CLEAR else [t.strip() for t in re.split(r"[,;]", text) if t.strip()]
        )
    if answered["confidential"]:
        flag = _YES_NO.get(header_key(answered["confidential"]))
        if flag is None:
            bad("confidential", f"{answered['confidential']!r}: use oui or non")
        else:
            values["confidential"] = flag
    return values


def _parse_day(text: str, name: str, bad: Any, as_of: date, *, required: bool) -> str | None:
    if not text:
        if required:
            bad(name, "missing: the date of the call or visit (YYYY-MM-DD)")
        return None
    day = text[:10]  # spreadsheets write "2026-11-20 00:00:00"
    when = parse_date(day) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else None
    if when is None:
        bad(name, f"{text!r} is not a date (YYYY-MM-DD)")
        return None
    if when > as_of:
        bad(name, f"{day} is in the future")
        return None
    return day


def _drop_conflicts(answers: list[_Answer]) -> tuple[list[_Answer], list[DataProblem]]:
    by_id: dict[str, list[_Answer]] = {}
    for answer in answers:
        by_id.setdefault(answer.ident, []).append(answer)
    kept, problems = [], []
    for ident, group in by_id.items():
        distinct = {json.dumps([a.operating, a.values, a.verified_on, a.by]) for a in group}
        if len(distinct) == 1:
            kept.append(group[0])  # the same answer twice is one answer
            continue
        rows = ", ".join(str(a.row) for a in group)
        for answer in group:
            problems.append(
                DataProblem(
                    answer.row,
                    "provider_id",
                    f"conflicting answers for {ident!r} in rows {rows}: keep one row",
                    ident,
                )
            )
    return kept, problems


def _apply_answer(
    directory: gpd.GeoDataFrame, position: int, answer: _Answer
) -> tuple[RecordChange, list[DataProblem]]:
    record = directory.iloc[position]
    new: dict[str, Any] = dict(answer.values)
    new_status = _NEW_STATUS[answer.operating]
    if new_status != record["status"]:
        new["status"] = new_status
        if new_status == "operating":
            new.setdefault("status_date", None)
        else:
            new.setdefault("status_date", answer.verified_on)
    if answer.operating == "yes":
        new["unconfirmed_since"] = None
    new["last_verified"] = answer.verified_on
    new["verified_by"] = answer.by
    problems = []
    if new.get("confidential") is True:
        new["address"], new["phone"] = None, None  # a confidential record carries neither
        if record["location_precision"] in SITE_PRECISIONS:
            problems.append(
                DataProblem(
                    answer.row,
                    "confidential",
                    f"{answer.ident!r} is located at its site ({record['location_precision']}); "
                    "relocate it at its town in the directory before marking it confidential",
                    answer.ident,
                )
            )
    change = RecordChange(answer.ident, answer.row, str(answer.verified_on), str(answer.by))
    column = {c: directory.columns.get_loc(c) for c in _LOGGED_FIELDS}
    for name in _LOGGED_FIELDS:
        if name not in new:
            continue
        old = record[name]
        if _same(old, new[name]):
            continue
        change.changes.append((name, _plain(old), _plain(new[name])))
        directory.iat[position, column[name]] = new[name]
    return change, problems


def _record_problems(
    updated: gpd.GeoDataFrame, changes: list[RecordChange], as_of: date
) -> list[DataProblem]:
    rows = {c.ident: c.row for c in changes}
    problems = []
    for problem in validate_providers(updated, as_of=as_of):
        if problem.ident in rows:
            problems.append(
                DataProblem(rows[problem.ident], problem.field, problem.reason, problem.ident)
            )
    return problems


# --------------------------------------------------------------------------- applying


def change_log_path(directory_path: str | os.PathLike[str]) -> Path:
    """The change log beside a directory file: ``providers.geojson`` ->
    ``providers.changes.jsonl``."""
    path = Path(directory_path)
    return path.with_name(f"{path.stem}.changes.jsonl")


def apply_round(
    answers_path: str | os.PathLike[str],
    directory_path: str | os.PathLike[str],
    *,
    by: str | None,
    now: datetime,
    skip_invalid: bool = False,
    country: BaseGeometry | None = None,
) -> ApplyResult:
    """Apply a returned round to the directory file: all rows or none (or the valid ones).

    Parameters
    ----------
    answers_path
        The round's answers, .xlsx or .csv (:func:`read_round_answers`).
    directory_path
        The provider GeoJSON; replaced atomically, previous version kept as a backup.
    by
        The organisation that ran the round, written to ``verified_by`` and the log.
    now
        The current time (timezone-aware), passed in by the caller: the log's ``when``;
        its date is the latest allowed date of a check.
    skip_invalid
        Apply the valid rows and report the others, instead of writing nothing.
    country
        Mali's outline, to check the directory's points when it is read.

    Returns
    -------
    ApplyResult
        Changes applied, problems, refused rows, files written.

    Raises
    ------
    DataValidationError
        Some rows are invalid and ``skip_invalid`` is false; nothing was written.
    """
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise TypeError(f"now must be a timezone-aware datetime, got {now!r}")
    answers_path, directory_path = Path(answers_path), Path(directory_path)
    as_of = now.date()
    directory = read_providers(directory_path, country=country)
    answers = read_round_answers(answers_path)
    updated, changes, problems = plan_round(directory, answers, by=by, as_of=as_of)
    bad_rows = sorted({p.row for p in problems if p.row is not None})
    result = ApplyResult(problems=problems, skipped_rows=bad_rows)
    if problems and not skip_invalid:
        raise DataValidationError(str(answers_path), problems)
    if bad_rows:  # plan again without the refused rows, so nothing of them is applied
        updated, changes, leftover = plan_round(
            directory, answers.drop(index=bad_rows), by=by, as_of=as_of
        )
        if leftover:  # dropping rows cannot create problems; refuse to write if it did
            raise DataValidationError(str(answers_path), leftover)
    result.changes = changes
    if not changes:
        return result
    log_path = change_log_path(directory_path)
    entries = [_log_entry(c, now, answers_path.name) for c in changes]
    old_log = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
    if old_log and not old_log.endswith("\n"):
        old_log += "\n"
    text = json.dumps(to_feature_collection(updated), ensure_ascii=False, indent=1) + "\n"
    result.backup = atomic_write_text(directory_path, text)
    atomic_write_text(log_path, old_log + "".join(entries), backup=False)
    result.written, result.log = directory_path, log_path
    return result


def _log_entry(change: RecordChange, now: datetime, source: str) -> str:
    entry = {
        "when": now.isoformat(timespec="seconds"),
        "by": change.by,
        "id": change.ident,
        "verified_on": change.verified_on,
        "answers": f"{source}, row {change.row}",
        "changes": [{"field": f, "old": o, "new": n} for f, o, n in change.changes],
    }
    return json.dumps(entry, ensure_ascii=False) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return list(value)
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def _same(old: Any, new: Any) -> bool:
    return _plain(old) == _plain(new)
