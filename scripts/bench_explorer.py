"""Time the explorer's whole-index map in headless Chromium (software WebGL) on a real server:
computing the layout, page load to the map drawn, frame time while zooming and panning, and
Enter to the neighbours highlighted.

    EMBEDSEARCH_HOME=/tmp/home python scripts/bench_explorer.py --index glove-6b-50d
    EMBEDSEARCH_HOME=/tmp/home python scripts/bench_explorer.py --method umap --layout-only

The layout (--method pca, the default, or umap) is recomputed first (its cached file in
<index>/.maps is removed) unless --keep-layout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import chromium, running_server, set_viewport, settled, wait_for  # noqa: E402

QUERIES = ("king", "computer", "river", "paris", "guitar", "protein", "election")

FRAMES_SCRIPT = """
const done = arguments[arguments.length - 1];
const map = window.embedsearchExplorer.indexMap, plot = map.plot;
const stamps = [];
const listener = () => stamps.push(performance.now());
plot.subscribe("draw", listener);
const moves = [[[0.2, 0.1], 0.3], [[-0.3, 0.2], 0.3], [[-0.3, -0.3], 0.08], [[0.1, -0.2], 0.6],
               [[0, 0], 1.0]];
(async () => {
  if (map.x.length !== map.ids.length) await map.drawPoints();
  for (const [target, distance] of moves) {
    await plot.zoomToLocation(target, distance, {transition: true, transitionDuration: 1500});
  }
  plot.unsubscribe("draw", listener);
  const gaps = stamps.slice(1).map((t, i) => t - stamps[i]).filter((g) => g < 1000);
  done({frames: stamps.length, gaps, points: map.x.length});
})();
"""


BASELINE_SCRIPT = """
const shownMap = window.embedsearchExplorer.indexMap;
shownMap.x.length = 1000; shownMap.y.length = 1000;
"""


def get_json(url: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = Request(url, data=data, headers={"Content-Type": "application/json"})
    with urlopen(request) as answer:
        return json.loads(answer.read())


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_layout(url: str, name: str, method: str) -> tuple[float, list[float]]:
    """Seconds from the first /map request to "ready", and the neighbours queries' times
    (milliseconds) answered while the layout was being computed."""
    start = time.perf_counter()
    state = get_json(f"{url}/indexes/{name}/map?method={method}")
    during = []
    while state["state"] != "ready":
        began = time.perf_counter()
        get_json(f"{url}/indexes/{name}/neighbors", {"query": "king", "k": 10})
        during.append((time.perf_counter() - began) * 1000)
        time.sleep(0.02 if method == "pca" else 1.0)
        state = get_json(f"{url}/indexes/{name}/map?method={method}")
    return time.perf_counter() - start, during


def time_page_load(driver, url: str, name: str, method: str) -> float:
    """Milliseconds from navigation start to the whole-index map drawn."""
    driver.get("about:blank")
    driver.get(f"{url}/?index={name}&proj={method}")
    wait_for(driver, lambda d: d.execute_script(
        "return document.getElementById('index-map').dataset.readyAt"), "the map was not drawn",
        timeout=120)
    return float(driver.execute_script("return document.getElementById('index-map').dataset.readyAt"))


def time_enter_to_highlight(driver, query: str) -> float:
    """Milliseconds from the Enter key in the search box to the neighbours marked on the map."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("""
      window.enterAt = 0;
      const box = document.getElementById('query');
      box.addEventListener('keydown', function stamp(event) {
        if (event.key !== 'Enter') return;
        window.enterAt = performance.now();
        box.removeEventListener('keydown', stamp, true);
      }, true);""")
    box = driver.find_element(By.ID, "query")
    box.clear()
    box.send_keys(query, Keys.ENTER)
    wait_for(driver, lambda d: d.execute_script(
        "return window.enterAt > 0 && Number(document.getElementById('index-map').dataset"
        ".highlightedAt || 0) > window.enterAt"), f"{query} was not highlighted")
    wait_for(driver, settled, "the page did not settle")
    return float(driver.execute_script(
        "return Number(document.getElementById('index-map').dataset.highlightedAt) - window.enterAt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="glove-6b-50d", help="an index name or path")
    parser.add_argument("--keep-layout", action="store_true", help="keep a cached layout")
    parser.add_argument("--loads", type=int, default=3, help="page loads to time")
    parser.add_argument("--method", choices=("pca", "umap"), default="pca", help="the layout")
    parser.add_argument("--layout-only", action="store_true", help="time the layout, no browser")
    args = parser.parse_args()
    from embedsearch.index import Index, resolve_index_path
    from embedsearch.query.layout import layout_path

    path = resolve_index_path(args.index)
    name = path.name
    if not args.keep_layout:
        with Index.open(path) as index:
            layout_path(index, args.method).unlink(missing_ok=True)
    with running_server([str(path)]) as url:
        quiet = []
        for _ in range(20):
            began = time.perf_counter()
            get_json(f"{url}/indexes/{name}/neighbors", {"query": "king", "k": 10})
            quiet.append((time.perf_counter() - began) * 1000)
        print(f"neighbours query with no layout computing: median {statistics.median(quiet[5:]):.0f} ms, "
              f"max {max(quiet[5:]):.0f} ms")
        layout_seconds, during = time_layout(url, name, args.method)
        state = get_json(f"{url}/indexes/{name}/map?method={args.method}")
        print(f"layout ({state['method']}, {state['count']:,} items): {layout_seconds:.2f} s; "
              f"{len(during)} neighbours queries meanwhile: median {statistics.median(during or [0]):.0f} ms, "
              f"max {max(during or [0]):.0f} ms")
        if args.layout_only:
            return
        with chromium(1280, 800) as driver:
            set_viewport(driver, 1280, 800)
            loads = [time_page_load(driver, url, name, args.method) for _ in range(args.loads)]
            print(f"page load to the whole-index map drawn ({state['shown']:,} points, layout "
                  f"cached): median {statistics.median(loads):.0f} ms, runs "
                  + ", ".join(f"{t:.0f}" for t in loads))
            driver.set_script_timeout(120)
            frames = driver.execute_async_script(FRAMES_SCRIPT)
            gaps = frames["gaps"]
            print(f"frame time zooming and panning over {frames['points']:,} points: median "
                  f"{statistics.median(gaps):.1f} ms, 95th percentile {percentile(gaps, 0.95):.1f} ms "
                  f"({frames['frames']} frames)")
            baseline = driver.execute_async_script(BASELINE_SCRIPT + FRAMES_SCRIPT)
            print(f"  the same moves over {baseline['points']:,} points (the fixed cost of a frame): median "
                  f"{statistics.median(baseline['gaps']):.1f} ms, 95th percentile "
                  f"{percentile(baseline['gaps'], 0.95):.1f} ms ({baseline['frames']} frames)")
            driver.get(f"{url}/?index={name}&proj={args.method}")
            wait_for(driver, lambda d: d.execute_script(
                "return document.getElementById('index-map').dataset.readyAt"), "no map", timeout=120)
            enters = [time_enter_to_highlight(driver, q) for q in QUERIES]
            print(f"Enter to neighbours highlighted (k=20): median {statistics.median(enters):.0f} ms, "
                  f"max {max(enters):.0f} ms over {len(enters)} queries")
    with running_server([str(path)]) as url:  # a new server reads the layout from disk
        began = time.perf_counter()
        get_json(f"{url}/indexes/{name}/map?method={args.method}")
        print(f"a new server's first /map answer (layout read from {name}/.maps): "
              f"{(time.perf_counter() - began) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
