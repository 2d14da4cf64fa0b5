// embedsearch explorer: plain JavaScript over the HTTP API, no build step, nothing fetched
// from elsewhere. The view lives in the URL (?index=..&view=..&q=..), so back/forward and a
// shared link reproduce it. The map is drawn as SVG from points the server projected.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599", "#e67700",
                 "#5c940d", "#862e9c", "#495057"];
const MAP_NEIGHBOURS = 30;

let indexes = [];
let current = {};        // the view shown: {index, view, q, k, a, b, c, method, terms, filter}
let mapPoints = [];
let mapLinks = [];
let pending = 0;

// -- talking to the server ---------------------------------------------------------------

async function api(path, body) {
  const headers = {};
  const key = sessionStorage.getItem("embedsearch-key");
  if (key) headers["Authorization"] = "Bearer " + key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  busy(+1);
  try {
    const response = await fetch(path, {method: body === undefined ? "GET" : "POST", headers,
                                        body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (response.status === 401) $("key-box").classList.remove("hidden");
      const error = new Error((data.error && data.error.message) || response.statusText);
      error.code = data.error ? data.error.code : "http_" + response.status;
      throw error;
    }
    return data;
  } finally {
    busy(-1);
  }
}

function busy(change) {
  pending += change;
  $("busy").classList.toggle("on", pending > 0);
  document.body.setAttribute("aria-busy", pending > 0 ? "true" : "false");
}

function say(text, isError) {
  const message = $("message");
  message.textContent = text || "";
  message.classList.toggle("error", !!isError);
}

function indexName() { return $("index-select").value; }

function isCorpus() {
  const entry = indexes.find((e) => e.name === indexName());
  return entry && entry.content === "corpus";
}

// -- the filter ----------------------------------------------------------------------------

function readFilter() {
  const text = $("filter").value.trim();
  $("filter-state").textContent = text ? "on" : "none";
  if (!text) return null;
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error("a filter is a JSON object, e.g. {\"source\": \"a.txt\"}");
    }
    return parsed;
  } catch (error) {
    const wrapped = new Error("the filter is not valid JSON: " + error.message);
    wrapped.code = "bad_filter";
    throw wrapped;
  }
}

function withFilter(body) {
  const filter = readFilter();
  if (filter) body.filter = filter;
  return body;
}

// -- the URL is the state --------------------------------------------------------------------

function stateFromURL() {
  const params = new URLSearchParams(location.search);
  const state = {};
  for (const [name, value] of params) state[name] = value;
  return state;
}

function remember(state, push) {
  current = state;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(state)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const url = "?" + params.toString();
  if (url === location.search) return;
  if (push) history.pushState(state, "", url); else history.replaceState(state, "", url);
}

function baseState(view) {
  return {index: indexName(), view, filter: $("filter").value.trim() || undefined};
}

async function show(state, push) {
  if (state.index && state.index !== indexName() && indexes.some((e) => e.name === state.index)) {
    $("index-select").value = state.index;
    describeIndex();
  }
  $("filter").value = state.filter || "";
  if (state.filter) $("filter-box").open = true;
  selectView(state.view || "neighbors");
  say("");
  try {
    if (state.view === "analogy" && state.a) {
      $("analogy-a").value = state.a; $("analogy-b").value = state.b; $("analogy-c").value = state.c;
      document.querySelector(`input[name=method][value=${state.method === "mul" ? "mul" : "add"}]`).checked = true;
      remember(state, push);
      await solveAnalogy(state);
    } else if (state.view === "compare" && state.terms) {
      $("terms").value = state.terms.split("|").join("\n");
      remember(state, push);
      await (state.tool === "odd" ? oddOneOut(state) : compare(state));
    } else if (state.q) {
      $("query").value = state.q;
      if (state.k) $("k").value = state.k;
      remember(state, push);
      await searchNeighbours(state);
    } else {
      remember(state, push);
    }
  } catch (error) {
    say(error.message, true);
  }
}

// -- tools -----------------------------------------------------------------------------------

function selectView(view) {
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.classList.toggle("active", tab.dataset.view === view);
    tab.setAttribute("aria-selected", tab.dataset.view === view);
  }
  for (const panel of document.querySelectorAll(".panel")) {
    panel.classList.toggle("hidden", panel.dataset.view !== view);
  }
}

function clampK() {
  const k = Math.max(1, Math.min(1000, parseInt($("k").value, 10) || 10));
  $("k").value = k;
  return k;
}

async function searchNeighbours(state) {
  const k = parseInt(state.k, 10) || clampK();
  const hits = await api(`/indexes/${encodeURIComponent(state.index)}/neighbors`,
                         withFilter({query: state.q, k}));
  renderHits(`neighbours of “${state.q}”`, hits);
  await drawMap({query: state.q, k: Math.max(k, Math.min(MAP_NEIGHBOURS, 200))},
                `around “${state.q}”`);
}

