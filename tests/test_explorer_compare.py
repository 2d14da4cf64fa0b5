"""Comparing two indexes in the explorer, in headless Chromium on a real server: the same word
in a GloVe slice and in a perturbed copy of its first 5,000 words (seeded noise), the two
neighbour lists side by side in rank order, the keys both hold marked with their rank in the
other, and overlap@k, all checked against exact search on each index. One server and one
browser for the module."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from browser import (message, running_server, screenshot, settled,
                     skip_module_without_browser, wait_for)
from embedsearch import query
from embedsearch.encoders import WordVectors
from embedsearch.index import Index
from embedsearch.indexing.build import build_vocabulary_index

skip_module_without_browser()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

WORDS = 5000
NOISE = 0.12  # per coordinate, against GloVe 50d rows of norm ~5: neighbours change, not all


@pytest.fixture(scope="module")
def perturbed_path(glove_slice, tmp_path_factory):
    rng = np.random.default_rng(7)
    vectors = np.asarray(glove_slice.vectors[:WORDS], dtype=np.float32)
    noisy = vectors + rng.normal(0, NOISE * np.abs(vectors).mean(), vectors.shape).astype(np.float32)
    path = tmp_path_factory.mktemp("compared") / "glove-noisy"
    build_vocabulary_index(WordVectors(glove_slice.words[:WORDS], noisy, name="glove-noisy"), path,
                           show_progress=False)
    return path


@pytest.fixture(scope="module")
def site(word_index_path, perturbed_path):
    with running_server([str(word_index_path), str(perturbed_path)]) as url:
        yield url


def reference(first: Path, second: Path, word: str, k: int):
    """Both exact neighbour lists and the keys they share."""
    lists = []
    for path in (first, second):
        with Index.open(path) as index:
            lists.append([hit.key for hit in query.neighbors(index, word, k=k)])
    return lists, set(lists[0]) & set(lists[1])


def columns(driver) -> list[list[str]]:
    return driver.execute_script(
        "return [0, 1].map(s => [...document.querySelectorAll('#versus-table td.side-' + s)]"
        ".filter(c => c.dataset.key).map(c => c.dataset.key))")


def marked_shared(driver) -> list[set[str]]:
    return [set(keys) for keys in driver.execute_script(
        "return [0, 1].map(s => [...document.querySelectorAll('#versus-table td.side-' + s + '.shared')]"
        ".map(c => c.dataset.key))")]


def shown(driver, word: str):
    wait_for(driver, lambda d: settled(d) and f"“{word}”" in d.find_element(By.ID, "output").text
             and d.find_elements(By.ID, "versus-table"), f"no comparison for {word!r}")


def test_one_word_in_two_indexes(site, browser, word_index_path, perturbed_path, tmp_path):
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, lambda d: settled(d) and d.find_elements(By.CSS_SELECTOR, "#other-select option"),
             "the page did not load")
    browser.find_element(By.ID, "tab-versus").click()
    Select(browser.find_element(By.ID, "other-select")).select_by_value(perturbed_path.name)
    k_box = browser.find_element(By.ID, "versus-k")
    k_box.clear()
    k_box.send_keys("20")
    box = browser.find_element(By.ID, "versus-query")
    box.send_keys("king", Keys.ENTER)
    shown(browser, "king")
    screenshot(browser, tmp_path, "two-indexes")
    (first, second), both = reference(word_index_path, perturbed_path, "king", 20)
    assert 0 < len(both) < 20, "the noise should change some neighbours, not all"
    assert columns(browser) == [first, second]
    assert marked_shared(browser) == [both, both]
    overlap = browser.find_element(By.ID, "overlap")
    assert overlap.get_attribute("data-overlap") == str(len(both))
    assert f"overlap@20: {len(both) / 20:.2f}" in overlap.text
    twin = next(key for key in first if key in both)
    cell = browser.find_element(By.CSS_SELECTOR, f'#versus-table td.side-0[data-key="{twin}"]')
    assert f"↔ {second.index(twin) + 1}" in cell.text
    state = {name: values[0] for name, values in parse_qs(urlparse(browser.current_url).query).items()}
    assert state["view"] == "versus" and state["q"] == "king" and state["k"] == "20"
    assert state["index"] == word_index_path.name and state["other"] == perturbed_path.name


def test_a_link_reproduces_it_and_a_click_compares_the_next_word(site, browser, word_index_path,
                                                               perturbed_path):
    browser.get(f"{site}/?index={perturbed_path.name}&view=versus&other={word_index_path.name}"
                "&q=computer&k=10")
    shown(browser, "computer")
    (first, second), both = reference(perturbed_path, word_index_path, "computer", 10)
    assert columns(browser) == [first, second]
    assert browser.find_element(By.ID, "overlap").get_attribute("data-overlap") == str(len(both))
    browser.find_element(By.CSS_SELECTOR, f'#versus-table td.side-1[data-key="{second[1]}"] button').click()
    shown(browser, second[1])
    assert columns(browser) == reference(perturbed_path, word_index_path, second[1], 10)[0]
    browser.back()
    shown(browser, "computer")
    assert columns(browser) == [first, second]


def test_a_word_only_one_index_knows(site, browser, word_index_path, perturbed_path):
    with Index.open(perturbed_path) as small:
        rare = next(word for word in ("wrestler", "quartet", "glacier", "sediment")
                    if small.ids_for_keys([word]) == {})
    browser.get(f"{site}/?index={word_index_path.name}&view=versus&other={perturbed_path.name}"
                f"&q={rare}&k=5")
    wait_for(browser, lambda d: settled(d) and message(d)[1] == "error", "no error shown")
    assert perturbed_path.name in message(browser)[0] and rare in message(browser)[0]
    first, second = columns(browser)
    assert len(first) == 5 and second == []
    assert browser.find_element(By.ID, "overlap").text == ""


def test_an_unknown_other_index_is_named(site, browser, word_index_path, perturbed_path):
    browser.get(f"{site}/?index={word_index_path.name}&view=versus&other=nope&q=king&k=5")
    shown(browser, "king")
    assert "nope" in message(browser)[0]
    assert parse_qs(urlparse(browser.current_url).query)["other"] == [perturbed_path.name]


def test_the_map_marks_both_lists_and_their_overlap(site, browser, word_index_path, perturbed_path,
                                                    tmp_path):
    browser.get(f"{site}/?index={word_index_path.name}&view=versus&other={perturbed_path.name}"
                "&q=king&k=20")
    shown(browser, "king")
    (first, second), both = reference(word_index_path, perturbed_path, "king", 20)
    expected = {"king": "query"} | {key: "shared" if key in both else "hit" for key in first} \
        | {key: "other" for key in second if key not in both}

    def marks(driver) -> dict[str, str]:
        return driver.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('#index-overlay circle.mark')]"
            ".map(c => [c.dataset.key, c.getAttribute('class').replace('mark ', '')]))")

    wait_for(browser, lambda d: marks(d) == expected, "both lists are not marked on the map")
    screenshot(browser, tmp_path, "two-indexes-map")
    spokes = browser.execute_script(
        "return [...document.querySelectorAll('#index-overlay line.spoke')].map(l => l.getAttribute('class'))")
    assert sorted(spokes) == sorted("spoke " + role for key, role in expected.items() if key != "king")
    assert perturbed_path.name in browser.find_element(By.ID, "map-title").text
