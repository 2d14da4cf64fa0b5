"""Time the explorer's whole-index map in headless Chromium (software WebGL) on a real server:
computing the layout, page load to the map drawn, frame time while zooming and panning, and
Enter to the neighbours highlighted.

    EMBEDSEARCH_HOME=/tmp/home python scripts/bench_explorer.py --index glove-6b-50d
    EMBEDSEARCH_HOME=/tmp/home python scripts/bench_explorer.py --method umap --layout-only

The layout (--method pca, the default, or umap) is recomputed first (its cached file in
<index>/.maps is removed) unless --keep-layout. The zooming and panning is timed twice: as the
map draws it (moving frames show a picture of the points, drawn again when it no longer
covers the view; static/points-layer.js) and drawing every point in view in every frame (the
cost of a frame drawn in full, as at rest). Beside each frame time it prints the CPU time
Chromium's GPU process spent per frame (software WebGL runs there): on a shared machine the
wall time of a frame follows the other jobs, that CPU time much less. --frame-breakdown also
times where a frame goes: the same map with no point in view (the cost of the points' vertices
alone), with the whole map in view, and a bare WebGL program drawing the same points along the
same moves in the same order (the floor of any point renderer).
"""

from __future__ import annotations

import argparse
import json
import os
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
const picture = arguments[0], done = arguments[arguments.length - 1];
const map = window.embedsearchExplorer.indexMap, plot = map.plot, layer = map.renderer.points;
layer.picture = picture;
layer.counts = {drawn: 0, pictured: 0, moved: 0};
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
  layer.picture = true;
  done({frames: stamps.length, gaps, points: map.x.length, counts: layer.counts});
})();
"""


STILL_SCRIPT = """
const [target, distance, count] = arguments, done = arguments[arguments.length - 1];
const map = window.embedsearchExplorer.indexMap, plot = map.plot;
const stamps = [];
(async () => {
  await plot.zoomToLocation(target, distance, {transition: false});
  const listener = () => {
    stamps.push(performance.now());
    if (stamps.length < count) requestAnimationFrame(() => plot.redraw());
    else { plot.unsubscribe("draw", listener); finish(); }
  };
  const finish = async () => {
    const points = plot.get("pointsInView").length;
    await plot.zoomToLocation([0, 0], 1.0, {transition: false});
    done({frames: stamps.length, gaps: stamps.slice(1).map((t, i) => t - stamps[i]), points});
  };
  plot.subscribe("draw", listener);
  plot.redraw();
})();
"""


BARE_SCRIPT = """
const done = arguments[arguments.length - 1];
const map = window.embedsearchExplorer.indexMap, plot = map.plot, regl = map.renderer.regl;
const drawn = plot.get("points"), n = drawn.length, xy = new Float32Array(2 * n);
drawn.forEach(([x, y], i) => { xy[2 * i] = x; xy[2 * i + 1] = y; });  // in the plot's order
const draw = regl({
  vert: `precision highp float; attribute vec2 xy; uniform vec2 scale, offset; uniform float size;
    varying vec4 color; varying float side;
    void main() { gl_Position = vec4(xy * scale + offset, 0.0, 1.0); gl_PointSize = size;
      side = size; color = vec4(0.43, 0.56, 0.85, 0.3); }`,
  frag: `precision highp float; varying vec4 color; varying float side;
    void main() { float d = length(gl_PointCoord * 2.0 - 1.0) * side;
      gl_FragColor = vec4(color.rgb, color.a * clamp(side + 0.5 - d, 0.0, 1.0)); }`,
  attributes: {xy}, count: n, primitive: "points", depth: {enable: false},
  uniforms: {scale: regl.prop("scale"), offset: regl.prop("offset"), size: regl.prop("size")},
  blend: {enable: true, func: {srcRGB: "src alpha", srcAlpha: "one", dstRGB: "one minus src alpha",
                               dstAlpha: "one minus src alpha"}},
});
const moves = [[[0.2, 0.1], 0.3], [[-0.3, 0.2], 0.3], [[-0.3, -0.3], 0.08], [[0.1, -0.2], 0.6],
               [[0, 0], 1.0]];
