"""The explorer's defects of issue 28, each as the journey that showed it, in headless Chromium
on a real server: what is on screen must agree with what was asked (no stale answer under an
error, only the latest request paints), the layout must hold from 800 px, nothing may fail
silently, and text, keyboard and URL must behave. One server and one browser for the module."""

from __future__ import annotations

import importlib.util
import json
from urllib.parse import parse_qs, urlparse
from urllib.request import urlopen

import pytest

from browser import (WAIT, chromium, message, results_for, running_server, screenshot, set_viewport,
                     settled, shown_keys, skip_module_without_browser, wait_for)
from embedsearch import query
from embedsearch.encoders import load_encoder
from embedsearch.index import Index
from embedsearch.indexing.build import build_corpus_index

skip_module_without_browser()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

DOCUMENTS = [
    ("the river bank was flooded after the storm", "news", 2001),
    ("the bank raised interest rates again", "money", 2003),
    ("fresh bread from the bakery on the corner", "food", 2005),
    ("the central bank cut interest rates to fight the recession", "money", 2008),
    ("heavy rain flooded the valley and the river burst its banks", "news", 2010),
    ("a recipe for sourdough bread with a crisp crust", "food", 2012),
    ("stock markets fell as investors feared higher rates", "money", 2014),
    ("the football team won the championship final", "sport", 2016),
    ("the striker scored twice in the second half", "sport", 2018),
    ("soup and bread for a cold winter evening", "food", 2020),
    ("the government announced a new budget for schools", "news", 2022),
    ("the coach praised the players after the match", "sport", 2024),
]


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory, vectors_file):
    folder = tmp_path_factory.mktemp("library")
    (folder / "library.jsonl").write_text("".join(
        json.dumps({"id": f"lee_background.cor:{200 + i}", "text": text, "topic": topic,
                    "year": year}) + "\n"
        for i, (text, topic, year) in enumerate(DOCUMENTS)))
    path = folder / "library"
    build_corpus_index(folder / "library.jsonl", load_encoder(str(vectors_file)), path,
                       key_field="id", show_progress=False)
    return path


@pytest.fixture(scope="module")
def site(word_index_path, corpus_path):
    with running_server([str(word_index_path), str(corpus_path)]) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium(1280, 800) as driver:
        yield driver


@pytest.fixture
def page(browser, site, word_index_path):
    """The browser at 1280 x 800 on the word index's page; a function that opens a query
    (on the local map unless `params` choose one: the whole-index map has its own tests)."""
    set_viewport(browser, 1280, 800)

    def open_page(params: str = "", index: str | None = None, timeout: float = WAIT):
        chosen = params if "map=" in params else f"{params}&map=local"
        browser.get(f"{site}/?index={index or word_index_path.name}&{chosen}")
        wait_for(browser, lambda d: settled(d) and d.find_elements(By.CSS_SELECTOR, "#index-select option"),
                 "the page did not load", timeout=timeout)
        return browser
    return open_page


def url_state(driver) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlparse(driver.current_url).query).items()}


def search(driver, text: str) -> None:
    box = driver.find_element(By.ID, "query")
    box.clear()
    box.send_keys(text, Keys.ENTER)


def map_highlights(driver) -> int:
    """How many points the whole-index map has highlighted (0 when nothing is)."""
    return driver.execute_script("return document.querySelectorAll('#index-overlay circle.mark').length")


# -- 1. no stale answer under an error ---------------------------------------------------------


def test_an_unknown_word_clears_the_previous_answer(page, tmp_path):
    driver = page("q=cat&map=index")
    assert results_for(driver, "neighbours of “cat”")
    wait_for(driver, lambda d: map_highlights(d) > 0, "cat is not highlighted on the map")
    search(driver, "qzxwvk")
    wait_for(driver, lambda d: settled(d) and message(d)[1] == "error", "no error shown")
    screenshot(driver, tmp_path, "unknown-word")
    assert "qzxwvk" in message(driver)[0]
    assert shown_keys(driver) == [] and "cat" not in driver.find_element(By.ID, "output").text
    assert map_highlights(driver) == 0
    assert url_state(driver)["q"] == "qzxwvk"


