"""The page in a real headless browser (Debian's chromium and chromedriver through selenium):
type an essay, score it, read the number and the highlighted explanation, switch to English,
upload a small class zip, sort the table, download the CSV. Screenshots of each state go to
$DLPY_SCREENSHOTS when it is set (to look at them)."""

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver; .ci/run installs them)", allow_module_level=True)
pytest.importorskip("selenium")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402
from serving import PROMPT, class_zip, good_essay, service  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    from dlpy.essay.serve import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(service()), host="127.0.0.1", port=port,
                            log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    profile = tempfile.mkdtemp(prefix="dlpy-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1200,1500", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shot(driver, name: str) -> None:
    folder = os.environ.get("DLPY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, max(800, min(int(height) + 40, 4000)))
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_score_explain_and_class(server, browser, tmp_path):
    wait = WebDriverWait(browser, 20, poll_frequency=0.05)  # the default polls every 0.5 s
    browser.get(server + "/")
    wait.until(lambda d: len(Select(d.find_element(By.ID, "prompt")).options) > 1)
    assert browser.find_element(By.TAG_NAME, "h1").text == "에세이 채점기"
    Select(browser.find_element(By.ID, "prompt")).select_by_value(PROMPT)
    box = browser.find_element(By.ID, "essay")
    box.click()
    # the essay arrives as one trusted text insertion (an IME's or a paste's `input` event):
    # typed key by key, its 1,461 characters took chromedriver 2 s; the English text below is
    # typed key by key
    browser.execute_cdp_cmd("Input.insertText", {"text": good_essay()})
    _shot(browser, "1-typed")
    browser.find_element(By.ID, "score-btn").click()
    wait.until(EC.visibility_of_element_located((By.ID, "score-value")))
    wait.until(lambda d: d.find_element(By.ID, "score-value").text not in ("", "–"))
    score = float(browser.find_element(By.ID, "score-value").text)
    assert 0 <= score <= 30
    assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar")) == 3
    raised = browser.find_elements(By.CSS_SELECTOR, "#explained .w-up")
    assert raised and all(float(e.get_attribute("data-contribution")) > 0 for e in raised)
    # everything the page loaded came from this server (no CDN: it works offline)
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(name.startswith(server) for name in loaded), loaded
    explained = browser.find_element(By.ID, "explained").text
    assert explained.replace("\n", "") == good_essay().replace("\n", "").strip()
    _shot(browser, "2-scored")

    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Essay scorer"
    assert "Organisation" in browser.find_element(By.ID, "bars").text
    _shot(browser, "3-english")
    browser.find_element(By.ID, "lang").click()

    # a warning, on the page
    box.clear()
    box.send_keys("This is not a Korean essay at all, it is English. " * 3)
    browser.find_element(By.ID, "score-btn").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#warnings li[data-code=not_korean]"))
    _shot(browser, "4-warning")

    browser.find_element(By.ID, "tab-class").click()
    upload = tmp_path / "class.zip"
    upload.write_bytes(class_zip({"ESSAY_1": good_essay(),
                                  "ESSAY_2": "나는 커서 의사가 되고 싶다. 사람을 돕고 싶다. " * 6,
                                  "ESSAY_3": "나는커서 유튜버가될거다 돈을많이벌수있어서"}))
    browser.find_element(By.ID, "class-file").send_keys(str(upload))
    browser.find_element(By.ID, "class-btn").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#class-table tbody tr")) == 3)
    assert browser.find_elements(By.CSS_SELECTOR, "#histogram .col")
    browser.find_element(By.CSS_SELECTOR, "th[data-key=score]").click()
    scores = [float(r.find_elements(By.TAG_NAME, "td")[2].text)
              for r in browser.find_elements(By.CSS_SELECTOR, "#class-table tbody tr")]
    assert scores == sorted(scores, reverse=True)
    _shot(browser, "5-class")
    browser.find_element(By.ID, "download-csv").click()
    target = browser.downloads / "scores.csv"
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = target.read_text(encoding="utf-8-sig").strip().splitlines()
    assert lines[0].startswith("id,prompt,score,integer") and len(lines) == 4
