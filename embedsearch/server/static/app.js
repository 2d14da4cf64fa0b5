// embedsearch explorer: plain JavaScript modules over the HTTP API, no build step, nothing
// fetched from elsewhere. The view lives in the URL (?index=..&view=..&q=..), so back/forward
// and a shared link reproduce it. Only the latest request may paint: every view change takes a
// ticket, aborts the one before, and an answer whose ticket is no longer current is dropped.
import {$, element, formatNumber} from "./dom.js";
import {LocalMap} from "./local-map.js";
import {IndexMap} from "./index-map.js";

const VIEWS = ["neighbors", "analogy", "compare", "versus", "axes"];
const AXIS_ENDS = ["xfrom", "xto", "yfrom", "yto"];
const AXIS_FIELDS = ["axis-x-start", "axis-x-end", "axis-y-start", "axis-y-end"];
const MAP_NEIGHBOURS = 30;
const MAX_K = 1000;

let indexes = [];
let capabilities = {projections: ["pca"]};
let current = {};        // the view shown: {index, view, q, k, a, b, c, method, terms, filter, ...}
let pending = 0;
let ticket = {id: 0, controller: null};
let focusResultsNext = false;

class Stale extends Error {}

const localMap = new LocalMap($("map"), $("tooltip"), $("map-panel"), explore);
const indexMap = new IndexMap($("index-map"), $("tooltip"), $("map-panel"), explore, api);
window.embedsearchExplorer = {indexMap, localMap};  // for scripts/bench_explorer.py and the tests

// -- talking to the server ---------------------------------------------------------------

function newTicket() {
  if (ticket.controller) ticket.controller.abort();
  ticket = {id: ticket.id + 1, controller: new AbortController()};
  return ticket;
}

function isStale(error) { return error instanceof Stale || (error && error.name === "AbortError"); }

async function api(path, body, mine) {
  const headers = {};
  const key = sessionStorage.getItem("embedsearch-key");
  if (key) headers["Authorization"] = "Bearer " + key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  busy(+1);
  try {
    const response = await fetch(path, {method: body === undefined ? "GET" : "POST", headers,
                                        body: body === undefined ? undefined : JSON.stringify(body),
                                        signal: mine ? mine.controller.signal : undefined});
    const data = await response.json().catch(() => ({}));
    if (mine && mine.id !== ticket.id) throw new Stale();
    if (!response.ok) {
      if (response.status === 401) $("key-box").classList.remove("hidden");
      const error = new Error((data.error && data.error.message) || response.statusText ||
                              `the server answered ${response.status}`);
      error.code = data.error ? data.error.code : "http_" + response.status;
      throw error;
    }
    return data;
  } catch (error) {
    if (isStale(error)) throw error;
    if (error instanceof TypeError) {  // the network itself failed
      throw new Error("cannot reach the server: is `embedsearch serve` still running?");
    }
    throw error;
  } finally {
    busy(-1);
  }
}

function busy(change) {
  pending += change;
  $("busy").classList.toggle("on", pending > 0);
  document.body.setAttribute("aria-busy", pending > 0 ? "true" : "false");
}

function say(text, kind) {
  const message = $("message");
  message.textContent = text || "";
  message.className = "message" + (text ? " " + (kind || "note") : "");
}

function indexEntry() { return indexes.find((e) => e.name === indexName()); }
function indexName() { return $("index-select").value; }
function defaultLabel() { return isCorpus() ? "text" : "key"; }
function isCorpus() { const entry = indexEntry(); return !!entry && entry.content === "corpus"; }
function indexPath(suffix) { return `/indexes/${encodeURIComponent(indexName())}/${suffix}`; }

// -- the filter ----------------------------------------------------------------------------

function parseFilter(text) {
  if (!text) return null;
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error("the filter is not valid JSON: " + error.message);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("a filter is a JSON object, e.g. {\"source\": \"a.txt\"}");
  }
  return parsed;
}

// -- the URL is the state --------------------------------------------------------------------

function stateFromURL() {
  const state = {};
  for (const [name, value] of new URLSearchParams(location.search)) state[name] = value;
  return state;
}

function remember(state, push) {
  current = state;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(state)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const url = "?" + params.toString();
  document.title = pageTitle(state);
  if (url === location.search) return;
  if (push) history.pushState(state, "", url); else history.replaceState(state, "", url);
}

