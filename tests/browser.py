"""Headless Chromium for the dashboard's browser tests: Debian's chromium + chromium-driver via selenium.

`make browser` (part of `make test`) and `.ci/run` install both packages. Nothing is downloaded at
run time: the browser and driver paths are given, so selenium's driver manager never runs.
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

LAPTOP = (1280, 900)
PHONE = (390, 844)


def start_chromium(user_data_dir: Path) -> WebDriver:
    """A fresh headless Chromium (its own profile folder) with the browser console recorded."""
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        raise RuntimeError("chromium and chromedriver are needed: run `make browser` "
                           "(apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-extensions",
                     f"--user-data-dir={user_data_dir}", f"--window-size={LAPTOP[0]},{LAPTOP[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=driver_path)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 20,
               message: str = "") -> Any:
    """Poll `condition` until it gives something truthy (bounded); returns that.

    An element the page replaced between finding and reading it (the page refreshes its numbers by
    itself, and a form's answer replaces the page) counts as "not yet", like one not there yet.
    """
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(condition, message)


def console_errors(driver: WebDriver) -> list[dict]:
    """Errors the page wrote to the browser console since the last call (CSP violations, 404s, exceptions)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def sideways_overflow(driver: WebDriver) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth;")


def set_window(driver: WebDriver, size: tuple[int, int]) -> None:
    driver.set_window_size(*size)
    # The window manager of a headless browser may round; what matters is the page's own width.
    time.sleep(0.1)


def mark_page(driver: WebDriver) -> None:
    """Leave a mark in the page's script state: it survives updates in place, not a reload."""
    driver.execute_script("window.__notReloaded = true;")


def not_reloaded(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return window.__notReloaded === true;"))


def cell_text(driver: WebDriver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def full_page_screenshot(driver: WebDriver, path: Path, width: int) -> Path:
    """Save a PNG of the whole page laid out `width` CSS pixels wide (Chromium's DevTools protocol)."""
    set_window(driver, (width, LAPTOP[1]))
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def table_overflow(driver: WebDriver, css: str) -> int:
    """How many pixels a table is wider than the box it sits in (0: it fits)."""
    return driver.execute_script(
        "const table = document.querySelector(arguments[0]);"
        "return table.scrollWidth - table.parentElement.clientWidth;", css)
