"""Headless Chromium for the explorer's tests and its screenshot: Debian's chromium and
chromium-driver, driven by selenium, with nothing downloaded and a fresh profile."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

from helpers import serving

INSTALL_HINT = "apt-get install -y chromium chromium-driver (and pip install selenium)"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--enable-unsafe-swiftshader",  # software WebGL for the whole-index map
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


def find_browser() -> tuple[str, str] | None:
    """(chromium binary, chromedriver) if both are installed, else None."""
    binary = next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser"))), None)
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    return (binary, driver) if binary and driver else None


@contextmanager
def chromium(width: int = 1280, height: int = 800):
    """A selenium driver on headless Chromium with a throwaway profile, window width x height."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = find_browser()
    profile = tempfile.mkdtemp(prefix="embedsearch-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(driver, width: int, height: int) -> None:
    """The page's size, and the screen's: headless Chromium's screen is 800x600, and WebGL
    libraries size their drawing buffer to min(window, screen), so a bigger page would draw
    only its top-left 800x600."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False,
        "screenWidth": width, "screenHeight": height})


@contextmanager
def running_server(names, **settings):
    """A real uvicorn server on a free loopback port, in a thread; yields its base URL."""
    with serving(names, **settings) as (url, _):
        yield url


def require_browser_env() -> bool:
    return os.environ.get("EMBEDSEARCH_REQUIRE_BROWSER") == "1"


def skip_module_without_browser() -> None:
    """At the top of a browser test module: skip it where Chromium is missing, or fail it
    where the environment requires the browser (CI sets EMBEDSEARCH_REQUIRE_BROWSER=1)."""
    import pytest

    if find_browser() is None:
        if require_browser_env():
            pytest.fail(f"EMBEDSEARCH_REQUIRE_BROWSER=1 but Chromium is missing: {INSTALL_HINT}",
                        pytrace=False)
        pytest.skip(f"no Chromium for the explorer tests: {INSTALL_HINT}", allow_module_level=True)


# -- helpers for the explorer's tests --------------------------------------------------------

WAIT = 20


def wait_for(driver, condition, message, timeout: float = WAIT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d), message)


def settled(driver) -> bool:
    """No request in flight (the page sets body[aria-busy] while it waits for the server)."""
    return driver.execute_script("return document.body.getAttribute('aria-busy')") == "false"


def shown_keys(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#results .hit')].map(b => b.dataset.key)")


def results_for(driver, title: str) -> list[str]:
    wait_for(driver, lambda d: settled(d) and title in d.execute_script(
        "const h = document.querySelector('#output h2'); return h ? h.textContent : ''"),
        f"no results titled {title!r}")
    return shown_keys(driver)


def message(driver) -> tuple[str, str]:
    """The message line's text and kind ('error', 'note' or '')."""
    return tuple(driver.execute_script(
        "const m = document.getElementById('message');"
        "return [m.textContent, m.classList.contains('error') ? 'error' :"
        " m.classList.contains('note') ? 'note' : '']"))


def screenshot(driver, folder, name: str) -> None:
    """A PNG of the page under the test's temporary folder, to look at when a test fails."""
    driver.save_screenshot(str(folder / f"{name}.png"))