function pageTitle(state) {
  const what = state.view === "analogy" && state.a ? `${state.a} : ${state.b} :: ${state.c} : ?`
    : state.view === "compare" && state.terms ? state.terms.split("|").join(", ")
    : state.view === "axes" && state.q ? `“${state.q}” along ${state.xfrom} → ${state.xto}, ${state.yfrom} → ${state.yto}`
    : state.view === "versus" && state.q ? `“${state.q}” in ${state.index} and ${state.other}`
    : state.q ? `“${state.q}”` : "";
  return (what ? what + " · " : "") + (state.index ? state.index + " · " : "") + "embedsearch explorer";
}

function mapSettings() {
  return {colour: $("colour-by").value !== "score" ? $("colour-by").value : undefined,
          label: $("label-by").value !== defaultLabel() ? $("label-by").value : undefined,
          proj: $("projection-method").value !== "pca" ? $("projection-method").value : undefined,
          map: $("map-mode").value !== "index" ? $("map-mode").value : undefined};
}

function baseState(view) {
  return {index: indexName(), view, filter: $("filter").value.trim() || undefined, ...mapSettings()};
}

// Checks a state read from a URL or a form before anything is asked of the server; returns
// the problems found (errors stop the request, notes are shown beside the answer).
function normalise(state) {
  const notes = [];
  if (state.view && !VIEWS.includes(state.view)) {
    notes.push(`there is no view “${state.view}”: showing neighbours`);
    state.view = "neighbors";
  }
  state.view = state.view || (state.a ? "analogy" : state.terms ? "compare" : "neighbors");
  if (state.index && !indexes.some((e) => e.name === state.index)) {
    notes.push(`this server has no index “${state.index}”` +
               (indexName() ? `: showing “${indexName()}”` : ""));
    state.index = indexName();
  }
  if (state.view === "versus") notes.push(...chooseOther(state));
  if (state.proj && !capabilities.projections.includes(state.proj)) {
    notes.push(`this server cannot draw a ${state.proj.toUpperCase()} projection: showing PCA`);
    state.proj = undefined;
  }
  return notes;
}

// The other index of the two-index view: the one asked for if it is served and usable, else
// the first usable index that is not the current one (the current one if it is alone).
function chooseOther(state) {
  const usable = indexes.filter((e) => !e.error).map((e) => e.name);
  if (state.other && usable.includes(state.other)) return [];
  const fallback = usable.find((name) => name !== state.index) || state.index;
  const notes = state.other ? [`this server has no index “${state.other}” to compare with: ` +
                               `showing “${fallback}”`] : [];
  if (fallback === state.index) notes.push("only one index is served: it is compared with itself");
  state.other = fallback;
  return notes;
}

function checkK(text) {
  const k = Number(text);
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new Error(`k must be a whole number from 1 to ${MAX_K} (it is “${text}”)`);
  }
  return k;
}

function fillForms(state) {
  $("filter").value = state.filter || "";
  if (state.filter) $("filter-box").open = true;
  $("filter-state").textContent = state.filter ? "on" : "none";
  if (state.view === "analogy" && state.a) {
    $("analogy-a").value = state.a; $("analogy-b").value = state.b || ""; $("analogy-c").value = state.c || "";
    document.querySelector(`input[name=method][value=${state.method === "mul" ? "mul" : "add"}]`).checked = true;
  } else if (state.view === "compare" && state.terms) {
    $("terms").value = state.terms.split("|").join("\n");
  } else if (state.view === "axes") {
    $("axes-query").value = state.q || "";
    if (state.k) $("axes-k").value = state.k;
    AXIS_ENDS.forEach((name, i) => { $(AXIS_FIELDS[i]).value = state[name] || ""; });
  } else if (state.view === "versus") {
    $("versus-query").value = state.q || "";
    if (state.k) $("versus-k").value = state.k;
    setSelect("other-select", state.other);
  } else if (state.q !== undefined) {
    $("query").value = state.q;
    if (state.k) $("k").value = state.k;
  }
  setSelect("projection-method", state.proj || "pca");
  setSelect("map-mode", state.map || "index");
  localMap.colourChoice = state.colour || "score";
  localMap.labelChoice = state.label || defaultLabel();
}

