"""The dashboard in a real browser: headless Chromium (Debian's) driven by selenium against a live server.

Each test serves a fresh service over HTTP (the pytest plugin's `bulk` / `bulk_server`), signs in
through the form, and checks that the browser console stayed free of errors. Screenshots land in
pytest's temporary folder and in `screenshots/` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import (
    LAPTOP,
    PHONE,
    cell_text,
    console_errors,
    full_page_screenshot,
    mark_page,
    not_reloaded,
    set_window,
    sideways_overflow,
    start_chromium,
    table_overflow,
    wait_until,
)
from tests.live import PROJECT_ROOT

pytestmark = pytest.mark.live

SIGN_IN_FAILED = ("The account sign-in was incorrect or your account is disabled temporarily. "
                  "Please wait and try again later.")
SCREENSHOTS = PROJECT_ROOT / "screenshots"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver):
    """The browser at laptop size, its console emptied of what earlier tests left."""
    set_window(browser, LAPTOP)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    console_errors(browser)
    yield browser
    # Leave no page polling a server that is about to stop.
    browser.get("about:blank")


def sign_in(driver: WebDriver, base_url: str, path: str = "/dashboard", password: str = "admin123") -> None:
    driver.get(base_url + path)
    wait_until(driver, lambda d: "/dashboard/sign-in" in d.current_url, message="no sign-in form")
    username = driver.find_element(By.NAME, "username")
    username.clear()
    username.send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "[data-action=sign-in]").click()
    if password == "admin123":
        wait_until(driver, lambda d: d.current_url == base_url + path, message="not signed in")


def submit(bulk, items, route="/rest/async/bulk/V1/products") -> str:
    response = requests.post(bulk.url(route), json=items, headers=bulk.headers, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["bulk_uuid"]


def products(*skus: str) -> list[dict]:
    return [{"product": {"sku": sku, "name": f"Product {sku}", "price": 10}} for sku in skus]


def row_css(bulk_uuid: str) -> str:
    return f'tr[data-bulk-uuid="{bulk_uuid}"]'


def test_sign_in_shows_a_failure_as_an_alert_then_lets_the_admin_in(page, bulk):
    base_url = bulk.serve()
    page.get(base_url + "/")
    sign_in(page, base_url, password="wrong")
    alert = wait_until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"))[0]
    assert alert.text == SIGN_IN_FAILED
    assert page.find_element(By.NAME, "username").get_attribute("value") == "admin"
    page.find_element(By.NAME, "password").send_keys("admin123")
    page.find_element(By.CSS_SELECTOR, "[data-action=sign-in]").click()
    wait_until(page, lambda d: d.current_url == base_url + "/dashboard")
    assert page.find_element(By.TAG_NAME, "h1").text == "Bulks"
    assert "No bulks yet" in page.find_element(By.CSS_SELECTOR, "[data-empty]").text
    cookie = page.get_cookie("bulk_dashboard")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/dashboard"
    page.find_element(By.CSS_SELECTOR, "[data-action=sign-out]").click()
    wait_until(page, lambda d: "/dashboard/sign-in" in d.current_url)
    assert "You are signed out." in page.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert console_errors(page) == []


def test_a_bulk_appears_and_completes_on_the_open_page_by_itself(page, bulk):
    base_url = bulk.serve()  # no drainer thread: the test decides when the operations run
    sign_in(page, base_url)
    mark_page(page)
    bulk_uuid = submit(bulk, products("24-MB01", "24-MB04", "24-MB02"))
    row = row_css(bulk_uuid)
    wait_until(page, lambda d: d.find_elements(By.CSS_SELECTOR, row), message="the new bulk did not appear")
    assert cell_text(page, row + ' td[data-status="4"]') == "3"
    assert cell_text(page, row + ' td[data-status="1"]') == "0"
    assert cell_text(page, row + " [data-field=owner]") == "Admin #1"
    assert "productrepositoryinterface.save.post" in cell_text(page, row + " [data-field=description]")
    wait_until(page, lambda d: cell_text(d, "[data-overview=open_operations]") == "3")
    assert not page.find_element(By.CSS_SELECTOR, "[data-empty]").is_displayed()

    bulk.drain()
    wait_until(page, lambda d: cell_text(d, row + ' td[data-status="1"]') == "3",
               message="the bulk did not complete on the page")
    assert cell_text(page, row + ' td[data-status="4"]') == "0"
    bar = page.find_element(By.CSS_SELECTOR, row + " [role=progressbar]")
    assert bar.get_attribute("aria-valuenow") == "100"
    wait_until(page, lambda d: cell_text(d, "[data-overview=completed_last_hour]") == "3")
    assert cell_text(page, "[data-overview=open_operations]") == "0"
    assert not_reloaded(page), "the page reloaded instead of updating in place"
    assert console_errors(page) == []


def test_retry_of_a_failed_bulk_runs_it_again(page, bulk_server):
    bulk_server.faults.fail(entity={"sku": "BROKEN"}, message="The product can't be saved.", code=400)
    bulk_uuid = submit(bulk_server, products("FINE", "BROKEN"))
    assert bulk_server.wait_for(bulk_uuid) == [1, 3]
    sign_in(page, bulk_server.base_url, f"/dashboard/bulks/{bulk_uuid}")
    failed = 'tr[data-operation-id="1"]'
    assert cell_text(page, failed + " [data-field=status]") == "Failed (3)"
    assert cell_text(page, failed + " [data-field=result_message]") == "The product can't be saved."
    assert cell_text(page, failed + " [data-field=error_code]") == "400"
    assert '"sku": "BROKEN"' in cell_text(page, failed + " [data-field=item]")
    assert cell_text(page, row_css(bulk_uuid) + ' td[data-status="3"]') == "1"

    bulk_server.faults.reset()  # the cause is fixed: the retry will pass
    page.find_element(By.CSS_SELECTOR, "[data-action=retry]").click()
    wait_until(page, lambda d: "Re-opened 1 failed operation(s)" in d.find_element(By.CSS_SELECTOR, "main").text)
    wait_until(page, lambda d: cell_text(d, failed + " [data-field=status]") == "Complete (1)",
               message="the retried operation did not complete on the page")
    wait_until(page, lambda d: cell_text(d, row_css(bulk_uuid) + ' td[data-status="1"]') == "2")
    assert not page.find_element(By.CSS_SELECTOR, "[data-action=retry]").is_displayed()
    assert page.find_element(By.CSS_SELECTOR, "[data-action=delete]").is_displayed()
    assert bulk_server.wait_for(bulk_uuid) == [1, 1]
    assert console_errors(page) == []


def test_delete_asks_for_confirmation(page, bulk):
    base_url = bulk.serve()
    kept = submit(bulk, products("A"))
    doomed = submit(bulk, products("B", "C"))
    bulk.drain()
    sign_in(page, base_url, f"/dashboard/bulks/{doomed}")
    page.find_element(By.CSS_SELECTOR, "[data-action=delete]").click()
    wait_until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-action=confirm-delete]"))
    assert page.find_element(By.TAG_NAME, "h1").text == "Delete this bulk?"
    page.find_element(By.CSS_SELECTOR, "[data-action=cancel]").click()  # changed my mind
    wait_until(page, lambda d: d.current_url.endswith(f"/dashboard/bulks/{doomed}"))
    page.find_element(By.CSS_SELECTOR, "[data-action=delete]").click()
    wait_until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-action=confirm-delete]"))[0].click()
    wait_until(page, lambda d: d.current_url == base_url + "/dashboard")
    assert f"Deleted bulk {doomed} and its 2 operation(s)." in page.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert page.find_elements(By.CSS_SELECTOR, row_css(doomed)) == []
    assert page.find_elements(By.CSS_SELECTOR, row_css(kept))
    assert requests.get(bulk.url(f"/rest/V1/bulk/{doomed}/status"), headers=bulk.headers, timeout=10).status_code == 404
    assert console_errors(page) == []


def customers_with_a_failure(bulk) -> str:
    bulk.faults.fail(entity={"email": "taken@example.com"},
                     message="A customer with the same email address already exists in an associated website.",
                     code=409)
    return submit(bulk, [
        {"customer": {"email": f"{name}@example.com", "firstname": name.title(), "lastname": "Example-Longname",
                      "addresses": [{"street": ["1 A very long street name that goes on and on"],
                                     "city": "Somewhere", "postcode": "12345", "country_id": "NL"}]},
         "password": "Sup3r-secret!"} for name in ("ann", "taken", "bob")], route="/rest/async/bulk/V1/customers")


def test_phones_get_no_sideways_scrolling(page, bulk):
    base_url = bulk.serve()
    for index in range(3):
        submit(bulk, products(f"SKU-{index}-WITH-A-RATHER-LONG-CODE"))
    bulk_uuid = customers_with_a_failure(bulk)
    bulk.drain()
    submit(bulk, products("STILL-OPEN"))
    sign_in(page, base_url)
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                         {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True})
    for path in ("/dashboard", f"/dashboard/bulks/{bulk_uuid}", "/dashboard?state=failed"):
        page.get(base_url + path)
        wait_until(page, lambda d: d.execute_script("return document.readyState") == "complete")
        # The viewport meta makes the page as wide as the phone, and nothing is wider than that.
        assert page.execute_script("return window.innerWidth;") == PHONE[0], path
        assert sideways_overflow(page) <= 0, path
    assert "Sup3r-secret!" not in page.page_source
    SCREENSHOTS.mkdir(exist_ok=True)
    page.get(base_url + "/dashboard")
    page.save_screenshot(str(SCREENSHOTS / "dashboard-phone.png"))
    page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert console_errors(page) == []


@pytest.mark.parametrize("bulk_config", [{"BULK_RETRY_ATTEMPTS": 5, "BULK_RETRY_BASE_SECONDS": 600}])
def test_screenshot_of_a_busy_queue(page, bulk_server, tmp_path: Path):
    """A queue with finished, failed and waiting work, for a person to look at (and the README's picture)."""
    clock = bulk_server.clock
    clock.advance(-3 * 3600)
    done = submit(bulk_server, products(*(f"24-MB0{index}" for index in range(1, 9))))
    assert bulk_server.wait_for(done) == [1] * 8
    clock.advance(1800)
    customers = customers_with_a_failure(bulk_server)
    bulk_server.wait_for(customers)
    clock.advance(2 * 3600)
    prices = submit(bulk_server, [{"prices": [{"sku": f"WS0{index}", "price": 20 + index, "store_id": 0}]}
                                  for index in range(1, 6)], route="/rest/async/bulk/V1/products/base-prices")
    bulk_server.wait_for(prices)
    clock.advance(600)
    # The ERP is busy: these wait for their automatic retry (still open), showing the last failure.
    bulk_server.faults.fail(retriable=True, entity={"sku": "MH01"}, message="The ERP is busy, try again later.",
                            code=503)
    waiting = submit(bulk_server, [{"product": {"sku": "MH01", "price": 52}}, {"product": {"sku": "MH02", "price": 45}},
                                   {"product": {"sku": "MH01", "price": 51}}],
                     route="/rest/async/bulk/V1/products")
    wait_until(page, lambda d: bulk_server.service.drainer.heartbeat is not None)
    clock.advance(95)
    bulk_server.service.heartbeat.tick()  # a beat at the moved clock's time

    sign_in(page, bulk_server.base_url)
    wait_until(page, lambda d: d.find_elements(By.CSS_SELECTOR, row_css(waiting)))
    assert cell_text(page, row_css(waiting) + ' td[data-status="4"]') in ("2", "3")
    assert cell_text(page, row_css(customers) + ' td[data-status="3"]') == "1"
    assert page.find_elements(By.CSS_SELECTOR, "[data-workers] tr[data-worker]")
    # A laptop shows the whole table; narrower windows scroll the table's box, never the page.
    assert table_overflow(page, "table.bulks") <= 0
    for width in (1024, 800, 600):
        set_window(page, (width, LAPTOP[1]))
        assert sideways_overflow(page) <= 0, width
    set_window(page, LAPTOP)
    shot = full_page_screenshot(page, tmp_path / "dashboard.png", LAPTOP[0])
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / "dashboard.png")
    page.get(bulk_server.url(f"/dashboard/bulks/{customers}"))
    full_page_screenshot(page, SCREENSHOTS / "dashboard-bulk.png", LAPTOP[0])
    assert shot.stat().st_size > 10_000
    assert console_errors(page) == []
