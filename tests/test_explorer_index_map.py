"""The whole-index map in headless Chromium (software WebGL): every item drawn, labels by
importance, a search highlighted in place with lines from the query, an analogy's arrows with
its answer emphasised, a click that explores, and the items beyond the first SHOWN fetched as
you zoom in. One server and one browser for the module."""

from __future__ import annotations

import pytest

from browser import (results_for, running_server, screenshot, settled,
                     skip_module_without_browser, wait_for)
from embedsearch import query
from embedsearch.index import Index
from embedsearch.query import layout as layout_module

skip_module_without_browser()

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

SHOWN = 5_000  # of the 20,000 words, so that zooming in has more to fetch


@pytest.fixture(scope="module")
def site(word_index_path):
    patch = pytest.MonkeyPatch()
    patch.setattr(layout_module, "SHOWN", SHOWN)
    with running_server([str(word_index_path)]) as url:
        yield url
    patch.undo()


def map_ready(driver) -> bool:
    return settled(driver) and driver.execute_script(
        "return document.getElementById('index-map').dataset.ready === 'true'")


def drawn(driver) -> int:
    return int(driver.execute_script("return document.getElementById('index-map').dataset.points || 0"))


def marks(driver) -> dict[str, str]:
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#index-overlay circle.mark')]"
        ".map(c => [c.dataset.key, c.getAttribute('class').replace('mark ', '')]))")


def labels(driver) -> dict[str, str]:
    """Each map label's text and class, read in one script: the labels are redrawn when a move ends."""
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#index-labels .map-label')]"
        ".map(l => [l.textContent, l.getAttribute('class')]))")


def test_the_whole_index_with_labels(site, browser, word_index_path, tmp_path):
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, map_ready, "the whole-index map was not drawn")
    screenshot(browser, tmp_path, "whole-index")
    assert drawn(browser) == SHOWN
    assert "20,000 items" in browser.find_element(By.ID, "map-count").text
    shown_labels = labels(browser)
    assert len(shown_labels) >= 20
    assert {"the", "of", "and"} & set(shown_labels)  # the most frequent words are labelled first
    assert browser.find_element(By.ID, "map-mode").get_attribute("value") == "index"


def test_a_search_is_highlighted_in_place(site, browser, word_index_path, tmp_path):
    browser.get(f"{site}/?index={word_index_path.name}&q=king&k=12")
    results_for(browser, "neighbours of “king”")
    wait_for(browser, lambda d: len(marks(d)) == 13, "king and its 12 neighbours are not marked")
    screenshot(browser, tmp_path, "king")
    with Index.open(word_index_path) as index:
        expected = {hit.key for hit in query.neighbors(index, "king", k=12)}
    shown = marks(browser)
    assert shown.pop("king") == "query" and set(shown) == expected
    assert len(browser.find_elements(By.CSS_SELECTOR, "#index-overlay line.spoke")) == 12
    wait_for(browser, lambda d: "query" in labels(d).get("king", ""), "king is not labelled as the query")


def test_an_analogy_draws_arrows_to_its_answer(site, browser, word_index_path, tmp_path):
    browser.get(f"{site}/?index={word_index_path.name}&view=analogy&a=man&b=king&c=woman")
    assert results_for(browser, "man : king :: woman : ?")[0] == "queen"
    wait_for(browser, lambda d: marks(d).get("queen") == "answer", "the answer is not emphasised")
    screenshot(browser, tmp_path, "analogy")
    arrows = browser.find_elements(By.CSS_SELECTOR, "#index-overlay line.arrow")
    assert len(arrows) == 2 and all(a.get_attribute("marker-end") == "url(#index-arrow)" for a in arrows)
    assert {"man", "king", "woman"} <= set(marks(browser))


def test_clicking_a_point_explores_it(site, browser, word_index_path):
    browser.get(f"{site}/?index={word_index_path.name}&q=king&k=12")
    results_for(browser, "neighbours of “king”")
    wait_for(browser, lambda d: len(marks(d)) == 13, "no marks")
    browser.execute_script("return new Promise((resolve) => setTimeout(resolve, 700))")  # the zoom's animation
    target = browser.execute_script("""
      const map = window.embedsearchExplorer.indexMap;
      const row = map.rowOfId.get(map.ids[map.keys.indexOf('queen')]);
      const [x, y] = map.screenPosition(row);
      return [x, y];""")
    canvas = browser.find_element(By.ID, "index-canvas")
    size = canvas.size
    ActionChains(browser).move_to_element_with_offset(
        canvas, target[0] - size["width"] / 2, target[1] - size["height"] / 2).click().perform()
    results_for(browser, "neighbours of “queen”")