function setSelect(id, value) {
  const select = $(id);
  if ([...select.options].some((o) => o.value === value)) select.value = value;
}

// Shows `state` (from the URL, a form or history); `keepTab` leaves the visible tool alone
// (a map setting changed while the user is on another tab).
async function show(state, push, keepTab = false) {
  const mine = newTicket();
  if (state.index && state.index !== indexName() && indexes.some((e) => e.name === state.index)) {
    $("index-select").value = state.index;
    describeIndex();
  }
  const notes = normalise(state);
  fillForms(state);
  if (!keepTab) selectView(state.view);
  $("tooltip").classList.add("hidden");
  say(notes.join("; "), "note");
  let filter;
  try {
    filter = parseFilter(state.filter);
    if (["neighbors", "versus", "axes"].includes(state.view) && state.q !== undefined) {
      if (!state.q.trim()) throw new Error("type a word, a text or an item key to search for");
      state.k = String(checkK(state.k || $(state.view === "neighbors" ? "k" : state.view + "-k").value));
    }
    if (state.view === "axes" && state.q && AXIS_ENDS.some((name) => !(state[name] || "").trim())) {
      throw new Error("give both ends of both axes, e.g. x: man → woman, y: poor → rich");
    }
  } catch (error) {
    remember({...state, filter: current.filter}, false);
    showError(error.message);
    return;
  }
  remember(state, push);
  const answer = {notes};
  try {
    if (state.view === "analogy" && state.a) await solveAnalogy(state, filter, mine, answer);
    else if (state.view === "compare" && state.terms) {
      await (state.tool === "odd" ? oddOneOut(state, mine, answer) : compare(state, mine, answer));
    } else if (state.view === "axes" && state.q) await layOutOnAxes(state, filter, mine, answer);
    else if (state.view === "versus" && state.q) await compareIndexes(state, filter, mine, answer);
    else if (state.q) await searchNeighbours(state, filter, mine, answer);
    else await overview(mine);
    if (mine.id === ticket.id) say(answer.notes.join("; "), answer.kind || "note");
  } catch (error) {
    if (isStale(error)) return;
    showError(error.message);
  }
}

function showError(text) {
  say(text, "error");
  $("output").replaceChildren();
  localMap.clear();
  indexMap.highlight(null);
  $("tooltip").classList.add("hidden");
}

// -- tools -----------------------------------------------------------------------------------

function selectView(view) {
  for (const tab of document.querySelectorAll(".tabs button")) {
    const chosen = tab.dataset.view === view;
    tab.classList.toggle("active", chosen);
    tab.setAttribute("aria-selected", chosen);
    tab.tabIndex = chosen ? 0 : -1;
  }
  for (const panel of document.querySelectorAll(".panel")) {
    panel.classList.toggle("hidden", panel.dataset.view !== view);
  }
}

async function overview(mine) {
  const help = element("div", "help");
  help.append(element("p", "", "Search for a word, a text or an item key, or click a point on the map to see its neighbours."),
              element("p", "", $("map-mode").value === "index"
                ? "The map holds the whole index: scroll to zoom, drag to pan; labels appear as you zoom in. " +
                  "“map: neighbourhood” projects a query's neighbours on their own."
                : "The map shows a sample of the index; “map: whole index” shows all of it."));
  $("output").replaceChildren(help);
  await drawMaps(mine, null);
}

async function searchNeighbours(state, filter, mine, answer) {
  const k = Number(state.k);
  const body = {query: state.q, k};
  if (filter) body.filter = filter;
  const hits = await api(indexPath("neighbors"), body, mine);
  if (!hits.length && filter) answer.notes.push("no item matches the filter");
  renderHits(`neighbours of “${state.q}”`, hits, {scoreName: "cosine", query: state.q});
  const request = {query: state.q, k: Math.min(Math.max(k, MAP_NEIGHBOURS), 200)};
  if (filter) request.filter = filter;
  await drawMaps(mine, {request, title: `around “${state.q}”`, query: state.q, hits});
}