async function solveAnalogy(state) {
  const body = withFilter({a: state.a, b: state.b, c: state.c, method: state.method || "add", k: 10});
  const hits = await api(`/indexes/${encodeURIComponent(state.index)}/analogy`, body);
  const title = `${state.a} : ${state.b} :: ${state.c} : ?  (${body.method === "mul" ? "3CosMul" : "3CosAdd"})`;
  renderHits(title, hits, hits.length ? hits[0].key : null);
  if (hits.length) {
    await drawMap({query: hits[0].key, k: 15, terms: [state.a, state.b, state.c]}, title,
                  [[state.a, state.b], [state.c, hits[0].key]]);
  }
}

function termsList() {
  return $("terms").value.split(/[\n,]/).map((t) => t.trim()).filter(Boolean);
}

async function compare(state) {
  const terms = state.terms.split("|");
  const result = await api(`/indexes/${encodeURIComponent(state.index)}/similarity`, {terms});
  const output = $("output");
  output.replaceChildren();
  if (result.terms.length === 2) {
    output.append(heading(`similarity of “${result.terms[0]}” and “${result.terms[1]}”`),
                  element("div", "big", result.score.toFixed(4)));
    output.lastChild.id = "similarity-score";
  } else {
    const table = element("table", "matrix");
    table.id = "similarity-matrix";
    const head = table.insertRow();
    head.append(element("th", "", ""));
    for (const term of result.terms) head.append(element("th", "", term));
    result.matrix.forEach((row, i) => {
      const line = table.insertRow();
      line.append(element("th", "", result.terms[i]));
      for (const value of row) line.append(element("td", "", value.toFixed(3)));
    });
    output.append(heading("cosine similarity"), table);
  }
  await drawMap({query: terms[0], k: 10, terms: terms.slice(1)}, "the terms compared");
}

async function oddOneOut(state) {
  const words = state.terms.split("|");
  const result = await api(`/indexes/${encodeURIComponent(state.index)}/doesnt-match`, {words});
  const output = $("output");
  output.replaceChildren(heading(`odd one out of ${words.join(", ")}`),
                         element("div", "big", result.odd_one_out));
  output.lastChild.id = "odd-one-out";
  await drawMap({query: words[0], k: 10, terms: words.slice(1)}, "the words compared");
}

function heading(text) { return element("h2", "", text); }

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderHits(title, hits, answer) {
  const output = $("output");
  const list = element("ol");
  list.id = "results";
  const best = hits.length ? Math.max(...hits.map((h) => h.score)) : 1;
  const worst = hits.length ? Math.min(...hits.map((h) => h.score)) : 0;
  for (const hit of hits) {
    const item = element("li");
    const button = element("button", "hit");
    button.type = "button";
    button.dataset.key = hit.key;
    button.title = "explore the neighbours of " + hit.key;
    button.append(element("span", "rank", String(hit.rank)), element("span", "key", hit.key));
    const score = element("span", "score", hit.score.toFixed(4));
    const bar = element("span", "bar");
    bar.style.width = (best > worst ? 15 + 85 * (hit.score - worst) / (best - worst) : 100) + "%";
    score.append(bar);
    button.append(score);
    if (hit.text && hit.text !== hit.key) button.append(element("span", "text", hit.text));
    button.addEventListener("click", () => explore(hit.key));
    item.append(button);
    list.append(item);
  }
  output.replaceChildren(heading(hits.length ? title : title + ": no results"), list);
  if (answer) output.firstChild.dataset.answer = answer;
}

function explore(key) {
  $("query").value = key;
  show({...baseState("neighbors"), q: key, k: clampK()}, true);
}

// -- the map ---------------------------------------------------------------------------------

async function drawMap(request, title, links) {
  request.method = $("projection-method").value;
  const data = await api(`/indexes/${encodeURIComponent(indexName())}/projection`,
                         withFilter(request));
  mapPoints = data.points;
  $("map-title").textContent = title || "Map";
  $("map-count").textContent = `${mapPoints.length} points, ${data.method.toUpperCase()}`;
  mapLinks = links || [];
  updateColourChoices();
  renderMap();
}

function updateColourChoices() {
  const select = $("colour-by");
  const chosen = select.value;
  const fields = new Set();
  for (const point of mapPoints) {
    if (point.source) fields.add("source");
    for (const name of Object.keys(point.metadata || {})) fields.add("metadata." + name);
  }
  const options = [["score", "distance to query"], ["role", "role"]]
    .concat([...fields].sort().map((f) => [f, f.replace("metadata.", "")]));
  select.replaceChildren(...options.map(([value, label]) => {
    const option = element("option", "", label);
    option.value = value;
    return option;
  }));
  select.value = options.some(([value]) => value === chosen) ? chosen : "score";
}