def test_zooming_in_fetches_the_items_beyond_the_first(site, browser, word_index_path):
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, map_ready, "the whole-index map was not drawn")
    assert drawn(browser) == SHOWN
    rare = browser.execute_script("""
      const map = window.embedsearchExplorer.indexMap;
      return map.plot.zoomToLocation([map.x[100], map.y[100]], 0.02, {transition: false})
        .then(() => map.count - map.shown);""")
    assert rare == 15_000
    wait_for(browser, lambda d: drawn(d) > SHOWN, "zooming in fetched nothing more")
    keys = browser.execute_script("return window.embedsearchExplorer.indexMap.keys.slice(%d)" % SHOWN)
    with Index.open(word_index_path) as index:
        ids = index.ids_for_keys(keys[:20])
    assert all(item_id >= SHOWN for item_id in ids.values())  # the rarer words, beyond the first


def test_the_plot_draws_in_bands_and_still_names_each_point(site, browser, word_index_path):
    """The plot gets the points in bands from the bottom of the map to the top, left to right
    within a band (software WebGL shades them faster so, and a view's points are a few runs),
    while the map keeps its rows by importance: the points are the rows' own, and hovering a
    point names that point's word, not the word in its place in the plot's order."""
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, map_ready, "the whole-index map was not drawn")
    banded, matching = browser.execute_script("""
      const map = window.embedsearchExplorer.indexMap, points = map.plot.get('points');
      const {start, low, high} = map.bands;
      const banded = low.every((y, band) => band === 0 || y >= high[band - 1]) &&
        points.every(([x, y], p) => {
          const band = start.findIndex((from, b) => from <= p && p < start[b + 1]);
          return low[band] <= y && y <= high[band] && (p === start[band] || x >= points[p - 1][0]);
        });
      const matching = points.length === map.x.length && points.every(([x, y], p) =>
        x === map.x[map.order[p]] && y === map.y[map.order[p]]);
      return [banded, matching];""")
    assert banded and matching
    row, key = browser.execute_script("""
      const map = window.embedsearchExplorer.indexMap;
      const row = [0, 1, 2].find((r) => map.slot[r] !== r);  // drawn elsewhere in the plot's order
      return map.plot.zoomToLocation([map.x[row], map.y[row]], 0.05, {transition: false})
        .then(() => new Promise((resolve) => setTimeout(resolve, 200)))
        .then(() => [row, map.keys[row]]);""")
    target = browser.execute_script(
        "return window.embedsearchExplorer.indexMap.screenPosition(%d)" % row)
    canvas = browser.find_element(By.ID, "index-canvas")
    ActionChains(browser).move_to_element_with_offset(
        canvas, target[0] - canvas.size["width"] / 2 + 1, target[1] - canvas.size["height"] / 2).perform()
    tooltip = browser.find_element(By.ID, "tooltip")
    wait_for(browser, lambda d: tooltip.is_displayed(), "no tooltip over the point")
    assert tooltip.text.split("\n")[0] == key
    assert row in browser.execute_script("return window.embedsearchExplorer.indexMap.visibleRows()")


# The canvas's pixels as the map draws them at rest (only the runs of points in view) and with
# every point drawn, each read in the frame that drew it: how many pixels differ, how many are
# drawn on, and how many points the runs hold.
PICTURES = """
const done = arguments[arguments.length - 1];
const map = window.embedsearchExplorer.indexMap, plot = map.plot;
const picture = () => new Promise((resolve) => {
  const listener = () => { plot.unsubscribe("drawing", listener); resolve(map.renderer.regl.read()); };
  plot.subscribe("drawing", listener);
  plot.redraw();
});
(async () => {
  const runs = map.pointRuns(map.x.length, map.viewBox());
  const atRest = await picture();
  map.pointRuns = () => null;
  const whole = await picture();
  delete map.pointRuns;
  let differing = 0, inked = 0;
  for (let i = 0; i < whole.length; i += 4) {
    if ([0, 1, 2, 3].some((c) => atRest[i + c] !== whole[i + c])) differing++;
    if (whole[i + 3] > 0) inked++;  // drawn on (the canvas is cleared transparent)
  }
  done({drawn: runs.reduce((sum, run) => sum + run.count, 0), points: map.x.length, inked, differing});
})();
"""


