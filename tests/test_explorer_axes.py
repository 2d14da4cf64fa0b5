"""Custom axes in the explorer, in headless Chromium on a real server: a query's neighbourhood
laid out along two chosen directions (man -> woman, poor -> rich; or two texts). Every point's
position, in the table and on the map, is checked against NumPy on the index's own vectors:
x = (v - start) . (end - start) / |end - start|^2, and likewise y. One server and one browser
for the module."""

from __future__ import annotations

import json
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlparse
from urllib.request import Request, urlopen

import numpy as np
import pytest

from browser import (message, running_server, screenshot, settled,
                     skip_module_without_browser, wait_for)
from embedsearch import query
from embedsearch.index import Index

skip_module_without_browser()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture(scope="module")
def site(word_index_path):
    with running_server([str(word_index_path)]) as url:
        yield url


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def term_vector(index: Index, term: str) -> np.ndarray:
    """A word's stored unit vector; a text's, the normalised mean of its words' (by hand)."""
    words = term.split()
    ids = index.ids_for_keys(words)
    return unit(np.mean([index.vectors_of([ids[w]])[0].astype(np.float64) for w in words], axis=0))


def reference(index_path, word: str, k: int, x_axis, y_axis) -> dict[str, tuple[float, float]]:
    """key -> (x, y) for the query, its k exact neighbours and the four ends."""
    with Index.open(index_path) as index:
        keys = [word, *(hit.key for hit in query.neighbors(index, word, k=k)), *x_axis, *y_axis]
        positions = {}
        for key in keys:
            vector = term_vector(index, key)
            placed = []
            for start, end in (x_axis, y_axis):
                a, b = term_vector(index, start), term_vector(index, end)
                placed.append(float((vector - a) @ (b - a) / ((b - a) @ (b - a))))
            positions[key] = tuple(placed)
        return positions


def table_positions(driver) -> dict[str, tuple[float, float]]:
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#axes-table tbody tr')]"
        ".map(r => [r.dataset.key, Number(r.dataset.x), Number(r.dataset.y)])")
    return {key: (x, y) for key, x, y in rows}


def map_positions(driver) -> dict[str, tuple[float, float]]:
    circles = driver.execute_script(
        "return [...document.querySelectorAll('#map circle.point')]"
        ".map(c => [c.dataset.key, Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))])")
    return {key: (x, y) for key, x, y in circles}


def laid_out(driver, word: str):
    wait_for(driver, lambda d: settled(d) and d.find_elements(By.ID, "axes-table") and
             f"“{word}”" in d.find_element(By.ID, "output").text, f"no axes for {word!r}")


def check_positions(driver, expected: dict[str, tuple[float, float]]) -> None:
    table = table_positions(driver)
    assert set(table) == set(expected)
    for key, (x, y) in expected.items():
        assert table[key] == pytest.approx((x, y), abs=1e-4), key
    drawn = map_positions(driver)
    assert set(drawn) == set(expected)
    keys = sorted(expected)
    for axis, sign in ((0, 1), (1, -1)):  # the screen's y grows downwards
        wanted = np.array([expected[key][axis] for key in keys])
        pixels = np.array([drawn[key][axis] for key in keys])
        slope, offset = np.polyfit(wanted, pixels, 1)
        assert slope * sign > 0
        assert np.abs(slope * wanted + offset - pixels).max() < 0.5, "the map is not linear in the axis"