function fieldOf(point, field) {
  if (field === "score" || field === "role" || field === "source") return point[field];
  return (point.metadata || {})[field.replace("metadata.", "")];
}

function colourScale(field) {
  const values = mapPoints.map((p) => fieldOf(p, field));
  const numbers = values.filter((v) => typeof v === "number");
  if (numbers.length && numbers.length === values.filter((v) => v !== undefined && v !== null).length) {
    const low = Math.min(...numbers), high = Math.max(...numbers);
    const colour = (v) => (typeof v !== "number" ? "#c4c9d2" : ramp(high > low ? (v - low) / (high - low) : 1));
    return {colour, legend: [[ramp(0), low.toFixed(2)], [ramp(1), high.toFixed(2)]]};
  }
  const categories = [...new Set(values.map((v) => (v === undefined || v === null ? "—" : String(v))))];
  const colour = (v) => PALETTE[categories.indexOf(v === undefined || v === null ? "—" : String(v)) % PALETTE.length];
  return {colour, legend: categories.slice(0, 10).map((c, i) => [PALETTE[i % PALETTE.length], c])};
}

function ramp(t) {  // light blue -> deep blue
  const from = [160, 190, 240], to = [20, 45, 150];
  return `rgb(${from.map((f, i) => Math.round(f + (to[i] - f) * t)).join(",")})`;
}

function renderMap() {
  const svg = $("map");
  svg.replaceChildren();
  const {width, height} = svg.getBoundingClientRect();
  if (!mapPoints.length || !width) return;
  const pad = 40;
  const xs = mapPoints.map((p) => p.x), ys = mapPoints.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min((width - 2 * pad) / ((x1 - x0) || 1), (height - 2 * pad) / ((y1 - y0) || 1));
  const px = (x) => width / 2 + (x - (x0 + x1) / 2) * scale;
  const py = (y) => height / 2 - (y - (y0 + y1) / 2) * scale;
  const byKey = new Map(mapPoints.map((p) => [p.key, p]));
  for (const [from, to] of mapLinks) {
    const a = byKey.get(from), b = byKey.get(to);
    if (!a || !b) continue;
    const line = document.createElementNS(SVG, "line");
    line.setAttribute("class", "link");
    line.setAttribute("x1", px(a.x)); line.setAttribute("y1", py(a.y));
    line.setAttribute("x2", px(b.x)); line.setAttribute("y2", py(b.y));
    svg.append(line);
  }
  const field = $("colour-by").value;
  const {colour, legend} = colourScale(field);
  const circles = mapPoints.map((point, i) => {
    const circle = document.createElementNS(SVG, "circle");
    circle.setAttribute("class", "point " + point.role);
    circle.setAttribute("cx", px(point.x));
    circle.setAttribute("cy", py(point.y));
    circle.setAttribute("r", point.role === "query" || point.role === "term" ? 7 : 5);
    circle.setAttribute("fill", colour(fieldOf(point, field)));
    circle.dataset.index = i;
    circle.addEventListener("mousemove", (event) => hover(point, event));
    circle.addEventListener("mouseleave", () => $("tooltip").classList.add("hidden"));
    circle.addEventListener("click", () => explore(point.key));
    return circle;
  });
  svg.append(...circles);
  placeLabels(svg, px, py, width, height);
  $("legend").replaceChildren(...legend.map(([swatch, text]) => {
    const entry = element("span");
    const dot = element("i");
    dot.style.background = swatch;
    entry.append(dot, document.createTextNode(text));
    return entry;
  }));
}

// Labels go where they overlap no other label: right, left, above or below their point, in
// order of importance (query and terms first, then by score); a label with no free place is
// left out (its point keeps its tooltip).
function placeLabels(svg, px, py, width, height) {
  const order = mapPoints.map((p, i) => i).sort((i, j) => importance(mapPoints[j]) - importance(mapPoints[i]));
  const taken = [];
  for (const i of order) {
    const point = mapPoints[i];
    const text = point.key.length > 24 ? point.key.slice(0, 23) + "…" : point.key;
    const big = point.role === "query" || point.role === "term";
    const w = text.length * (big ? 8 : 6.6) + 4, h = big ? 15 : 13;
    const x = px(point.x), y = py(point.y);
    const spots = [[x + 9, y - h / 2], [x - 9 - w, y - h / 2], [x - w / 2, y - 9 - h], [x - w / 2, y + 9]];
    const spot = spots.find(([sx, sy]) => sx >= 0 && sy >= 0 && sx + w <= width && sy + h <= height &&
      !taken.some(([tx, ty, tw, th]) => sx < tx + tw && tx < sx + w && sy < ty + th && ty < sy + h));
    if (!spot) continue;
    taken.push([spot[0], spot[1], w, h]);
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("class", point.role);
    label.setAttribute("x", spot[0] + 2);
    label.setAttribute("y", spot[1] + h - 3);
    label.textContent = text;
    svg.append(label);
  }
}