async function solveAnalogy(state, filter, mine, answer) {
  const method = state.method === "mul" ? "mul" : "add";
  const body = {a: state.a, b: state.b, c: state.c, method, k: 10};
  if (filter) body.filter = filter;
  const hits = await api(indexPath("analogy"), body, mine);
  const title = `${state.a} : ${state.b} :: ${state.c} : ?`;
  const scoreName = method === "mul" ? "3CosMul" : "3CosAdd";
  if (!hits.length) answer.notes.push(filter ? "no item matches the filter" : "no answer");
  renderHits(`${title}  (${scoreName})`, hits, {answer: hits.length ? hits[0].key : null, scoreName});
  if (!hits.length) { localMap.clear(); return; }
  const request = {query: hits[0].key, k: 15, terms: [state.a, state.b, state.c]};
  if (filter) request.filter = filter;
  await drawMaps(mine, {request, title: `${title} ${hits[0].key}`, query: hits[0].key, hits,
                        answer: hits[0].key, terms: [state.a, state.b, state.c],
                        links: [[state.a, state.b], [state.c, hits[0].key]]});
}

// The same query in two indexes: both neighbour lists side by side, row by row in rank order,
// each key shared by the two lists marked with its rank in the other, and overlap@k (the share
// of the k neighbours that both lists hold). One index failing leaves the other's list shown.
async function compareIndexes(state, filter, mine, answer) {
  const k = Number(state.k);
  const names = [state.index, state.other];
  const body = {query: state.q, k};
  if (filter) body.filter = filter;
  const answers = await Promise.allSettled(names.map((name) =>
    api(`/indexes/${encodeURIComponent(name)}/neighbors`, body, mine)));
  if (answers.some((a) => a.status === "rejected" && isStale(a.reason))) throw new Stale();
  const failures = answers.map((a, i) => a.status === "rejected" ? `in ${names[i]}: ${a.reason.message}` : null);
  if (failures.every(Boolean)) throw new Error(failures.join("; "));
  const lists = answers.map((a) => (a.status === "fulfilled" ? a.value : null));
  renderVersus(state, names, lists, k);
  if (failures.some(Boolean)) {
    answer.notes.push(failures.filter(Boolean).join("; "));
    answer.kind = "error";
  }
  const primary = lists[0] || [];
  const request = {query: state.q, k: Math.min(Math.max(k, MAP_NEIGHBOURS), 200)};
  if (filter) request.filter = filter;
  if (lists[0]) {
    const others = (lists[1] || []).map((hit) => hit.key);
    const legend = lists[1] ? ` (purple: only in ${names[1]}; ringed: in both)` : "";
    await drawMaps(mine, {request, title: `around “${state.q}” in ${names[0]}${legend}`, query: state.q,
                          hits: primary, others});
  } else {
    localMap.clear();
    indexMap.highlight(null);
  }
}

function renderVersus(state, names, lists, k) {
  const ranks = lists.map((hits) => new Map((hits || []).map((hit) => [hit.key, hit.rank])));
  const shared = lists[0] && lists[1] ? [...ranks[0].keys()].filter((key) => ranks[1].has(key)) : [];
  const output = $("output");
  const header = heading(`neighbours of “${state.q}” in two indexes`);
  const summary = element("div", "overlap");
  summary.id = "overlap";
  if (lists[0] && lists[1]) {
    const share = shared.length / k;
    summary.append(element("strong", "", `overlap@${k}: ${formatNumber(share, 2)}`),
                   document.createTextNode(`  ${shared.length} of ${k} neighbours in both`));
    summary.dataset.overlap = String(shared.length);
  }
  const table = element("table", "versus");
  table.id = "versus-table";
  const head = table.createTHead().insertRow();
  head.append(element("th", "rank", "#"), element("th", "", names[0]), element("th", "", names[1]));
  const body = table.createTBody();
  const rows = Math.max(...lists.map((hits) => (hits ? hits.length : 0)));
  for (let row = 0; row < rows; row++) {
    const line = body.insertRow();
    line.append(element("td", "rank", String(row + 1)));
    lists.forEach((hits, side) => {
      const cell = element("td", "side-" + side);
      const hit = hits && hits[row];
      if (hit) {
        const otherRank = ranks[1 - side].get(hit.key);
        cell.classList.add(otherRank ? "shared" : "only");
        cell.dataset.key = hit.key;
        const button = element("button", "plain versus-key", hit.key);
        button.type = "button";
        button.title = `compare the neighbours of ${hit.key} in both indexes`;
        button.addEventListener("click", () => {
          $("versus-query").value = hit.key;
          show({...baseState("versus"), other: state.other, q: hit.key, k: state.k}, true);
        });
        cell.append(button, element("span", "score", formatNumber(hit.score, 3)));
        if (otherRank) {
          const mark = element("span", "twin", `↔ ${otherRank}`);
          mark.title = `${hit.key} is number ${otherRank} in ${names[1 - side]}`;
          cell.append(mark);
        }
        cell.addEventListener("mouseenter", () => twins(table, hit.key, true));
        cell.addEventListener("mouseleave", () => twins(table, hit.key, false));
      } else if (!hits && row === 0) {
        cell.textContent = "no answer";
        cell.classList.add("failed");
      }
      line.append(cell);
    });
  }
  const scroll = element("div", "versus-scroll");
  scroll.append(table);
  output.replaceChildren(header, summary, scroll);
}

