"""``report.html``: one self-contained page (tables, failures, plots as base64), rendered by a real browser where
one is installed."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest

from results_fixture import results
from scgrad.compare.html import html
from scgrad.compare.plots import plot
from scgrad.compare.report import markdown

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)


@pytest.fixture
def report(tmp_path):
    pytest.importorskip("matplotlib")
    found = results()
    plot(found, tmp_path)
    page = tmp_path / "report.html"
    page.write_text(html(found, tmp_path))
    return page


def test_the_page_holds_the_table_the_failures_and_both_plots_and_nothing_from_outside(report):
    page = report.read_text()
    assert page.count('src="data:image/png;base64,') == 2
    for name in ("variance.png", "objective.png"):
        assert base64.b64encode((report.parent / name).read_bytes()).decode() in page
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page
    assert page.count("<tr") == 1 + len(results()["estimators"])
    assert "broken &lt;script&gt;" in page  # names are escaped
    assert 'class="recommended"><td>exact</td>' in page and "scgrad.Enumerate()" in page
    assert "Failure of broken &lt;script&gt;" in page and "mine.py" in page


def test_markdown_lists_the_same_failure_and_the_code_of_the_recommendation():
    text = markdown(results())
    assert "Failure of broken <script>:" in text and 'scgrad.sample("z", dist, scgrad.Enumerate())' in text
    assert "report.html" in text


@pytest.mark.skipif(BROWSER is None, reason="no headless browser installed (chromium)")
def test_a_headless_browser_renders_it(report, tmp_path):
    shot = tmp_path / "shot.png"
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                           "--window-size=1200,2600", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<img") == 2 and "<table>" in dom
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (2600, 1200)
    drawn = (pixels[..., :3] < 0.9).any(-1)  # not white
    rows = drawn.any(1).nonzero()[0]
    assert rows.max() > 1800  # the plots reach far down the page: both images loaded
