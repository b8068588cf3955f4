"""The editor page driven in a real headless Chromium (Debian's chromium + chromium-driver, through Selenium):
pick a seed, move a slider, see the image change and the reading move; upload a bad latent, see the message; upload a
photo, watch the inversion's progress, move a slider and the refine control, see the edited photo change.

Skips, saying why, where no browser is installed; `.ci/run` installs one and sets L2L_REQUIRE_BROWSER=1, so CI
fails rather than skips. L2L_SCREENSHOT=<path> and L2L_PHOTO_SCREENSHOT=<path> keep the pages' screenshots;
L2L_SERVE_URL=<url> drives a running `make serve` instead of the test's own servers (docs/serve.md's screenshot: the
default 3-attribute mapper)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.photos import ASTRONAUT
from tests.pipeline.serve.conftest import call

pytestmark = [pytest.mark.timeout(600)]
SEED = 0  # reads smiling 0.30: seed 3 reads 0.008, where fer's softmax is flat, and one fresh clone's tiny mapper moved it 0.008 -> 0.005


def chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        reason = "no chromium and chromedriver on PATH (apt-get install chromium chromium-driver)"
        if os.environ.get("L2L_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; L2L_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(reason)
    return browser, driver


@pytest.fixture
def page(request):
    yield from browse(os.environ.get("L2L_SERVE_URL") or request.getfixturevalue("server")["url"])


@pytest.fixture
def quick_page(request):
    """The page of the quick server (hand-made exports, no training): what the photo's path needs."""
    yield from browse(os.environ.get("L2L_SERVE_URL") or request.getfixturevalue("quick_server")["url"])


def browse(url: str):
    pytest.importorskip("selenium", reason="selenium is a dev dependency (pip install -e '.[dev]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1150,1250"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.get(url)
    yield driver
    driver.quit()


def wait(driver, test, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: test(d))


def settled(driver) -> bool:
    """The readings shown belong to the edit shown."""
    edited = driver.find_element("id", "edited").get_attribute("data-change")
    return bool(edited) and edited == driver.find_element("id", "readings").get_attribute("data-change")


@pytest.mark.slow
def test_slider_edits_the_face_and_a_bad_upload_is_reported(page, tmp_path):
    from selenium.webdriver.common.keys import Keys

    by_id = lambda name: page.find_element("id", name)  # noqa: E731
    wait(page, lambda d: settled(d) and by_id("source").text == "seed:42")
    seed = by_id("seed")
    seed.clear()
    seed.send_keys(str(SEED))
    by_id("load-seed").click()
    wait(page, lambda d: by_id("source").text == f"seed:{SEED}" and settled(d) and "change=" not in by_id("edited").get_attribute("data-change"))
    original = by_id("original").get_attribute("src")
    assert by_id("edited").get_attribute("src") == original  # nothing asked yet: the edit is the face

    slider = by_id("slider-smiling")
    slider.click()  # focus; a click also moves it to the clicked point
    slider.send_keys(Keys.END)  # all the way to P(smiling) = 1
    wait(page, lambda d: "change=smiling" in by_id("edited").get_attribute("data-change") and settled(d)
         and float(slider.get_attribute("value")) == 1.0)
    row = by_id("reading-smiling")
    before, after = float(row.get_attribute("data-before")), float(row.get_attribute("data-after"))
    assert by_id("edited").get_attribute("src") != original, "the image did not change"
    assert after > before + 0.02, f"smiling read {before:.3f} -> {after:.3f} for a request towards 1"
    assert float(row.get_attribute("data-resampled")) > 0.01  # the change as a resampled download shows it, beside it
    assert 0 < float(by_id("identity").text) < 1

    from selenium.webdriver.support.ui import Select

    Select(by_id("sweep-attr")).select_by_value("smiling")
    by_id("sweep").click()  # the strength strip: one image per strength, side by side
    wait(page, lambda d: (by_id("sweep-strip").get_attribute("src") or "").startswith("data:image/png"))
    assert by_id("sweep-info").text.startswith("smiling: -0.30")

    shot = tmp_path / "editor.png"
    page.save_screenshot(str(shot))
    if os.environ.get("L2L_SCREENSHOT"):
        Path(os.environ["L2L_SCREENSHOT"]).write_bytes(shot.read_bytes())

    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 7), np.float32))
    by_id("upload").send_keys(str(bad))
    wait(page, lambda d: by_id("message").get_attribute("class") == "error")
    assert "has shape (3, 7)" in by_id("message").text
    assert by_id("source").text == f"seed:{SEED}"  # the page still shows the face it had


def test_a_photo_is_inverted_then_edited_by_the_slider_and_refine(quick_page, tmp_path):
    from selenium.webdriver.common.keys import Keys

    page = quick_page
    by_id = lambda name: page.find_element("id", name)  # noqa: E731
    wait(page, lambda d: by_id("source").text.startswith("seed:"))
    by_id("photo-upload").send_keys(str(ASTRONAUT))
    after = by_id("photo-after")
    wait(page, lambda d: after.get_attribute("data-change"), timeout=300)  # inverted, and the unchanged edit shown
    progress = by_id("photo-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") and by_id("photo-stage").text.startswith("done")
    assert not by_id("photo-panel").get_attribute("hidden") and not by_id("readings").is_displayed()  # the face's table: hidden
    first = after.get_attribute("src")

    slider = by_id("slider-smiling")
    slider.click()
    slider.send_keys(Keys.END)
    wait(page, lambda d: "change=smiling" in after.get_attribute("data-change") and float(slider.get_attribute("value")) == 1.0)
    moved = after.get_attribute("src")
    assert moved != first, "the edited photo did not change"
    assert float(by_id("photo-reading-smiling").find_elements("tag name", "td")[3].text) > 0  # the render's reading is shown

    refine = by_id("refine")
    refine.send_keys(Keys.HOME, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait(page, lambda d: after.get_attribute("data-change").endswith("refine=2") and "(2 steps)" in by_id("refine-cost").text)
    assert after.get_attribute("src") != moved, "two critic steps did not change the photo"
    href = by_id("download-photo").get_attribute("href")
    status, data = call(href)
    assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"  # the astronaut's own format

    shot = tmp_path / "photo.png"
    page.save_screenshot(str(shot))
    if os.environ.get("L2L_PHOTO_SCREENSHOT"):
        Path(os.environ["L2L_PHOTO_SCREENSHOT"]).write_bytes(shot.read_bytes())
