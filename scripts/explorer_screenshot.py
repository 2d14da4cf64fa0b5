"""Save a screenshot of the explorer at 1280x800 (docs/explorer.png) from a real server and
headless Chromium: the neighbours of a word, with the map drawn.

    python scripts/explorer_screenshot.py --index glove-6b-50d --query computer
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import chromium, running_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="glove-6b-50d")
    parser.add_argument("--query", default="computer")
    parser.add_argument("--out", default="docs/explorer.png")
    args = parser.parse_args()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    with running_server([args.index]) as url, chromium() as driver:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        driver.get(f"{url}/?index={args.index}&view=neighbors&q={args.query}&k=15")
        WebDriverWait(driver, 30).until(ready.presence_of_element_located((By.CSS_SELECTOR,
                                                                           "#map circle.point")))
        time.sleep(0.5)
        driver.save_screenshot(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
