"""The referral pathways in a real browser: Debian's chromium, ``orienter serve``, no internet.

``/circuits`` and ``/circuits/ML0502`` (Bandiagara) in French and English on a 360 px
phone: nothing asked of the outside world, no script error, nothing wider than the
screen, every sector and the 72 h window shown; then printed by the browser on A4 (one
page, two at most, without the site's header).  Screenshots and the printed PDF go to
the artifacts directory (see ``conftest.py``).
"""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

pytestmark = pytest.mark.integration

SECTORS = ("health", "psychosocial", "legal", "security", "shelter", "reintegration")
WORDS = {
    "fr": {"title": "Bandiagara", "window": "72 h", "hotlines": "Numéros nationaux"},
    "en": {"title": "Bandiagara", "window": "72 h", "hotlines": "National"},
}


def _phone(chromium, base: str, lang: str):
    """A 360 px page whose requests reach only the local server."""
    context = chromium.new_context(
        viewport={"width": 360, "height": 740}, locale="fr-FR" if lang == "fr" else "en-GB"
    )
    page = context.new_page()
    page.blocked, page.errors = [], []

    def only_local(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            page.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return context, page


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_pathway_page_on_a_360px_phone_and_printed(chromium, served_app, artifacts_dir, lang):
    context, page = _phone(chromium, served_app, lang)
    try:
        page.goto(f"{served_app}/circuits?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        link = page.locator('a[href="/circuits/ML0502"]')
        assert link.count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        link.click()
        page.wait_for_selector("#pathway")
        assert page.url.startswith(f"{served_app}/circuits/ML0502")
        assert page.locator("html").get_attribute("lang") == lang
        assert WORDS[lang]["title"] in page.locator("#pathway h1").inner_text()
        shown = page.locator("#pathway tbody.pw-sector").evaluate_all(
            "els => els.map(e => e.dataset.sector)"
        )
        assert shown == list(SECTORS)
        text = page.locator("#pathway").inner_text()
        assert WORDS[lang]["window"] in text and WORDS[lang]["hotlines"] in text
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, width
        page.screenshot(path=artifacts_dir / f"circuit-ML0502-{lang}-360.png", full_page=True)
        assert page.blocked == [] and page.errors == []

        page.emulate_media(media="print")
        assert not page.locator(".site-header").is_visible()
        assert not page.locator(".pw-actions").is_visible()
        printed = page.pdf(format="A4", print_background=False)
        (artifacts_dir / f"circuit-ML0502-{lang}-printed.pdf").write_bytes(printed)
        pages = PdfReader(io.BytesIO(printed)).pages
        assert 1 <= len(pages) <= 2, len(pages)
        words = " ".join(p.extract_text() for p in pages)
        assert WORDS[lang]["title"] in words and "ML0502" in words
    finally:
        context.close()
