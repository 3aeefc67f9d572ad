"""Debian's Chromium, driven by Selenium through Debian's chromedriver, for the dashboard's
tests: a headless browser with its own empty profile that reaches nothing but loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.support.tools import require_tool

__all__ = ["Browser", "start_browser"]

T = TypeVar("T")

DESKTOP = (1280, 800)
PHONE = (390, 844)
# Chromium's own traffic (updates, sync, field trials) would be refused by this machine's
# closed network, and would not belong in a test of a page that must reach only its host.
_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


class Browser:
    """One Chromium window on the dashboard; screenshots go to ``shots``."""

    def __init__(self, driver: webdriver.Chrome, shots: Path) -> None:
        self.driver = driver
        self.shots = shots

    # finding things ------------------------------------------------------------------------

    def find(self, css: str) -> WebElement:
        """The first element ``css`` selects (fails if none)."""
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        """Every element ``css`` selects."""
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        """The text content of the first element ``css`` selects ('' if none)."""
        found = self.all(css)
        return str(found[0].get_attribute("textContent") or "") if found else ""

    def script(self, source: str, *args: Any) -> Any:
        """Run ``source`` in the page and return what it returns."""
        return self.driver.execute_script(source, *args)

    def wait(self, check: Callable[[], T | None], what: str, timeout: float = 10.0) -> T:
        """Poll ``check`` until it gives something true (bounded); fail naming ``what`` and
        saving a screenshot."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = check()
            except (StaleElementReferenceException, LookupError, ValueError):
                value = None  # the page re-rendered under us, or is not there yet
            if value:
                return value
            if time.monotonic() > deadline:
                path = self.screenshot("timed-out")
                raise AssertionError(f"timed out after {timeout}s waiting for {what} ({path})")
            time.sleep(0.1)

    def visible(self, css: str) -> bool:
        """Whether an element ``css`` selects is displayed."""
        return any(element.is_displayed() for element in self.all(css))

    # doing things --------------------------------------------------------------------------

    def open(self, url: str) -> None:
        """Load ``url`` and wait until the page's script has run."""
        self.driver.get(url)
        self.wait(lambda: self.script("return document.readyState") == "complete", "the page")

    def resize(self, size: tuple[int, int]) -> None:
        """Make the viewport ``size`` (width, height) CSS pixels."""
        self.driver.set_window_size(*size)
        inner = self.script("return [window.innerWidth, window.innerHeight]")
        # The window has borders in some modes: grow it until the viewport is the size asked.
        self.driver.set_window_size(size[0] * 2 - inner[0], size[1] * 2 - inner[1])

    def login(self, token: str) -> None:
        """Type ``token`` into the login form with the keyboard and press Enter."""
        field = self.wait(lambda: self.find("#token") if self.visible("#token") else None, "login")
        field.clear()
        field.send_keys(token + "\n")

    def screenshot(self, name: str) -> Path:
        """Save the viewport as ``NAME.png`` in the test's directory."""
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[str]:
        """What the page logged as errors (script errors, refused requests, CSP reports)."""
        return [
            str(entry["message"])
            for entry in self.driver.get_log("browser")
            if entry["level"] in ("SEVERE", "ERROR")
        ]

    def requested(self) -> list[str]:
        """Every URL the page loaded or fetched."""
        names: list[str] = self.script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([location.href])"
        )
        return names


def start_browser(shots: Path, profile: Path) -> Browser:
    """A headless Chromium at 1280x800 with an empty ``profile``; skipped without Chromium,
    failed in CI."""
    chromium = require_tool("chromium", "chromium")
    chromedriver = require_tool("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    except WebDriverException as exc:
        raise AssertionError(f"Chromium did not start under chromedriver: {exc.msg}") from exc
    driver.set_page_load_timeout(20)
    browser = Browser(driver, shots)
    browser.resize(DESKTOP)
    return browser