def test_a_zoomed_view_draws_only_its_points_and_the_same_picture(site, browser, word_index_path):
    """Zoomed in, only the runs of points in view are drawn, and the picture is the one every
    point drawn gives, pixel for pixel: also with a point right at the view's left edge (its
    disc half outside), which stays hoverable."""
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, map_ready, "the whole-index map was not drawn")
    browser.set_script_timeout(30)
    row = 3
    browser.execute_script("""
      const map = window.embedsearchExplorer.indexMap, row = arguments[0];
      return map.plot.zoomToLocation([map.x[row] + 0.03, map.y[row]], 0.1, {transition: false})
        .then(() => new Promise((resolve) => setTimeout(resolve, 200)));""", row)
    centred = browser.execute_async_script(PICTURES)
    assert centred["drawn"] < centred["points"] / 2
    assert centred["inked"] > 500 and centred["differing"] == 0
    # Pan so that the point sits 2 px inside the left edge.
    at = browser.execute_script("""
      const map = window.embedsearchExplorer.indexMap, row = arguments[0];
      const screen = map.toScreen(), [sx, sy] = map.screenPosition(row);
      const [ox] = screen(0, 0), [ux] = screen(1, 1), shift = (sx - 2) / (ux - ox);
      return map.plot.zoomToLocation([map.x[row] + 0.03 + shift, map.y[row]], 0.1, {transition: false})
        .then(() => new Promise((resolve) => setTimeout(resolve, 200)))
        .then(() => map.screenPosition(row));""", row)
    assert abs(at[0] - 2) < 1
    edge = browser.execute_async_script(PICTURES)
    assert edge["drawn"] < edge["points"] / 2
    assert edge["inked"] > 100 and edge["differing"] == 0
    canvas = browser.find_element(By.ID, "index-canvas")
    ActionChains(browser).move_to_element_with_offset(
        canvas, at[0] - canvas.size["width"] / 2 + 1, at[1] - canvas.size["height"] / 2).perform()
    tooltip = browser.find_element(By.ID, "tooltip")
    wait_for(browser, lambda d: tooltip.is_displayed(), "no tooltip over the point at the edge")
    key = browser.execute_script("return window.embedsearchExplorer.indexMap.keys[arguments[0]]", row)
    assert tooltip.text.split("\n")[0] == key


def test_a_move_shows_the_points_picture_and_ends_exact(site, browser, word_index_path):
    """While the view moves, most frames show a picture of the points moved and scaled instead
    of drawing the points, in the right place (a frame of it covers nearly the same pixels as
    every point drawn at that view); once the move ends the points are drawn again, and the
    picture is the one every point drawn gives, pixel for pixel."""
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, map_ready, "the whole-index map was not drawn")
    browser.set_script_timeout(30)
    counts = browser.execute_async_script("""
      const done = arguments[arguments.length - 1];
      const map = window.embedsearchExplorer.indexMap, plot = map.plot, layer = map.renderer.points;
      // pixels clearly drawn on (the picture, enlarged and filtered, spreads faint edges)
      const inked = (pixels) => pixels.filter((_, i) => i % 4 === 3).map((alpha) => alpha > 60);
      let moved = null, seen = 0;
      const listener = () => {  // a frame that shows the picture moved (the third or later), and its view
        if (!moved && layer.counts.moved > seen && layer.counts.moved > 2) {
          moved = {pixels: inked(map.renderer.regl.read()), view: Array.from(plot.get("cameraView"))};
        }
        seen = layer.counts.moved;
      };
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        layer.counts = {drawn: 0, pictured: 0, moved: 0};
        plot.subscribe("drawing", listener);
        await plot.zoomToLocation([map.x[5], map.y[5]], 0.7, {transition: true, transitionDuration: 600});
        plot.unsubscribe("drawing", listener);
        const during = {...layer.counts};
        await new Promise((resolve) => setTimeout(resolve, 300));
        const after = {...layer.counts};
        plot.set({cameraView: moved.view});  // back to that frame's view, at rest: every point drawn
        await new Promise((resolve) => setTimeout(resolve, 300));
        const drawn = await new Promise((resolve) => {
          const read = () => { plot.unsubscribe("drawing", read); resolve(inked(map.renderer.regl.read())); };
          plot.subscribe("drawing", read);
          plot.redraw();
        });
        const both = drawn.filter((ink, i) => ink && moved.pixels[i]).length;
        const either = drawn.filter((ink, i) => ink || moved.pixels[i]).length;
        done({during, after, overlap: both / Math.max(1, either), inked: either});
      })();""")
    during, after = counts["during"], counts["after"]
    assert during["moved"] > during["pictured"] >= 1
    assert after["drawn"] > during["drawn"]  # drawn again once still
    assert counts["inked"] > 500 and counts["overlap"] > 0.8
    settled_picture = browser.execute_async_script(PICTURES)
    assert settled_picture["inked"] > 500 and settled_picture["differing"] == 0
