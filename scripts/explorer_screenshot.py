"""Save a screenshot of the explorer at 1280x800 (docs/explorer.png) from a real server and
headless Chromium: the whole-index map, with a word's neighbours highlighted in place.

    python scripts/explorer_screenshot.py --index glove-6b-50d --query computer
    python scripts/explorer_screenshot.py --map local --out /tmp/local.png
    python scripts/explorer_screenshot.py --method umap --out docs/explorer-umap.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import chromium, running_server, set_viewport, settled, wait_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="glove-6b-50d")
    parser.add_argument("--query", default="computer")
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--map", choices=("index", "local"), default="index")
    parser.add_argument("--method", choices=("pca", "umap"), default="pca",
                        help="the projection (UMAP waits for its layout, minutes if not cached)")
    parser.add_argument("--out", default="docs/explorer.png")
    args = parser.parse_args()
    params = {"index": Path(args.index).name, "q": args.query, "k": args.k}
    if args.map == "local":
        params["map"] = "local"
    if args.method != "pca":
        params["proj"] = args.method
    with running_server([args.index]) as url, chromium() as driver:
        set_viewport(driver, 1280, 800)
        driver.get(f"{url}/?{urlencode(params)}")
        marked = ("#index-overlay circle.mark" if args.map == "index" else "#map circle.point")
        wait_for(driver, lambda d: settled(d) and d.execute_script(
            f"return document.querySelectorAll('{marked}').length > 0"), "the map was not drawn",
            timeout=120 if args.method == "pca" else 1800)
        time.sleep(1.0)  # the zoom to the neighbours is animated
        driver.save_screenshot(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