// The neighbourhood of a query placed along two directions computed on the server: x is 0 at
// the x axis's start and 1 at its end, y likewise; a table lists every point's two positions.
async function layOutOnAxes(state, filter, mine, answer) {
  const body = {query: state.q, k: Number(state.k), x: {start: state.xfrom, end: state.xto},
                y: {start: state.yfrom, end: state.yto}};
  if (filter) body.filter = filter;
  const data = await api(indexPath("axes"), body, mine);
  const xName = `${state.xfrom} → ${state.xto}`, yName = `${state.yfrom} → ${state.yto}`;
  const note = ignoredNote(data.ignored);
  if (note) answer.notes.push(note);
  if (Math.abs(data.axes_cosine) > 0.7) {
    answer.notes.push(`the two directions are close (cosine ${formatNumber(data.axes_cosine, 2)}): ` +
                      "the points lie along a diagonal");
  }
  const table = element("table", "axes-table");
  table.id = "axes-table";
  const head = table.createTHead().insertRow();
  for (const text of ["", "x: " + xName, "y: " + yName, "cosine"]) {
    const cell = element("th", "", text);
    cell.title = text;
    head.append(cell);
  }
  const rows = table.createTBody();
  const ordered = [...data.points].sort((p, q) => q.x - p.x);
  for (const point of ordered) {
    const line = rows.insertRow();
    line.className = point.role;
    line.dataset.key = point.key;
    line.dataset.x = String(point.x);
    line.dataset.y = String(point.y);
    const name = element("td");
    const button = element("button", "plain versus-key", point.key);
    button.type = "button";
    button.title = `lay out the neighbourhood of ${point.key} on the same axes`;
    button.addEventListener("click", () => show({...current, q: point.key}, true));
    name.append(button);
    line.append(name, element("td", "", formatNumber(point.x, 3)), element("td", "", formatNumber(point.y, 3)),
                element("td", "", typeof point.score === "number" ? formatNumber(point.score, 3) : ""));
  }
  const scroll = element("div", "versus-scroll");
  scroll.append(table);
  $("output").replaceChildren(heading(`“${state.q}” along ${xName} (x) and ${yName} (y), sorted by x`), scroll);
  $("tooltip").classList.add("hidden");
  $("index-map").classList.add("hidden");
  $("map").classList.remove("hidden");
  document.body.classList.remove("index-mode");
  document.body.classList.add("axes-mode");
  indexMap.highlight(null);
  localMap.draw(data, `“${state.q}” on custom axes`, {terms: [state.xfrom, state.xto, state.yfrom, state.yto],
    axes: {x: [state.xfrom, state.xto], y: [state.yfrom, state.yto]}, corpus: isCorpus()});
}

function twins(table, key, on) {
  for (const cell of table.querySelectorAll("td[data-key]")) {
    if (cell.dataset.key === key) cell.classList.toggle("twin-on", on);
  }
}

// Several lines: one term per line (a text may hold commas); one line: terms split on commas.
function termsList() {
  const text = $("terms").value.trim();
  const parts = text.includes("\n") ? text.split("\n") : text.split(",");
  return parts.map((t) => t.trim()).filter(Boolean);
}

function ignoredNote(ignored) {
  return ignored && ignored.length ? `left out, not in the index: ${ignored.join(", ")}` : null;
}