def test_an_analogy_with_an_unknown_word_clears_the_previous_answer(page):
    driver = page("view=analogy&a=man&b=king&c=woman")
    assert results_for(driver, "man : king :: woman : ?")[0] == "queen"
    field = driver.find_element(By.ID, "analogy-c")
    field.clear()
    field.send_keys("qzxwvk", Keys.ENTER)
    wait_for(driver, lambda d: settled(d) and message(d)[1] == "error", "no error shown")
    assert shown_keys(driver) == [] and "queen" not in driver.find_element(By.ID, "output").text
    assert url_state(driver)["c"] == "qzxwvk"


def test_an_invalid_filter_is_refused_and_kept_out_of_the_url(page):
    driver = page("q=cat")
    results_for(driver, "neighbours of “cat”")
    driver.find_element(By.CSS_SELECTOR, "#filter-box summary").click()
    driver.find_element(By.ID, "filter").send_keys('{"source": ')
    driver.find_element(By.ID, "filter-apply").click()
    wait_for(driver, lambda d: message(d)[1] == "error", "no error for a bad filter")
    assert "not valid JSON" in message(driver)[0]
    assert shown_keys(driver) == []
    assert "filter" not in url_state(driver)


def test_odd_one_out_of_texts_clears_the_previous_answer(page):
    driver = page("view=compare&terms=king|queen&tool=similarity")
    wait_for(driver, lambda d: d.find_elements(By.ID, "similarity-score"), "no similarity")
    terms = driver.find_element(By.ID, "terms")
    terms.clear()
    terms.send_keys("qzxwvk vbnmq")
    terms.send_keys(Keys.SHIFT, Keys.ENTER)
    terms.send_keys("zzqqxx")
    driver.find_element(By.ID, "doesnt-match-go").click()
    wait_for(driver, lambda d: settled(d) and message(d)[1] == "error", "no error shown")
    assert not driver.find_elements(By.ID, "similarity-score")


# -- 2. only the latest request paints --------------------------------------------------------

SLOW_FETCH = """
const original = window.fetch;
window.fetch = (url, options) => {
  const slow = options && options.body && options.body.includes('"queen"');
  return slow ? new Promise((resolve) => setTimeout(resolve, 1500)).then(() => original(url, options))
              : original(url, options);
};
"""


def test_a_slow_older_answer_never_overwrites_a_newer_one(page, word_index_path):
    driver = page()
    driver.execute_script(SLOW_FETCH)
    search(driver, "queen")
    search(driver, "river")
    with Index.open(word_index_path) as index:
        expected = [hit.key for hit in query.neighbors(index, "river", k=20)]
    assert results_for(driver, "neighbours of “river”") == expected
    driver.execute_script("return new Promise((resolve) => setTimeout(resolve, 2500))")
    assert shown_keys(driver) == expected
    assert "river" in driver.find_element(By.CSS_SELECTOR, "#output h2").text
    assert url_state(driver)["q"] == "river"


# -- 3. only what the server can do is offered -------------------------------------------------


def test_projections_offered_are_those_the_server_has(page):
    expected = ["pca"] + (["umap"] if importlib.util.find_spec("umap") else [])
    driver = page("q=king&map=local&proj=umap", timeout=240 if "umap" in expected else WAIT)
    results_for(driver, "neighbours of “king”")
    offered = driver.execute_script(
        "return [...document.querySelectorAll('#projection-method option')].map(o => o.value)")
    assert offered == expected
    if "umap" in expected:  # the first UMAP in a process compiles numba's code: a long wait
        assert "UMAP" in driver.find_element(By.ID, "map-count").text
    else:
        assert "UMAP" in message(driver)[0]
        assert driver.find_element(By.ID, "projection-method").get_attribute("value") == "pca"
        assert "PCA" in driver.find_element(By.ID, "map-count").text


