"""What the pages and briefings say about confidential sites stays true to the code: no
public figure counts them (issue 12), so no catalogue text may say that one does."""

from __future__ import annotations

import json
import re
from pathlib import Path

LOCALES = Path(__file__).resolve().parents[2] / "web" / "locales"
#: "figures also count confidential sites", "ils comptent dans les chiffres d'accès"...
CLAIMS = [
    re.compile(r"\b(?<!not )(?<!never )count(s)? (also )?(the )?confidential", re.I),
    re.compile(r"\bthey count in\b", re.I),
    re.compile(r"\bcomptent (aussi |les |dans )", re.I),
]


def test_no_text_says_a_public_figure_counts_confidential_sites():
    found = []
    for path in sorted(LOCALES.glob("*/*.json")):
        for key, text in json.loads(path.read_text(encoding="utf-8")).items():
            if isinstance(text, str) and any(c.search(text) for c in CLAIMS):
                found.append(f"{path.parent.name}/{path.name}:{key}: {text[:120]}")
    assert not found, "\n".join(found)


def test_the_claims_are_caught_where_they_stand():
    said = [
        "Access figures also count confidential sites (shelters).",
        "Les chiffres d'accès comptent aussi les sites confidentiels.",
        "they count in the access figures",
    ]
    assert all(any(c.search(s) for c in CLAIMS) for s in said)
    fine = "Every figure counts public providers only: confidential sites are never counted."
    assert not any(c.search(fine) for c in CLAIMS)