async function compare(state, mine, answer) {
  const terms = state.terms.split("|");
  const result = await api(indexPath("similarity"), {terms}, mine);
  const output = $("output");
  output.replaceChildren();
  const note = ignoredNote(result.ignored);
  if (note) answer.notes.push(note);
  if (result.terms.length === 2) {
    const big = element("div", "big", formatNumber(result.score, 4));
    big.id = "similarity-score";
    output.append(heading(`cosine similarity of “${result.terms[0]}” and “${result.terms[1]}”`), big);
  } else {
    output.append(heading("cosine similarity"), similarityMatrix(result));
  }
  const known = result.terms.filter((t) => !(result.ignored || []).includes(t));
  await drawMaps(mine, {request: {query: known[0], k: 10, terms: known.slice(1)},
                        title: "the terms compared", terms: known});
}

function similarityMatrix(result) {
  const scroll = element("div", "matrix-scroll");
  const table = element("table", "matrix");
  table.id = "similarity-matrix";
  const head = table.insertRow();
  head.append(element("th", "", ""));
  for (const term of result.terms) {
    const cell = element("th", "", term);
    cell.title = term;
    head.append(cell);
  }
  result.matrix.forEach((row, i) => {
    const line = table.insertRow();
    const name = element("th", "", result.terms[i]);
    name.title = result.terms[i];
    line.append(name);
    row.forEach((value, j) => {
      const cell = element("td", "", value.toFixed(2));
      cell.title = `${result.terms[i]} · ${result.terms[j]}: ${value.toFixed(4)}`;
      const heat = Math.max(0, Math.min(1, value));
      cell.style.background = `rgba(37, 99, 235, ${(0.08 + 0.72 * heat).toFixed(3)})`;
      if (heat > 0.55) cell.style.color = "#fff";
      line.append(cell);
    });
  });
  scroll.append(table);
  return scroll;
}

async function oddOneOut(state, mine, answer) {
  const words = state.terms.split("|");
  const result = await api(indexPath("doesnt-match"), {words}, mine);
  const note = ignoredNote(result.ignored);
  if (note) answer.notes.push(note);
  const big = element("div", "big", result.odd_one_out);
  big.id = "odd-one-out";
  $("output").replaceChildren(heading(`odd one out of ${result.words.join(", ")}`), big);
  const known = result.words.filter((w) => !(result.ignored || []).includes(w));
  await drawMaps(mine, {request: {query: known[0], k: 10, terms: known.slice(1)},
                        title: "the words compared", terms: known, answer: result.odd_one_out});
}

function heading(text) {
  const node = element("h2");
  node.append(element("span", "title", text));
  node.title = text;
  return node;
}

function renderHits(title, hits, {answer = null, scoreName = "cosine", query = ""} = {}) {
  const output = $("output");
  const list = element("ol");
  list.id = "results";
  const best = hits.length ? Math.max(...hits.map((h) => h.score)) : 1;
  const worst = hits.length ? Math.min(...hits.map((h) => h.score)) : 0;
  for (const hit of hits) {
    const item = element("li", hit.key === answer ? "answer" : "");
    const button = element("button", "hit");
    button.type = "button";
    button.dataset.key = hit.key;
    button.title = "explore the neighbours of " + hit.key;
    button.append(element("span", "rank", String(hit.rank)), element("span", "key", hit.key));
    const score = element("span", "score", formatNumber(hit.score, 4));
    score.title = scoreName;
    const bar = element("span", "bar");
    bar.style.width = (best > worst ? 15 + 85 * (hit.score - worst) / (best - worst) : 100) + "%";
    score.append(bar);
    button.append(score);
    button.addEventListener("click", (event) => explore(hit.key, event.detail === 0));
    item.append(button);
    appendDocument(item, hit, query);
    list.append(item);
  }
  const header = heading(hits.length ? title : title + ": no results");
  if (hits.length) header.append(element("span", "score-name", scoreName));
  output.replaceChildren(header, list);
  if (answer) header.dataset.answer = answer;
  if (focusResultsNext) {
    focusResultsNext = false;
    const first = list.querySelector(".hit");
    if (first) first.focus();
  }
}