function importance(point) {
  return (point.role === "query" ? 3 : point.role === "term" ? 2 : 0) + (point.score || 0);
}

function hover(point, event) {
  const tooltip = $("tooltip");
  const panel = $("map-panel").getBoundingClientRect();
  tooltip.replaceChildren(element("b", "", point.key));
  if (point.score !== null && point.score !== undefined) {
    tooltip.append(document.createTextNode(`  ${point.score.toFixed(4)}`));
  }
  if (point.text && point.text !== point.key) tooltip.append(element("div", "", point.text));
  if (point.source) tooltip.append(element("div", "meta", `source: ${point.source}`));
  if (point.metadata && Object.keys(point.metadata).length) {
    tooltip.append(element("div", "meta", JSON.stringify(point.metadata, null, 1)));
  }
  tooltip.classList.remove("hidden");
  const left = Math.min(event.clientX - panel.left + 14, panel.width - 350);
  tooltip.style.left = Math.max(4, left) + "px";
  tooltip.style.top = (event.clientY - panel.top + 14) + "px";
}

// -- the index -------------------------------------------------------------------------------

async function describeIndex() {
  const entry = indexes.find((e) => e.name === indexName());
  $("index-info").textContent = entry ? (entry.error ? entry.error :
    `${entry.count.toLocaleString()} ${entry.content === "corpus" ? "items" : "words"}, ` +
    `${entry.dim}-d, ${entry.index_type}, ${entry.encoder}`) : "";
  $("query").placeholder = isCorpus() ? "a text or an item key  ( / )" : "a word or a text  ( / )";
}

async function loadIndexes() {
  try {
    indexes = await api("/indexes");
  } catch (error) {
    say(error.message, true);
    return;
  }
  const select = $("index-select");
  select.replaceChildren(...indexes.map((entry) => {
    const option = element("option", "", entry.name);
    option.value = entry.name;
    option.disabled = !!entry.error;
    return option;
  }));
  if (!indexes.length) say("no indexes to serve: build one with `embedsearch build`", true);
  const state = stateFromURL();
  if (state.index && indexes.some((e) => e.name === state.index)) select.value = state.index;
  describeIndex();
  await show({...state, index: indexName()}, false);
}

// -- wiring ------------------------------------------------------------------------------------

function wire() {
  $("neighbors-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("query").value.trim();
    if (q) show({...baseState("neighbors"), q, k: clampK()}, true);
  });
  $("analogy-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const [a, b, c] = ["a", "b", "c"].map((n) => $("analogy-" + n).value.trim());
    if (!a || !b || !c) { say("fill in a, b and c: a is to b as c is to ?", true); return; }
    const method = document.querySelector("input[name=method]:checked").value;
    show({...baseState("analogy"), a, b, c, method}, true);
  });
  $("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const terms = termsList();
    if (terms.length < 2) { say("give at least two words or texts", true); return; }
    show({...baseState("compare"), terms: terms.join("|"), tool: "similarity"}, true);
  });
  $("doesnt-match-go").addEventListener("click", () => {
    const terms = termsList();
    if (terms.length < 2) { say("give at least two words", true); return; }
    show({...baseState("compare"), terms: terms.join("|"), tool: "odd"}, true);
  });
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => selectView(tab.dataset.view));
  }
  $("filter-apply").addEventListener("click", () => show({...current, ...baseState(current.view || "neighbors")}, true));
  $("filter-clear").addEventListener("click", () => {
    $("filter").value = "";
    show({...current, filter: undefined}, true);
  });
  $("index-select").addEventListener("change", () => {
    describeIndex();
    show({...current, index: indexName()}, true);
  });
  $("colour-by").addEventListener("change", renderMap);
  $("projection-method").addEventListener("change", () => show(current, false));
  $("sample-button").addEventListener("click", () => {
    drawMap({sample: 300}, "a sample of the index").catch((error) => say(error.message, true));
  });
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("embedsearch-key", $("api-key").value);
    loadIndexes();
  });
  window.addEventListener("popstate", () => show(stateFromURL(), false));
  window.addEventListener("resize", renderMap);
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !["INPUT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      event.preventDefault();
      selectView("neighbors");
      $("query").focus();
      $("query").select();
    }
  });
}

wire();
loadIndexes();
