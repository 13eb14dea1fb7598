"""The planning pages in a real browser (chromium, a real ``orienter serve``, no internet).

A planner opens /planifier, asks for suggested sites, tests the first one and reads how
many people it brings within two hours; clicks the map to test another place; opens the
Mopti page and its map.  Screenshots go to the artifacts directory (``conftest.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _digits(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def _confidential_names() -> list[str]:
    features = json.loads((REPO / "data" / "providers.geojson").read_text())["features"]
    return [f["properties"]["name"] for f in features if f["properties"]["confidential"]]


def test_plan_what_if_in_the_browser(offline_page, artifacts_dir):
    page = offline_page
    page.goto(page.base + "/planifier")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("#ranking-heading").inner_text() == "Cercles les plus mal desservis"
    # suggested sites, then "Tester" on the first: its what-if gain is the gain it reported
    page.click("#sites-load")
    first = page.locator("#sites-list li").first
    first.locator("button").wait_for(timeout=120_000)
    gain = _digits(first.locator(".muted").inner_text())
    assert gain > 10_000
    first.locator("button").click()
    result = page.locator("#whatif-result")
    result.locator("table").wait_for(timeout=120_000)
    national = result.locator(".whatif-national").inner_text()
    change = re.search(r"\(\+([\d\s\u202f\u00a0]+)\)", national)
    assert change and _digits(change.group(1)) == gain, national
    assert page.locator("path.leaflet-interactive, .leaflet-overlay-pane path").count() > 0
    page.screenshot(path=artifacts_dir / "planifier-site.png", full_page=True)
    # a click on the map, in the Sahel east of Mopti, tests another place
    box = page.locator("#plan-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.45)
    page.locator("#whatif-result h4", has_text="Nouveau centre en").wait_for(timeout=120_000)
    assert page.locator("#w-lon").input_value() and page.locator("#w-lat").input_value()
    # removing a public provider lowers the figure
    page.select_option("#w-remove", "osc-gao")
    page.click("#whatif-remove button")
    page.locator("#whatif-result h4", has_text="Sans One Stop Center Gao").wait_for(timeout=120_000)
    assert "(−" in result.locator(".whatif-national").inner_text()
    others = [u for u in page.blocked if not u.startswith("https://tile.openstreetmap.org/")]
    assert others == [] and page.errors == []


def test_region_page_and_its_map_in_the_browser(offline_page, artifacts_dir):
    page = offline_page
    page.goto(page.base + "/regions/ML05", timeout=180_000)
    assert page.locator("h1").inner_text().startswith("Mopti")
    frame = page.frame_locator("iframe.map-frame")
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    frame.locator(".leaflet-overlay-pane path").first.wait_for(timeout=60_000)
    text = page.locator("main").inner_text()
    assert "Koro" in text and "Douentza" in text
    assert not any(name in text for name in _confidential_names())
    page.screenshot(path=artifacts_dir / "region-ML05.png", full_page=True)
    # a phone: nothing wider than the screen but the scrollable tables
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(page.base + "/regions/ML05?lang=en")
    assert page.locator("h1").inner_text().startswith("Mopti")
    assert "Key figures" in page.locator("main").inner_text()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, width
    page.screenshot(path=artifacts_dir / "region-ML05-360-en.png", full_page=True)
    page.goto(page.base + "/planifier?lang=fr")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    page.screenshot(path=artifacts_dir / "planifier-360.png", full_page=True)
    assert page.errors == []
