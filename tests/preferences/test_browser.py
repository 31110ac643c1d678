"""The preference page in a real browser (headless Chromium) with JavaScript turned off.

The page promises to work without JavaScript; this drives it the way a person does: open the
signed link, untick a box, press the button, read the page it lands on. Chromium and
chromedriver come from Debian (``.ci/run`` installs them); without them locally the test is
skipped, but never under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.consent.service import current_consent

from .test_page import _link, factories

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")

if not (CHROMIUM and DRIVER):
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs Debian's chromium and chromium-driver (see .ci/run)")
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for downloads
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    # No JavaScript at all: the page must work as plain HTML forms.
    opts.add_experimental_option(
        "prefs", {"profile.managed_default_content_settings.javascript": 2}
    )
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_person_unticks_marketing_texts_in_a_browser_without_javascript(
    engine: Engine, actor: Actor, api_client: httpx.Client, browser: webdriver.Chrome
) -> None:
    make: Any = factories.Factory(engine, actor)
    (cid,) = make.contacts(["+12025550177"])
    path = _link(engine, actor, api_client, cid)
    # given the signed link opened in the browser
    browser.get(f"{str(api_client.base_url).rstrip('/')}{path}")
    box = browser.find_element(By.CSS_SELECTOR, 'input[type=checkbox][value="sms:marketing"]')
    assert box.is_selected()
    # when the person unticks marketing texts and presses save
    box.click()
    browser.find_element(By.CSS_SELECTOR, 'button[value="save"]').click()
    # then the browser follows the redirect to the page saying it is saved, box unticked
    WebDriverWait(browser, 30).until(lambda d: "saved=1" in d.current_url)
    assert "preferences are saved" in browser.page_source
    again = browser.find_element(By.CSS_SELECTOR, 'input[type=checkbox][value="sms:marketing"]')
    assert not again.is_selected()
    # and the ledger holds the opt-out from the preference page
    with engine.connect() as conn:
        state = {
            (s["channel"], s["purpose"]): s["status"]
            for s in current_consent(conn, actor.workspace_id, cid)
        }
    assert state[("sms", "marketing")] == "opted_out"
