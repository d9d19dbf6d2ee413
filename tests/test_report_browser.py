"""OUT/reports/index.html opened in headless Chromium: it renders, logs no console error, loads every
embedded plot and shows every section the run has (issue 9). Chromium and its driver come from Debian
(`make test` installs them where it can); where they are missing the test skips and says why."""
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# The flags that keep Chromium off this machine's closed network (it otherwise retries Google's hosts).
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


def open_in_chromium(page: Path) -> dict:
    """Section ids, whether each image decoded, visible text and the browser console of a rendered page."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium and chromium-driver are not installed (make test installs them as root: "
                    "apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(page.resolve().as_uri())
        return {"sections": driver.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)"),
                "images": driver.execute_script("return [...document.images].map(i => i.complete && i.naturalWidth > 0)"),
                "plots_per_section": driver.execute_script(
                    "return Object.fromEntries([...document.querySelectorAll('section')]"
                    ".map(s => [s.id, s.querySelectorAll('img').length]))"),
                "text": driver.execute_script("return document.body.innerText"),
                "cluster_layout": driver.execute_script(
                    "return [...document.querySelectorAll('.cluster')].map(c => getComputedStyle(c).display)"),
                "console": driver.get_log("browser")}
    finally:
        driver.quit()


def test_report_renders_every_section_without_console_errors(demo_out_with_run):
    page = open_in_chromium(demo_out_with_run / "reports" / "index.html")
    assert page["console"] == []
    assert page["sections"] == ["funnel", "quality", "dedup", "contamination", "mixture", "training", "evaluation"]
    assert all(page["images"])
    for section in ("quality", "dedup", "contamination", "training", "evaluation"):  # the sections that plot something
        assert page["plots_per_section"][section] >= 1, section
    for heading in ("Funnel", "Quality classifier", "Deduplication", "Benchmark decontamination", "Training mixture", "Training", "Evaluation"):
        assert heading in page["text"]
    assert page["cluster_layout"] and set(page["cluster_layout"]) == {"flex"}  # a cluster's members side by side


def test_the_check_catches_a_broken_page(tmp_path):
    """The checks above can fail: a console error and an undecodable image are both seen."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><section id="x"></section><img src="data:image/png;base64,AAAA">'
                    '<script>console.error("broken")</script></body></html>')
    rendered = open_in_chromium(page)
    assert rendered["images"] == [False]
    assert [entry["level"] for entry in rendered["console"]] == ["SEVERE"]