def test_lay_out_a_neighbourhood_on_two_directions(site, browser, word_index_path, tmp_path):
    browser.get(f"{site}/?index={word_index_path.name}")
    wait_for(browser, settled, "the page did not load")
    browser.find_element(By.ID, "tab-axes").click()
    for field, text in (("axis-x-start", "man"), ("axis-x-end", "woman"),
                        ("axis-y-start", "poor"), ("axis-y-end", "rich")):
        browser.find_element(By.ID, field).send_keys(text)
    k_box = browser.find_element(By.ID, "axes-k")
    k_box.clear()
    k_box.send_keys("15")
    browser.find_element(By.ID, "axes-query").send_keys("king", Keys.ENTER)
    laid_out(browser, "king")
    screenshot(browser, tmp_path, "axes")
    expected = reference(word_index_path, "king", 15, ("man", "woman"), ("poor", "rich"))
    assert expected["woman"][0] == pytest.approx(1) and expected["man"][0] == pytest.approx(0)
    check_positions(browser, expected)
    state = {name: values[0] for name, values in parse_qs(urlparse(browser.current_url).query).items()}
    assert {name: state[name] for name in ("view", "q", "k", "xfrom", "xto", "yfrom", "yto")} == {
        "view": "axes", "q": "king", "k": "15", "xfrom": "man", "xto": "woman", "yfrom": "poor",
        "yto": "rich"}
    assert [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#map text.axis-title")] == \
        ["x: man → woman", "y: poor → rich"]


def test_texts_as_ends_from_a_link_and_a_click_moves_on(site, browser, word_index_path):
    x_axis, y_axis = ("cold winter", "hot summer"), ("city", "country")
    browser.get(f"{site}/?index={word_index_path.name}&view=axes&q=rain&k=8&xfrom=cold%20winter"
                "&xto=hot%20summer&yfrom=city&yto=country")
    laid_out(browser, "rain")
    check_positions(browser, reference(word_index_path, "rain", 8, x_axis, y_axis))
    assert message(browser) == ("", "")
    neighbour = browser.execute_script(
        "return document.querySelector('#axes-table tr.neighbor').dataset.key")
    browser.find_element(By.CSS_SELECTOR, f'#axes-table tr[data-key="{neighbour}"] button').click()
    laid_out(browser, neighbour)
    check_positions(browser, reference(word_index_path, neighbour, 8, x_axis, y_axis))
    browser.back()
    laid_out(browser, "rain")


@pytest.mark.parametrize("ends, wanted", [
    ("xfrom=man&xto=man&yfrom=poor&yto=rich", "no direction"),
    ("xfrom=man&xto=qzxwvk&yfrom=poor&yto=rich", "qzxwvk"),
    ("xfrom=man&xto=woman&yfrom=poor", "both ends of both axes")])
def test_a_bad_axis_is_named_and_clears_the_last_layout(site, browser, word_index_path, ends, wanted):
    browser.get(f"{site}/?index={word_index_path.name}&view=axes&q=king&k=5&xfrom=man&xto=woman"
                "&yfrom=poor&yto=rich")
    laid_out(browser, "king")
    browser.get(f"{site}/?index={word_index_path.name}&view=axes&q=queen&k=5&{ends}")
    wait_for(browser, lambda d: settled(d) and message(d)[1] == "error", "no error shown")
    assert wanted in message(browser)[0]
    assert not browser.find_elements(By.ID, "axes-table")
    assert not browser.find_elements(By.CSS_SELECTOR, "#map circle.point")


def test_words_an_end_does_not_know_are_named(site, browser, word_index_path):
    browser.get(f"{site}/?index={word_index_path.name}&view=axes&q=king&k=5&xfrom=man"
                "&xto=woman%20qzxwvk&yfrom=poor&yto=rich")
    laid_out(browser, "king")
    assert message(browser) == ("left out, not in the index: qzxwvk", "note")
    assert table_positions(browser)["woman qzxwvk"][0] == pytest.approx(1, abs=1e-4)


def post(url: str, body: dict) -> tuple[int, dict]:
    request = Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urlopen(request) as response:
            return response.status, json.load(response)
    except HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.parametrize("change", [{"k": 0}, {"k": 5000}, {"query": "w" * 1001},
                                    {"x": {"start": "", "end": "woman"}},
                                    {"y": {"start": "poor"}}, {"x": {"start": "man", "end": "man"}}])
def test_the_endpoint_refuses_bad_input_with_one_message(site, word_index_path, change):
    body = {"query": "king", "k": 5, "x": {"start": "man", "end": "woman"},
            "y": {"start": "poor", "end": "rich"}, **change}
    status, answer = post(f"{site}/indexes/{word_index_path.name}/axes", body)
    assert status in (400, 422) and answer["error"]["message"]
