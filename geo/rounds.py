"""Verification rounds: a pre-filled XLSForm (KoboToolbox / ODK) and a paper sheet.

A GBV sub-cluster checks its service mapping in rounds: someone calls or visits each
provider of a région and notes whether it still operates and what changed.
:func:`round_form_sheets` builds an XLSForm (sheets ``survey``, ``choices``,
``settings``) with one repeat per provider, already filled with the provider's id, name,
town and current values; :func:`round_paper_sheet` builds the same questions as a
plain table for rounds on paper.  Both use the same answer column names, so
:func:`geo.round_apply.apply_round` reads a KoboToolbox / ODK export or a filled paper
sheet alike.

Nothing in a round asks for, or should hold, information about a survivor.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.provider_schema import ADM1_2015, normalize_name
from geo.provider_sheets import write_workbook
from geo.providers import public_mask

__all__ = [
    "ANSWER_COLUMNS",
    "OPERATING_CHOICES",
    "region_pcode",
    "round_form_sheets",
    "round_paper_sheet",
    "round_records",
    "write_round_form",
    "write_round_paper",
]

FR, EN = "Français (fr)", "English (en)"
#: Answers to "still operating?" (name, French label, English label).
OPERATING_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("yes", "Oui, fonctionne", "Yes, operating"),
    ("suspended", "Suspendu", "Suspended"),
    ("closed", "Fermé", "Closed"),
    ("unknown", "Pas pu vérifier", "Could not check"),
)
_SERVICE_LABELS: dict[str, tuple[str, str]] = {
    "medical": ("Médical", "Medical"),
    "psychosocial": ("Psychosocial", "Psychosocial"),
    "legal": ("Juridique", "Legal"),
    "reintegration": ("Réinsertion socio-économique", "Socio-economic reintegration"),
    "shelter": ("Hébergement", "Shelter"),
}
_STATUS_LABELS: dict[str, str] = {
    "operating": "en service, vérifié / operating, verified",
    "reported": "signalé par une source / reported by a source",
    "suspended": "suspendu / suspended",
    "historic": "fermé ou projet terminé / closed or project ended",
    "planned": "annoncé / planned",
}
#: Columns of a returned round that :func:`geo.round_apply.apply_round` reads.
ANSWER_COLUMNS: tuple[str, ...] = (
    "provider_id",
    "operating",
    "status_date",
    "services",
    "phone",
    "opening_hours",
    "languages",
    "confidential",
    "verified_on",
    "notes",
)
_NO_SURVIVOR_DATA_FR = "Ne notez jamais d'information sur une survivante ou un survivant."
_NO_SURVIVOR_DATA_EN = "Never write down anything about a survivor."


# --------------------------------------------------------------------------- records


def region_pcode(value: str) -> str:
    """An ADM1 P-code (``ML05``) from a P-code or a 2015 région name (``Mopti``).

    Raises
    ------
    ValueError
        Not a known région; the message lists them.
    """
    text = str(value).strip()
    if text.upper() in ADM1_2015:
        return text.upper()
    by_name = {normalize_name(n): c for c, n in ADM1_2015.items()}
    code = by_name.get(normalize_name(text))
    if code is None:
        known = ", ".join(f"{c} {n}" for c, n in ADM1_2015.items())
        raise ValueError(f"region: unknown région {value!r}; use one of {known}")
    return code


def round_records(
    directory: gpd.GeoDataFrame, region: str, *, include_confidential: bool = False
) -> gpd.GeoDataFrame:
    """The records a round of ``region`` checks: every status, public ones unless asked.

    Confidential records (shelters) are left out unless ``include_confidential`` is
    true: the round file then names them and must be handled as confidential.
    """
    if not isinstance(directory, gpd.GeoDataFrame):
        raise TypeError(f"directory must be a GeoDataFrame, got {type(directory).__name__}")
    code = region_pcode(region)
    inside = (directory["adm1_pcode"] == code).to_numpy()
    if not include_confidential:
        inside = inside & public_mask(directory)
    chosen = directory[inside].copy()
    order = chosen["town"].fillna("").astype(str) + " " + chosen["name"].astype(str)
    return chosen.loc[order.sort_values(kind="stable").index]


def _current(row: pd.Series) -> dict[str, str]:
    services = row.get("services") or []
    return {
        "town": str(row.get("town") or ""),
        "status": _STATUS_LABELS.get(str(row.get("status") or "reported"), ""),
        "services": ", ".join(_SERVICE_LABELS.get(s, (s, s))[0] for s in services) or "—",
        "phone": str(row.get("phone") or "—"),
        "hours": str(row.get("opening_hours") or "—"),
        "languages": ", ".join(row.get("languages") or []) or "—",
        "confidential": "oui" if row.get("confidential") is True else "non",
        "last_verified": str(row.get("last_verified") or "jamais / never"),
    }


# --------------------------------------------------------------------------- XLSForm


def round_form_sheets(
    directory: gpd.GeoDataFrame,
    region: str,
    *,
    as_of: date,
    include_confidential: bool = False,
) -> dict[str, pd.DataFrame]:
    """The XLSForm of a verification round: ``survey``, ``choices`` and ``settings``.

    Parameters
    ----------
    directory
        The provider directory (:func:`geo.providers.read_providers`).
    region
        ADM1 P-code or 2015 région name.
    as_of
        The round's date (form id, version and title).
    include_confidential
        Also list confidential records (the form must then be handled as confidential).

    Returns
    -------
    dict of pandas.DataFrame
        One table per XLSForm sheet; labels in French (default) and English.  The repeat
        ``provider`` has one instance per provider (``repeat_count``), each computing its
        ``provider_id`` from its position and showing the current values.

    Raises
    ------
    ValueError
        Unknown région, or no record to check in it.
    """
    records = round_records(directory, region, include_confidential=include_confidential)
    code = region_pcode(region)
    if records.empty:
        raise ValueError(f"region: no provider record to check in {code} {ADM1_2015[code]}")
    ids = [str(i) for i in records["id"]]
    survey = pd.DataFrame(_survey_rows(ids, code), dtype=object)
    choices = pd.DataFrame(_choice_rows(records), dtype=object)
    settings = pd.DataFrame(
        [
            {
                "form_title": f"Vérification des prestataires VBG – {ADM1_2015[code]} ({code}) "
                f"– {as_of.isoformat()}",
                "form_id": f"orienter_verification_{code.lower()}_{as_of:%Y%m%d}",
                "version": f"{as_of:%Y%m%d}",
                "default_language": FR,
            }
        ],
        dtype=object,
    )
    return {"survey": survey.fillna(""), "choices": choices.fillna(""), "settings": settings}


def _q(kind: str, name: str, fr: str = "", en: str = "", **extra: str) -> dict[str, str]:
    row = {"type": kind, "name": name}
    if fr or en:
        row[f"label::{FR}"], row[f"label::{EN}"] = fr, en
    for key, value in extra.items():
        column = {"hint_fr": f"hint::{FR}", "hint_en": f"hint::{EN}"}.get(key, key)
        row[column] = value
    return row


def _survey_rows(ids: list[str], code: str) -> list[dict[str, str]]:
    lookup = "instance('providers')/root/item[name = ${provider_id}]/"
    rows = [
        _q(
            "note",
            "intro",
            f"{len(ids)} prestataire(s) de {ADM1_2015[code]}. Une fiche par prestataire : "
            f"appelez ou visitez-le, puis répondez. {_NO_SURVIVOR_DATA_FR}",
            f"{len(ids)} provider(s) in {ADM1_2015[code]}. One page per provider: call or "
            f"visit it, then answer. {_NO_SURVIVOR_DATA_EN}",
        ),
        _q("calculate", "provider_ids", calculation="'" + " ".join(ids) + "'"),
        _q("begin repeat", "provider", "Prestataire", "Provider", repeat_count=str(len(ids))),
        _q(
            "calculate", "provider_id", calculation="selected-at(${provider_ids}, position(..) - 1)"
        ),
        _q(
            "select_one providers",
            "provider",
            "Prestataire",
            "Provider",
            read_only="yes",
            calculation="${provider_id}",
        ),
    ]
    for field in ("town", "status", "services", "phone", "hours", "languages", "last_verified"):
        rows.append(_q("calculate", f"current_{field}", calculation=lookup + field))
    return rows + _question_rows()


def _question_rows() -> list[dict[str, str]]:
    answered = "${operating} = 'yes' or ${operating} = 'suspended'"
    return [
        _q(
            "note",
            "current",
            "Ville : ${current_town}. Statut : ${current_status}. Services : "
            "${current_services}. Téléphone : ${current_phone}. Horaires : ${current_hours}. "
            "Langues : ${current_languages}. Dernière vérification : ${current_last_verified}.",
            "Town: ${current_town}. Status: ${current_status}. Services: ${current_services}. "
            "Phone: ${current_phone}. Hours: ${current_hours}. Languages: "
            "${current_languages}. Last verified: ${current_last_verified}.",
        ),
        _q(
            "select_one operating",
            "operating",
            "Fonctionne-t-il encore ?",
            "Still operating?",
            required="yes",
        ),
        _q(
            "date",
            "status_date",
            "Depuis quand (suspension ou fermeture) ?",
            "Since when (suspension or closure)?",
            relevant="${operating} = 'suspended' or ${operating} = 'closed'",
            constraint=". <= today()",
        ),
        _q(
            "select_multiple services",
            "services",
            "Services offerts aujourd'hui",
            "Services offered today",
            relevant=answered,
            hint_fr="Laisser vide si inchangés.",
            hint_en="Leave empty if unchanged.",
        ),
        _q(
            "text",
            "phone",
            "Téléphone publié par la structure",
            "Phone published by the provider",
            relevant="${operating} = 'yes'",
            hint_fr="Vide si inchangé ; « - » pour l'effacer. Jamais un numéro personnel.",
            hint_en="Empty if unchanged; '-' to remove it. Never a personal number.",
        ),
        _q(
            "text",
            "opening_hours",
            "Horaires",
            "Opening hours",
            relevant="${operating} = 'yes'",
            hint_fr="Vide si inchangés ; « - » pour les effacer.",
            hint_en="Empty if unchanged; '-' to remove them.",
        ),
        _q(
            "text",
            "languages",
            "Langues de service",
            "Languages of service",
            relevant="${operating} = 'yes'",
            hint_fr="Séparées par des virgules ; vide si inchangées.",
            hint_en="Comma-separated; empty if unchanged.",
        ),
        _q(
            "select_one yes_no",
            "confidential",
            "Offre un hébergement ou doit rester confidentiel ?",
            "Offers shelter or must stay confidential?",
            relevant=answered,
            hint_fr="Vide si inchangé.",
            hint_en="Empty if unchanged.",
        ),
        _q(
            "date",
            "verified_on",
            "Date de la vérification",
            "Date of the check",
            required="${operating} != 'unknown'",
            default="today()",
            constraint=". <= today()",
        ),
        _q(
            "text",
            "notes",
            "Remarques",
            "Notes",
            hint_fr=_NO_SURVIVOR_DATA_FR,
            hint_en=_NO_SURVIVOR_DATA_EN,
        ),
        {"type": "end repeat", "name": ""},
    ]


def _choice_rows(records: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, fr, en in OPERATING_CHOICES:
        rows.append(
            {"list_name": "operating", "name": name, f"label::{FR}": fr, f"label::{EN}": en}
        )
    for name, (fr, en) in _SERVICE_LABELS.items():
        rows.append({"list_name": "services", "name": name, f"label::{FR}": fr, f"label::{EN}": en})
    for name, fr, en in (("yes", "Oui", "Yes"), ("no", "Non", "No")):
        rows.append({"list_name": "yes_no", "name": name, f"label::{FR}": fr, f"label::{EN}": en})
    for _, record in records.iterrows():
        label = str(record["name"])
        rows.append(
            {
                "list_name": "providers",
                "name": str(record["id"]),
                f"label::{FR}": label,
                f"label::{EN}": label,
                **_current(record),
            }
        )
    return rows


# --------------------------------------------------------------------------- paper


def round_paper_sheet(
    directory: gpd.GeoDataFrame, region: str, *, include_confidential: bool = False
) -> pd.DataFrame:
    """The round as a plain table for paper: current values, then empty answer columns.

    Columns ``provider_id``, ``name`` and ``current_*`` are filled; the answer columns
    (:data:`ANSWER_COLUMNS`) are empty, with the same names as the XLSForm's, so a filled
    sheet is applied like a KoboToolbox export.
    """
    records = round_records(directory, region, include_confidential=include_confidential)
    rows = []
    for _, record in records.iterrows():
        current = _current(record)
        row: dict[str, Any] = {"provider_id": record["id"], "name": record["name"]}
        row |= {f"current_{k}": v for k, v in current.items()}
        row |= {c: "" for c in ANSWER_COLUMNS if c != "provider_id"}
        rows.append(row)
    columns = ["provider_id", "name", *(f"current_{k}" for k in _current(pd.Series()))]
    columns += [c for c in ANSWER_COLUMNS if c != "provider_id"]
    return pd.DataFrame(rows, columns=columns, dtype=object)


_PAPER_HELP = (
    ("operating", "oui / suspendu / fermé / inconnu (pas pu vérifier)"),
    ("status_date", "AAAA-MM-JJ : date de la suspension ou de la fermeture"),
    ("services", "médical, psychosocial, juridique, réinsertion, hébergement (vide = inchangés)"),
    ("phone", "numéro publié par la structure (vide = inchangé ; - pour l'effacer)"),
    ("opening_hours", "horaires (vide = inchangés ; - pour les effacer)"),
    ("languages", "langues séparées par des virgules (vide = inchangées)"),
    ("confidential", "oui / non : offre un hébergement ou doit rester confidentiel"),
    ("verified_on", "AAAA-MM-JJ : date de l'appel ou de la visite"),
    ("notes", _NO_SURVIVOR_DATA_FR),
)


# --------------------------------------------------------------------------- writing


def write_round_form(sheets: dict[str, pd.DataFrame], path: str | os.PathLike[str]) -> Path:
    """Write an XLSForm (:func:`round_form_sheets`) to ``path`` (.xlsx), atomically."""
    return write_workbook(sheets, path)


def write_round_paper(paper: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the paper sheet and a ``lisez-moi`` sheet explaining each column (.xlsx)."""
    help_table = pd.DataFrame(_PAPER_HELP, columns=["colonne", "comment remplir"], dtype=object)
    return write_workbook({"verification": paper, "lisez-moi": help_table}, path)