# -- 4. usable from 800 px --------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(800, 600), (1000, 700), (1920, 1080)])
def test_every_control_is_on_screen(page, browser, width, height, tmp_path):
    set_viewport(browser, width, height)
    driver = page("q=king&map=local")
    results_for(driver, "neighbours of “king”")
    screenshot(driver, tmp_path, f"layout-{width}")
    for control in ("query", "k", "search-button", "map-mode", "projection-method", "colour-by",
                    "label-by", "index-select", "tools-toggle"):
        box = driver.execute_script(
            f"return document.getElementById('{control}').getBoundingClientRect().toJSON()")
        assert box["width"] > 0 and box["left"] >= 0 and box["right"] <= width, control
        assert box["top"] >= 0 and box["bottom"] <= height, control
        assert driver.execute_script(  # nothing covers it and no column clips it
            f"const c = document.getElementById('{control}');"
            "const b = c.getBoundingClientRect();"
            "return [[b.left + 3, b.top + b.height / 2], [b.right - 3, b.top + b.height / 2]]"
            ".every(([x, y]) => c.contains(document.elementFromPoint(x, y)))"), control
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    before = driver.find_element(By.ID, "map-panel").rect["width"]
    driver.find_element(By.ID, "tools-toggle").click()
    assert driver.find_element(By.ID, "map-panel").rect["width"] > before + 250
    driver.find_element(By.ID, "tools-toggle").click()


# -- 5. corpus maps fitted on the documents, labelled by their text -------------------------------


def test_a_corpus_map_spreads_the_documents_and_labels_them_by_text(page, corpus_path, tmp_path):
    driver = page("q=money+and+banks&k=11&map=local", index=corpus_path.name)
    results_for(driver, "neighbours of “money and banks”")
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#map circle.point")) == 13,
             "the query and 12 documents are not on the map")
    screenshot(driver, tmp_path, "corpus-map")
    width = driver.find_element(By.ID, "map").rect["width"]
    xs = [float(c.get_attribute("cx")) for c in driver.find_elements(By.CSS_SELECTOR, "#map circle.neighbor")]
    assert max(xs) - min(xs) > 0.5 * width  # the documents are not squashed into a strip
    labels = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#map text")]
    assert not any(label.startswith("lee_background.cor") for label in labels)
    assert any(label.startswith(("the bank", "the central bank", "stock markets")) for label in labels)


def test_the_whole_map_of_a_corpus_is_labelled_by_text(page, corpus_path, tmp_path):
    driver = page("map=index", index=corpus_path.name)
    wait_for(driver, lambda d: d.execute_script(
        "return document.getElementById('index-map').dataset.ready === 'true'"), "no map")
    driver.execute_script("window.embedsearchExplorer.indexMap.placeLabels()")
    screenshot(driver, tmp_path, "corpus-index-map")
    labels = driver.execute_script(  # in one script: the labels are redrawn when a move ends
        "return [...document.querySelectorAll('#index-labels .map-label')].map(l => l.textContent)")
    starts = {text[:40] for text, _, _ in DOCUMENTS}
    assert labels and set(labels) <= {s if len(s) <= 28 else s[:27] + "…" for s in starts}


# -- 6. tooltips stay inside the map and go away on navigation ---------------------------------


def test_the_tooltip_stays_inside_the_map_and_leaves_with_it(page, corpus_path):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = page("q=money+and+banks&k=11&map=local", index=corpus_path.name)
    results_for(driver, "neighbours of “money and banks”")
    panel = driver.find_element(By.ID, "map-panel").rect
    points = driver.find_elements(By.CSS_SELECTOR, "#map circle.point")
    rightmost = max(points, key=lambda p: p.rect["x"])
    ActionChains(driver).move_to_element(rightmost).perform()
    tooltip = driver.find_element(By.ID, "tooltip")
    wait_for(driver, lambda d: tooltip.is_displayed(), "no tooltip")
    box = tooltip.rect
    assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
    assert box["y"] + box["height"] <= panel["y"] + panel["height"] + 1
    assert "year:" in tooltip.text  # the metadata is shown, not cut off
    search(driver, "bread")
    results_for(driver, "neighbours of “bread”")
    assert not tooltip.is_displayed()


# -- 7. labels, the similarity matrix, emphasis, arrows ------------------------------------------


def test_labels_never_cover_another_point(page):
    driver = page("q=king&k=30&map=local")
    results_for(driver, "neighbours of “king”")
    overlaps = driver.execute_script("""
      const dots = [...document.querySelectorAll('#map circle.point')].map(c => c.getBoundingClientRect());
      let count = 0;
      for (const label of document.querySelectorAll('#map text')) {
        const box = label.getBoundingClientRect();
        for (const dot of dots) {
          const cx = dot.x + dot.width / 2, cy = dot.y + dot.height / 2;
          if (cx > box.left && cx < box.right && cy > box.top && cy < box.bottom) count++;
        }
      }
      return count;""")
    assert overlaps == 0


