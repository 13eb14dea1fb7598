"""Issue 20's journeys in a real browser against a real ``orienter serve`` (offline).

The caseworker in Sévaré: a survivor from Konna, medical care first.  Typing "Kona" and
searching without a pick must say which place was used and offer Konna (Mopti); the
answer must say how far the start is from a road (to the road's line), what the scenario
assumes and when the conflict events were, flag times resting on off-road legs, never
print "km km", give each provider's status and date, and list the national numbers with
their caveat; the referral sheet carries the same.  The planner's what-if takes
coordinates with five decimals and a comma, a place name, and answers errors in French.
Screenshots go to the artifacts directory.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration
try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips, or fails under CI=true
    expect = None

#: English words that must not appear in a French answer's provider fields.
ENGLISH = re.compile(r"\b(cercle of|regional hospital|referral hospital|care unit|with UN)\b")


def _search(page, text: str) -> None:
    page.locator("#place").fill(text)
    page.evaluate("document.getElementById('results').removeAttribute('data-answer-ms')")
    page.click("#search")
    page.locator("#results[data-answer-ms]").wait_for(state="attached", timeout=60_000)


def test_caseworker_from_konna(offline_page, artifacts_dir):
    page = offline_page
    page.goto(page.base + "/trouver")
    # suggestions: Konna (Mopti) once, told apart from the other Konna by its cercle
    page.locator("#place").click()
    page.keyboard.type("Konna", delay=20)
    page.locator("#place-list [role=option]").first.wait_for()
    options = page.locator("#place-list [role=option]").all_inner_texts()
    mopti = [o for o in options if o.startswith("Konna") and "Mopti" in o]
    assert len(mopti) == 1, options
    page.keyboard.press("Escape")

    # a typo searched without a pick: the page says which place it used, offers Konna
    page.select_option("#service", "medical")
    page.select_option("#scenario", "slowed")
    _search(page, "Kona")
    used = page.locator("#results-place")
    expect(used).to_contain_text("Lieu retenu : Kona")
    konna = used.locator("button.place-other", has_text="Konna (Konna, Mopti)")
    assert konna.count() == 1
    page.evaluate("document.getElementById('results').removeAttribute('data-answer-ms')")
    konna.click()
    page.locator("#results[data-answer-ms]").wait_for(state="attached", timeout=60_000)
    expect(used).to_contain_text("Lieu retenu : Konna (Konna, Mopti)")

    text = page.locator("#results").inner_text()
    assert "km km" not in text.replace("\u202f", " ")
    expect(page.locator("#results-offroad")).to_contain_text("de la route modélisée")
    model = page.locator("#results-model").inner_text()
    assert "ralenti" in model and "12,5" in model and re.search(r"du 20\d\d-\d\d-\d\d au", model)
    assert model.startswith("Temps : ") and "saison" in model  # what the times mean (issue 19)
    results = page.locator("#result-list .result")
    assert results.count() >= 3
    for i in range(results.count()):
        item = results.nth(i).inner_text()
        assert "Statut" in item and "Information datée de" in item
        assert not ENGLISH.search(item), item
    lines = page.locator("#national-lines")
    expect(lines).to_be_visible()
    assert "80333" in lines.inner_text() and "confirmer" in lines.inner_text()
    page.screenshot(path=artifacts_dir / "journey-caseworker.png", full_page=True)

    # the referral sheet carries the scenario, the conflict note, the national lines and
    # the place the times start from (unless the caseworker leaves it off)
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    sheet = page.locator("#referral").inner_text()
    assert "80333" in sheet and "confirmer" in sheet and "ralenti" in sheet and "saison" in sheet
    assert "Statut" in sheet and "datée de non datée" not in sheet
    assert "Temps calculés depuis : Konna (Konna, Mopti)." in sheet
    page.screenshot(path=artifacts_dir / "journey-referral.png", full_page=True)
    page.emulate_media(media="screen")
    page.locator("#sheet-no-place").check()
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    sheet = page.locator("#referral").inner_text()
    assert "Konna" not in sheet and "Kona" not in sheet
    assert "lieu de départ des temps n'est volontairement pas imprimé" in sheet
    # a point clicked on the map: its coordinates to 0.01 degree, nothing finer
    page.locator("#sheet-no-place").uncheck()
    page.evaluate("document.getElementById('results').removeAttribute('data-answer-ms')")
    page.locator("#finder-map").click(position={"x": 400, "y": 300})
    page.locator("#results[data-answer-ms]").wait_for(state="attached", timeout=60_000)
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    sheet = page.locator("#referral").inner_text()
    assert re.search(r"depuis un point saisi \(lat\. \d+,\d\d, lon\. −?-?\d+,\d\d,", sheet)
    assert not re.search(r"\d+[.,]\d{3,}", sheet)


def test_planner_what_if_takes_decimals_and_a_place(offline_page, artifacts_dir):
    page = offline_page
    page.goto(page.base + "/planifier")
    error = page.locator("#whatif-add-error")
    page.fill("#w-lon", "abc")
    page.fill("#w-lat", "14,5")
    page.click("#whatif-add button[type=submit]")
    expect(error).to_contain_text("degrés décimaux")
    page.fill("#w-lon", "-3,61234")  # five decimals, a decimal comma
    page.fill("#w-lat", "14.34567")
    page.click("#whatif-add button[type=submit]")
    result = page.locator("#whatif-result")
    expect(result).to_contain_text("Personnes à moins de", timeout=90_000)
    assert error.is_hidden()
    page.fill("#w-lon", "")
    page.fill("#w-lat", "")
    page.fill("#w-place", "Bandiagara")
    page.click("#whatif-add button[type=submit]")
    expect(result).to_contain_text("Nouveau centre à Bandiagara", timeout=90_000)
    expect(result).to_contain_text("Personnes à moins de")
    page.screenshot(path=artifacts_dir / "journey-planner.png", full_page=True)


def test_planner_what_if_at_an_existing_site(offline_page, artifacts_dir):
    """A psychosocial service where a legal NGO already is (located at its cercle's town:
    the page says so), then a health facility found by its name; errors in French."""
    page = offline_page
    page.goto(page.base + "/planifier?service=psychosocial")
    error = page.locator("#whatif-at-error")
    page.click("#whatif-at button[type=submit]")
    expect(error).to_contain_text("Choisissez un prestataire")
    page.select_option("#w-at", "pro-sahel-douentza")
    page.click("#whatif-at button[type=submit]")
    result = page.locator("#whatif-result")
    expect(result).to_contain_text("Nouveau centre chez", timeout=90_000)
    expect(result.locator(".whatif-approx")).to_contain_text("chef-lieu de cercle")
    expect(result).to_contain_text("Personnes à moins de")
    page.fill("#w-facility", "Bandiagara Referral")
    page.click("#whatif-at button[type=submit]")
    expect(result).to_contain_text("Nouveau centre à Bandiagara Referral", timeout=90_000)
    assert result.locator(".whatif-approx").count() == 0
    assert page.locator("#w-at").input_value() == ""  # one site at a time
    page.fill("#w-facility", "zzzz")
    page.click("#whatif-at button[type=submit]")
    expect(error).to_contain_text("Aucun établissement de santé")
    page.screenshot(path=artifacts_dir / "journey-planner-site.png", full_page=True)


def test_advocate_reads_gao_in_english(offline_page, artifacts_dir):
    """The advocate's région page in English: the directory's English, the road network
    in words, no pointer to a file of the code, the ranking's files and the PDF briefing
    one click away."""
    page = offline_page
    page.goto(page.base + "/regions/ML07?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("h1")).to_contain_text("Gao")
    text = page.locator("main").inner_text()
    assert "Région de Gao" not in text and "Gao région" in text  # the directory's English
    assert "docs/" not in text and "'segments'" not in text
    assert "reference road network" in text
    # times resting on off-road legs or long detours are marked, and the marks explained
    rows = page.locator("tr")
    assert "†" in rows.filter(has_text="Bourem").first.inner_text()
    assert "†‡" in rows.filter(has_text="Menaka").first.inner_text()
    assert "† Read with care" in text and "‡ Read with care" in text
    links = page.locator("a.download")
    assert links.count() == 6
    csv = page.request.get(page.base + links.first.get_attribute("href"))
    assert csv.ok and csv.body().startswith(b"\xef\xbb\xbf")
    pdf_href = page.locator('a[href*="brief.pdf"]').first.get_attribute("href")
    pdf = page.request.get(page.base + pdf_href if pdf_href.startswith("/") else pdf_href)
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    page.screenshot(path=artifacts_dir / "journey-advocate.png", full_page=True)