// A corpus hit's passage: two or three lines, expandable, with its source and metadata; the
// document search's `snippet`, `document` and `mode` when the server sends them.
function appendDocument(item, hit, query) {
  const passage = hit.snippet || hit.text;
  if (!passage || passage === hit.key) return;
  const text = element("div", "passage");
  text.append(...marked(passage, query));
  item.append(text);
  const details = [];
  if (hit.document) details.push(`document ${hit.document}`);
  if (hit.source) details.push(hit.source + (hit.position ? ` #${hit.position}` : ""));
  if (hit.mode) details.push(hit.mode);
  for (const [name, value] of Object.entries(hit.metadata || {})) details.push(`${name}: ${value}`);
  const footer = element("div", "meta-line");
  if (details.length) footer.append(element("span", "", details.join(" · ")));
  if (passage.length > 160) {
    const more = element("button", "plain expand", "more");
    more.type = "button";
    more.setAttribute("aria-expanded", "false");
    more.addEventListener("click", () => {
      const open = text.classList.toggle("open");
      more.textContent = open ? "less" : "more";
      more.setAttribute("aria-expanded", String(open));
    });
    footer.append(more);
  }
  if (footer.childNodes.length) item.append(footer);
}

// The passage as text nodes, with the query's words (three letters or more) in <mark>.
function marked(passage, query) {
  const words = [...new Set((query || "").toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) || [])];
  if (!words.length) return [document.createTextNode(passage)];
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(${escaped.join("|")})(?![\\p{L}\\p{N}])`, "giu");
  const nodes = [];
  let last = 0;
  for (const match of passage.matchAll(pattern)) {
    if (match.index > last) nodes.push(document.createTextNode(passage.slice(last, match.index)));
    nodes.push(element("mark", "", match[0]));
    last = match.index + match[0].length;
  }
  if (last < passage.length) nodes.push(document.createTextNode(passage.slice(last)));
  return nodes;
}

function explore(key, fromKeyboard) {
  focusResultsNext = !!fromKeyboard;
  $("query").value = key;
  show({...baseState("neighbors"), q: key, k: $("k").value}, true);
}

// -- the maps ----------------------------------------------------------------------------------

// Draws what a view shows on the map of the current mode: the whole-index map highlights in
// place; the local map asks the server for a projection of the neighbourhood.
async function drawMaps(mine, view) {
  const mode = $("map-mode").value;
  document.body.classList.remove("axes-mode");
  $("index-map").classList.toggle("hidden", mode !== "index");
  $("map").classList.toggle("hidden", mode === "index");
  document.body.classList.toggle("index-mode", mode === "index");
  if (mode === "index") {
    localMap.clear();
    $("map-title").textContent = view ? view.title : "the whole index";
    $("map-title").title = $("map-title").textContent;
    await indexMap.show(indexName(), $("projection-method").value, mine);
    if (mine.id !== ticket.id) throw new Stale();
    await indexMap.highlight(view);
    return;
  }
  if (!view) {
    const request = {sample: 300};
    await drawLocal(mine, request, "a sample of the index", {});
    return;
  }
  await drawLocal(mine, view.request, view.title, view);
}

async function drawLocal(mine, request, title, view) {
  request.method = $("projection-method").value;
  const data = await api(indexPath("projection"), request, mine);
  localMap.draw(data, title, {links: view.links || [], terms: view.terms || [],
                              answer: view.answer || null, corpus: isCorpus()});
}

// -- the index -------------------------------------------------------------------------------

function describeIndex() {
  const entry = indexEntry();
  $("index-info").textContent = entry ? (entry.error ? entry.error :
    `${entry.count.toLocaleString()} ${entry.content === "corpus" ? "items" : "words"}, ` +
    `${entry.dim}-d, ${entry.index_type}, ${entry.encoder}`) : "";
  $("query").placeholder = isCorpus() ? "a text or an item key  ( / )" : "a word or a text  ( / )";
}

async function loadIndexes() {
  try {
    [indexes, capabilities] = await Promise.all([api("/indexes"), api("/explorer/capabilities")]);
  } catch (error) {
    say(error.message, "error");
    return;
  }
  $("projection-method").replaceChildren(...capabilities.projections.map((name) => {
    const option = element("option", "", name.toUpperCase());
    option.value = name;
    return option;
  }));
  const select = $("index-select");
  select.replaceChildren(...indexes.map((entry) => {
    const option = element("option", "", entry.error ? `${entry.name} (unavailable)` : entry.name);
    option.value = entry.name;
    option.disabled = !!entry.error;
    if (entry.error) option.title = entry.error;
    return option;
  }));
  $("other-select").replaceChildren(...[...select.options].map((option) => option.cloneNode(true)));
  const usable = indexes.filter((e) => !e.error);
  const broken = indexes.filter((e) => e.error);
  if (!indexes.length) say("no indexes to serve: build one with `embedsearch build`", "error");
  if (usable.length) select.value = usable[0].name;
  const state = stateFromURL();
  if (state.index && usable.some((e) => e.name === state.index)) select.value = state.index;
  describeIndex();
  await show({...state, index: state.index || indexName()}, false);
  if (broken.length) {
    const text = $("message").textContent;
    say((text ? text + "; " : "") + broken.map((e) => `${e.name}: ${e.error}`).join("; "),
        text && $("message").classList.contains("error") ? "error" : "note");
  }
}

// -- wiring ------------------------------------------------------------------------------------

function wire() {
  $("neighbors-form").addEventListener("submit", (event) => {
    event.preventDefault();
    show({...baseState("neighbors"), q: $("query").value.trim(), k: $("k").value}, true);
  });
  $("analogy-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const [a, b, c] = ["a", "b", "c"].map((n) => $("analogy-" + n).value.trim());
    if (!a || !b || !c) { showError("fill in a, b and c: a is to b as c is to ?"); return; }
    const method = document.querySelector("input[name=method]:checked").value;
    show({...baseState("analogy"), a, b, c, method}, true);
  });
  const compareWith = (tool) => {
    const terms = termsList();
    if (terms.length < 2) {
      showError(tool === "odd" ? "give at least two words" : "give at least two words or texts");
      return;
    }
    show({...baseState("compare"), terms: terms.join("|"), tool}, true);
  };
  $("versus-form").addEventListener("submit", (event) => {
    event.preventDefault();
    show({...baseState("versus"), other: $("other-select").value, q: $("versus-query").value.trim(),
          k: $("versus-k").value}, true);
  });
  $("axes-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const ends = Object.fromEntries(AXIS_ENDS.map((name, i) => [name, $(AXIS_FIELDS[i]).value.trim()]));
    show({...baseState("axes"), q: $("axes-query").value.trim(), k: $("axes-k").value, ...ends}, true);
  });
  $("other-select").addEventListener("change", () => {
    if (current.view === "versus" && current.q) show({...current, other: $("other-select").value}, true);
  });
  $("compare-form").addEventListener("submit", (event) => { event.preventDefault(); compareWith("similarity"); });
  $("doesnt-match-go").addEventListener("click", () => compareWith("odd"));
  $("terms").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      compareWith("similarity");
    }
  });
  const tabs = [...document.querySelectorAll(".tabs button")];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectView(tab.dataset.view));
    tab.addEventListener("keydown", (event) => {
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      selectView(next.dataset.view);
      next.focus();
    });
  });
  $("filter-apply").addEventListener("click", () => show({...current, ...baseState(current.view || "neighbors")}, true));
  $("filter-clear").addEventListener("click", () => {
    $("filter").value = "";
    show({...current, filter: undefined}, true);
  });
  $("index-select").addEventListener("change", () => {
    describeIndex();
    show({...current, index: indexName()}, true);
  });
  const restyle = () => {
    localMap.colourChoice = $("colour-by").value;
    localMap.labelChoice = $("label-by").value;
    localMap.render();
    remember({...current, ...mapSettings()}, false);
  };
  $("colour-by").addEventListener("change", restyle);
  $("label-by").addEventListener("change", restyle);
  $("projection-method").addEventListener("change", () => show({...current, ...mapSettings()}, false, true));
  $("map-mode").addEventListener("change", () => show({...current, ...mapSettings()}, true, true));
  $("tools-toggle").addEventListener("click", () => {
    const collapsed = document.body.classList.toggle("tools-collapsed");
    $("tools-toggle").setAttribute("aria-expanded", String(!collapsed));
    localMap.render();
    indexMap.resize();
  });
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("embedsearch-key", $("api-key").value);
    loadIndexes();
  });
  window.addEventListener("popstate", () => show(stateFromURL(), false));
  window.addEventListener("resize", () => { localMap.render(); indexMap.resize(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
      event.preventDefault();
      selectView("neighbors");
      $("query").focus();
      $("query").select();
    }
  });
}

wire();
loadIndexes();