def test_the_similarity_matrix_fits_and_is_coloured_by_value(page, tmp_path):
    driver = page("view=compare&terms=king|queen|prince|banana|computer&tool=similarity")
    wait_for(driver, lambda d: d.find_elements(By.ID, "similarity-matrix"), "no matrix")
    screenshot(driver, tmp_path, "matrix")
    output = driver.find_element(By.ID, "output").rect
    table = driver.find_element(By.CSS_SELECTOR, ".matrix-scroll").rect
    assert table["x"] + table["width"] <= output["x"] + output["width"] + 1
    colours = driver.execute_script(
        "return [...document.querySelectorAll('#similarity-matrix td')].map(td => td.style.backgroundColor)")
    assert len(colours) == 25 and len(set(colours)) > 5


def test_an_analogy_marks_its_answer_and_draws_arrows_with_heads(page, tmp_path):
    driver = page("view=analogy&a=man&b=king&c=woman&method=mul&map=local")
    results_for(driver, "man : king :: woman : ?")
    screenshot(driver, tmp_path, "analogy")
    assert driver.find_element(By.CSS_SELECTOR, "#results li.answer .hit").get_attribute("data-key") == "queen"
    assert "3CosMul" in driver.find_element(By.CSS_SELECTOR, "#output h2").text
    assert "cosine" not in driver.find_element(By.CSS_SELECTOR, "#output h2").text
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#map circle.point.answer"), "no answer on the map")
    arrows = driver.find_elements(By.CSS_SELECTOR, "#map line.link")
    assert len(arrows) == 2 and all(a.get_attribute("marker-end") == "url(#arrow-head)" for a in arrows)
    assert driver.find_elements(By.CSS_SELECTOR, "#map marker#arrow-head path")


def test_compared_terms_that_are_neighbours_stand_out(page):
    driver = page("view=compare&terms=king|queen|prince&tool=similarity&map=local")
    wait_for(driver, lambda d: d.find_elements(By.ID, "similarity-matrix"), "no matrix")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#map circle.point"), "no map")
    marked = {c.get_attribute("data-key") for c in driver.find_elements(
        By.CSS_SELECTOR, "#map circle.point.query, #map circle.point.term")}
    assert {"king", "queen", "prince"} <= marked


# -- 8. nothing fails silently ---------------------------------------------------------------


def test_odd_one_out_names_the_word_it_left_out(page):
    driver = page("view=compare&terms=breakfast|cereal|dinner|lunch|qzxwvk&tool=odd")
    wait_for(driver, lambda d: d.find_elements(By.ID, "odd-one-out"), "no odd one out")
    text, kind = message(driver)
    assert "qzxwvk" in text and kind == "note"


def test_a_filter_that_matches_nothing_says_so(page, corpus_path):
    driver = page('q=bread&filter={"topic":"cooking"}', index=corpus_path.name)
    results_for(driver, "neighbours of “bread”")
    assert "no item matches the filter" in message(driver)[0]


@pytest.mark.parametrize("params,expected", [
    ("view=bogus&q=king", "no view “bogus”"),
    ("q=king&index=nope", "no index “nope”"),
])
def test_a_bad_url_is_named_and_a_usable_view_shown(page, params, expected):
    driver = page(params)
    results_for(driver, "neighbours of “king”")
    assert expected in message(driver)[0]
    assert driver.find_element(By.ID, "neighbors-form").is_displayed()


@pytest.mark.parametrize("k", ["0", "5000"])
def test_an_out_of_range_k_is_an_error(page, k):
    driver = page("q=king")
    results_for(driver, "neighbours of “king”")
    field = driver.find_element(By.ID, "k")
    field.clear()
    field.send_keys(k, Keys.ENTER)
    wait_for(driver, lambda d: message(d)[1] == "error", "no error for k")
    assert "k must be a whole number from 1 to 1000" in message(driver)[0]
    assert shown_keys(driver) == []