const ease = (t) => (t < 0.5 ? 4 * t * t * t : (t - 1) * (2 * t - 2) * (2 * t - 2) + 1);
(async () => {
  // The plot's own camera at distance 1 gives map units to clip space; the plot then stays still.
  await plot.zoomToLocation([0, 0], 1.0, {transition: false});
  const {width, height} = map.container.getBoundingClientRect();
  const first = drawn.reduce((best, p, i) => (p[0] + p[1] < drawn[best][0] + drawn[best][1] ? i : best), 0);
  const last = drawn.reduce((best, p, i) => (p[0] + p[1] > drawn[best][0] + drawn[best][1] ? i : best), 0);
  const a = plot.getScreenPosition(first), b = plot.getScreenPosition(last);
  const kx = 2 / width * (b[0] - a[0]) / (drawn[last][0] - drawn[first][0]);
  const ky = -2 / height * (b[1] - a[1]) / (drawn[last][1] - drawn[first][1]);
  const pointSize = [].concat(plot.get("pointSize"))[0];
  await new Promise((resolve) => setTimeout(resolve, 300));  // the page's own redraw after a move
  let target = [0, 0], distance = 1;
  const stamps = [];
  for (const [to, end] of moves) {
    const from = target, start = distance, began = performance.now();
    await new Promise((resolve) => {
      const frame = () => {
        const t = Math.min(1, (performance.now() - began) / 1500), e = ease(t);
        target = [from[0] + (to[0] - from[0]) * e, from[1] + (to[1] - from[1]) * e];
        distance = start + (end - start) * e;
        stamps.push(performance.now());
        const zoom = 1 / distance;  // points grow with the zoom as the plot's do (asinh)
        regl.clear({color: [1, 1, 1, 1]});
        draw({scale: [kx * zoom, ky * zoom], offset: [-target[0] * kx * zoom, -target[1] * ky * zoom],
              size: pointSize * Math.asinh(Math.max(1, zoom)) / Math.asinh(1)});
        if (t < 1) requestAnimationFrame(frame); else resolve();
      };
      requestAnimationFrame(frame);
    });
  }
  plot.redraw();
  done({frames: stamps.length, gaps: stamps.slice(1).map((t, i) => t - stamps[i]).filter((g) => g < 1000),
        points: n});
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


def descendants(root: int) -> list[int]:
    """Process ids under root (Linux /proc), root included."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def gpu_cpu_seconds(driver) -> float | None:
    """CPU seconds (user + system) Chromium's GPU process has used so far; None where /proc
    or the process cannot be read."""
    try:
        for pid in descendants(driver.service.process.pid):
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"--type=gpu-process" not in cmdline.read():
                    continue
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, ValueError):
        return None
    return None


def time_frames(driver, script: str, *args) -> dict:
    """Runs a frames script; adds the GPU process's CPU milliseconds per frame ("gpu_ms")."""
    before = gpu_cpu_seconds(driver)
    frames = driver.execute_async_script(script, *args)
    after = gpu_cpu_seconds(driver)
    frames["gpu_ms"] = (None if before is None or after is None
                        else 1000 * (after - before) / max(1, frames["frames"]))
    return frames


def describe_frames(frames: dict) -> str:
    gaps = frames["gaps"]
    gpu = "" if frames["gpu_ms"] is None else f"; GPU process CPU {frames['gpu_ms']:.1f} ms a frame"
    return (f"median {statistics.median(gaps):.1f} ms, 95th percentile {percentile(gaps, 0.95):.1f} ms "
            f"({frames['frames']} frames{gpu})")


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
    parser.add_argument("--frame-breakdown", action="store_true",
                        help="also time frames with no point in view, the whole map in view, and a "
                             "bare WebGL program drawing the same points")
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
            frames = time_frames(driver, FRAMES_SCRIPT, True)
            counts = frames["counts"]
            print(f"frame time zooming and panning over {frames['points']:,} points: "
                  + describe_frames(frames) + f"; frames drawing the points into a new picture "
                  f"{counts['pictured']}, showing it moved {counts['moved']}, drawing them onto "
                  f"the screen {counts['drawn']}")
            full = time_frames(driver, FRAMES_SCRIPT, False)
            print(f"  the same moves drawing the points in every frame (no picture): "
                  + describe_frames(full))
            if args.frame_breakdown:
                for label, target, distance in (("no point in view", [50, 50], 0.01),
                                                ("the whole map in view", [0, 0], 1.0)):
                    still = time_frames(driver, STILL_SCRIPT, target, distance, 60)
                    print(f"  still, {label} ({still['points']:,} of {frames['points']:,} points): "
                          + describe_frames(still))
                bare = time_frames(driver, BARE_SCRIPT)
                print(f"  a bare WebGL program drawing the same {bare['points']:,} points in the same order "
                      "along the same moves: " + describe_frames(bare))
            baseline = time_frames(driver, BASELINE_SCRIPT + FRAMES_SCRIPT, False)
            print(f"  the same moves over {baseline['points']:,} points (the fixed cost of a frame): "
                  + describe_frames(baseline))
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
