"""The web explorer in a real headless Chromium (Debian's chromium + chromium-driver, selenium),
served by a real uvicorn on a small real index: search, click to explore, back/forward, analogy,
the map's points, the message for a bad filter, the similarity tools, a corpus index."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from browser import (chromium, results_for, running_server, settled, shown_keys,
                     skip_module_without_browser, wait_for)
from embedsearch import query
from embedsearch.encoders import load_encoder
from embedsearch.index import Index
from embedsearch.indexing.build import build_corpus_index

skip_module_without_browser()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory, vectors_file):
    folder = tmp_path_factory.mktemp("explored")
    texts = ["the river bank was flooded", "the bank raised interest rates", "bread from the bakery"]
    (folder / "shelf.jsonl").write_text("".join(
        json.dumps({"id": f"book{i}", "text": t, "genre": "news" if i < 2 else "food"}) + "\n"
        for i, t in enumerate(texts)))
    path = folder / "shelf"
    build_corpus_index(folder / "shelf.jsonl", load_encoder(str(vectors_file)), path,
                       key_field="id", show_progress=False)
    return path


@pytest.fixture(scope="module")
def site(word_index_path, corpus_path):
    with running_server([str(word_index_path), str(corpus_path)]) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        yield driver


def test_search_click_and_history(site, browser, word_index_path):
    browser.get(f"{site}/?index={word_index_path.name}")
    box = wait_for(browser, lambda d: d.find_element(By.ID, "query"), "no search box")
    box.clear()
    box.send_keys("computer", Keys.ENTER)
    with Index.open(word_index_path) as index:
        expected = [hit.key for hit in query.neighbors(index, "computer", k=20)]
        assert results_for(browser, "neighbours of “computer”") == expected
        clicked = expected[2]
        browser.find_element(By.CSS_SELECTOR, f'#results .hit[data-key="{clicked}"]').click()
        assert results_for(browser, f"neighbours of “{clicked}”") == \
            [hit.key for hit in query.neighbors(index, clicked, k=20)]
    assert parse_qs(urlparse(browser.current_url).query)["q"] == [clicked]
    browser.back()
    assert results_for(browser, "neighbours of “computer”") == expected
    browser.forward()
    results_for(browser, f"neighbours of “{clicked}”")
    shared = browser.current_url
    browser.get("about:blank")
    browser.get(shared)  # a shared link reproduces the view
    results_for(browser, f"neighbours of “{clicked}”")


def test_map_has_the_query_and_its_neighbours(site, browser, word_index_path):
    browser.get(f"{site}/?index={word_index_path.name}&view=neighbors&q=king&k=10&map=local")
    results_for(browser, "neighbours of “king”")
    points = browser.find_elements(By.CSS_SELECTOR, "#map circle.point")
    assert len(points) == 31  # the query and max(k, 30) neighbours
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map circle.point.query")) == 1
    labels = {t.text for t in browser.find_elements(By.CSS_SELECTOR, "#map text")}
    assert {"king", "queen", "prince"} <= labels
    hover = browser.find_element(By.CSS_SELECTOR, "#map circle.point.query")
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element(hover).perform()
    tooltip = browser.find_element(By.ID, "tooltip")
    wait_for(browser, lambda d: tooltip.is_displayed() and "king" in tooltip.text, "no tooltip")


@pytest.mark.parametrize("method", ["add", "mul"])
def test_analogy_builder(site, browser, word_index_path, method):
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, settled, "page did not load")
    browser.find_element(By.ID, "tab-analogy").click()
    for name, word in zip("abc", ("man", "king", "woman")):
        field = browser.find_element(By.ID, f"analogy-{name}")
        field.clear()
        field.send_keys(word)
    browser.find_element(By.CSS_SELECTOR, f"input[name=method][value={method}]").click()
    Select(browser.find_element(By.ID, "map-mode")).select_by_value("local")
    browser.find_element(By.ID, "analogy-go").click()
    keys = results_for(browser, "man : king :: woman : ?")
    assert keys[0] == "queen"
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#map line.link")) == 2,
             "the analogy's two arrows are not drawn")


def test_bad_filter_shows_the_servers_message(site, browser, corpus_path):
    browser.get(f"{site}/?index={corpus_path.name}&view=neighbors&q=money")
    results_for(browser, "neighbours of “money”")
    browser.find_element(By.CSS_SELECTOR, "#filter-box summary").click()
    box = browser.find_element(By.ID, "filter")
    box.send_keys('{"genre": {"$like": "n%"}}')
    browser.find_element(By.ID, "filter-apply").click()
    message = browser.find_element(By.ID, "message")
    wait_for(browser, lambda d: "unknown operator '$like'" in message.text, "no filter message")
    assert "error" in message.get_attribute("class")
    box.clear()
    box.send_keys('{"genre": "food"}')
    browser.find_element(By.ID, "filter-apply").click()
    wait_for(browser, lambda d: settled(d) and shown_keys(d) == ["book2"], "filter not applied")
    assert message.text == ""
    assert "bread from the bakery" in browser.find_element(By.ID, "output").text


def test_similarity_and_odd_one_out(site, browser, word_index_path):
    browser.get(f"{site}/?index={word_index_path.name}&view=compare&terms=king|queen&tool=similarity")
    with Index.open(word_index_path) as index:
        score = query.similarity(index, "king", "queen")
    wait_for(browser, lambda d: d.find_elements(By.ID, "similarity-score"), "no similarity")
    assert browser.find_element(By.ID, "similarity-score").text == f"{score:.4f}"
    terms = browser.find_element(By.ID, "terms")
    terms.clear()
    terms.send_keys("breakfast, cereal, dinner, lunch")
    browser.find_element(By.ID, "doesnt-match-go").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "odd-one-out"), "no odd one out")
    assert browser.find_element(By.ID, "odd-one-out").text == "cereal"