def test_an_empty_query_says_what_to_type(page):
    driver = page()
    search(driver, " ")
    wait_for(driver, lambda d: message(d)[1] == "error", "nothing said about an empty query")
    assert "type a word" in message(driver)[0]


# -- 9. text, keyboard, URL, favicon, title ----------------------------------------------------


def test_one_text_per_line_keeps_its_commas_and_ctrl_enter_submits(page):
    driver = page("view=compare")
    terms = driver.find_element(By.ID, "terms")
    terms.clear()
    terms.send_keys("the king, the queen")
    terms.send_keys(Keys.SHIFT, Keys.ENTER)
    terms.send_keys("bread, butter and jam")
    terms.send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(By.ID, "similarity-score"), "Ctrl+Enter did not submit")
    assert url_state(driver)["terms"] == "the king, the queen|bread, butter and jam"


def test_enter_on_a_hit_keeps_the_focus_in_the_results(page):
    driver = page("q=king")
    keys = results_for(driver, "neighbours of “king”")
    hit = driver.find_element(By.CSS_SELECTOR, f'#results .hit[data-key="{keys[1]}"]')
    hit.send_keys(Keys.ENTER)
    results_for(driver, f"neighbours of “{keys[1]}”")
    assert driver.execute_script("return document.activeElement.classList.contains('hit')")


def test_map_points_are_reachable_by_keyboard(page):
    driver = page("q=king&map=local")
    results_for(driver, "neighbours of “king”")
    point = driver.find_element(By.CSS_SELECTOR, '#map circle.point[data-key="queen"]')
    assert point.get_attribute("tabindex") == "0"
    driver.execute_script("arguments[0].focus()", point)
    assert driver.find_element(By.ID, "tooltip").is_displayed()
    point.send_keys(Keys.ENTER)
    results_for(driver, "neighbours of “queen”")


def test_map_settings_live_in_the_url_and_the_title_says_what_is_shown(page, corpus_path):
    driver = page("q=bread&map=local", index=corpus_path.name)
    results_for(driver, "neighbours of “bread”")
    assert "bread" in driver.title
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "colour-by")).select_by_value("metadata.year")
    assert url_state(driver)["colour"] == "metadata.year"
    legend = driver.find_element(By.ID, "legend").text
    assert "2001" in legend and "2001.00" not in legend
    driver.refresh()
    results_for(driver, "neighbours of “bread”")
    assert driver.find_element(By.ID, "colour-by").get_attribute("value") == "metadata.year"
    assert driver.find_element(By.ID, "map-mode").get_attribute("value") == "local"


def test_the_score_legend_says_similarity(page):
    driver = page("q=king&map=local")
    results_for(driver, "neighbours of “king”")
    chosen = driver.execute_script(
        "const s = document.getElementById('colour-by'); return s.options[s.selectedIndex].text")
    assert chosen == "similarity to query"


def test_favicon(site):
    with urlopen(f"{site}/favicon.ico") as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("image/")


# -- readable documents and keyboard tabs -----------------------------------------------------


def test_a_text_query_marks_its_words_in_the_passages(page, corpus_path):
    driver = page("q=interest+rates+at+the+bank&k=3", index=corpus_path.name)
    results_for(driver, "neighbours of “interest rates at the bank”")
    first = driver.find_element(By.CSS_SELECTOR, "#results li .passage")
    marked = [m.text.lower() for m in first.find_elements(By.TAG_NAME, "mark")]
    assert marked and set(marked) <= {"interest", "rates", "the", "bank"}
    assert "at" not in marked  # words under three letters are not marked
    meta = driver.find_element(By.CSS_SELECTOR, "#results li .meta-line").text
    assert "topic:" in meta and "year:" in meta


def test_arrow_keys_move_between_tabs(page):
    driver = page()
    tab = driver.find_element(By.ID, "tab-neighbors")
    tab.send_keys(Keys.ARROW_RIGHT)
    assert driver.execute_script("return document.activeElement.id") == "tab-analogy"
    assert driver.find_element(By.ID, "analogy-form").is_displayed()
    driver.switch_to.active_element.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    assert driver.execute_script("return document.activeElement.id") == "tab-axes"  # wraps round to the last tab
