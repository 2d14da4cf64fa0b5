// The whole-index map: every item of the index (its most important SHOWN items up front, the
// rest fetched by region as you zoom in), drawn in WebGL by the vendored regl-scatterplot.
// Labels appear by importance as you zoom; a search highlights the query and its neighbours
// in place, with lines from the query; an analogy draws its two arrows.
//
// The map's rows keep the server's order (most important first); the plot gets the same points
// in bands from the bottom of the map to the top, left to right within a band (point-bands.js;
// `order` and `slot` translate between the two), and draws only the runs of them in view;
// while the view moves, frames show a picture of the points moved and scaled, drawn again
// once the move ends (points-layer.js).
// Every point has the same colour, and blending one colour over itself gives the same result
// in any order (but for rounding in the last bit or two): the picture is the same.
import createPubSub from "./vendor/pub-sub-es-3.0.0.js";
import {element, fillTooltip, placeTooltip, svgElement} from "./dom.js";
import {createDirectRenderer} from "./map-renderer.js";
import {pointBands, runsInView} from "./point-bands.js";

const LABELS = 70;             // labels on screen at most
const LABEL_CANDIDATES = 4000; // visible points considered for a label, most important first
const REGION_BELOW = 400;      // fewer loaded points than this in view: fetch more from the server
const EXTRA_LIMIT = 60000;     // points fetched by region kept at most
const BASE_COLOUR = "#6d8fd8";
const HIGHLIGHT_COLOUR = "#e8590c";

let libraryLoaded = null;

function loadLibrary() {
  if (!libraryLoaded) {
    window.createPubSub = createPubSub;
    libraryLoaded = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/regl-scatterplot-1.16.0.min.js";
      script.onload = () => resolve(window.createScatterplot);
      script.onerror = () => reject(new Error("the map's drawing library did not load"));
      document.head.append(script);
    });
  }
  return libraryLoaded;
}

export class IndexMap {
  constructor(container, tooltip, panel, explore, api) {
    Object.assign(this, {container, tooltip, panel, explore, api});
    this.canvas = container.querySelector("canvas");
    this.overlay = container.querySelector("#index-overlay");
    this.labelLayer = container.querySelector("#index-labels");
    this.progress = container.querySelector("#map-progress");
    this.name = null;
    this.method = "pca";
    this.plot = null;
    this.loading = null;
    this.view = null;         // what is highlighted: {query, hits, terms, links, answer}
    this.marks = [];          // highlighted positions: {x, y, key, role, index}
    this.labelTimer = 0;
    this.regionTimer = 0;
    this.hovered = -1;
    // The map bar above may wrap (a longer count or title): the plot follows its container.
    new ResizeObserver(() => this.resize()).observe(container);
  }

  // Loads the index's layout by `method` (pca or umap), waiting while the server computes
  // it, once per index version.
  async show(name, method, mine) {
    if (this.name === name && this.method === method && this.loading) return this.loading;
    Object.assign(this, {name, method});
    this.loading = this.load(name, method, mine).catch((error) => {
      this.loading = null;
      this.name = null;
      throw error;
    });
    return this.loading;
  }

  // A map route of the shown index and method: path("/points", {field: "text"}).
  path(suffix = "", params = {}) {
    const query = new URLSearchParams({method: this.method, ...params});
    return `/indexes/${encodeURIComponent(this.name)}/map${suffix}?${query}`;
  }

  async load(name, method, mine) {
    const current = () => this.name === name && this.method === method;
    let state = await this.api(this.path());
    while (state.state !== "ready") {
      const done = Math.round(100 * (state.progress || 0));
      this.showProgress(`computing the ${method.toUpperCase()} map of ${name}: ${done} %` +
                        (method === "pca" ? "" : " (UMAP takes minutes on a large index; " +
                                                 "searches work meanwhile, PCA is at hand)"),
                        state.progress || 0);
      await new Promise((resolve) => setTimeout(resolve, method === "pca" ? 400 : 1000));
      if (!current()) return;
      state = await this.api(this.path());
    }
    this.showProgress(`loading ${state.shown.toLocaleString()} points…`, 1);
    const corpus = state.content !== "vocabulary";
    const [buffer, keys, labels, createScatterplot] = await Promise.all([
      this.fetchBinary(this.path("/points")), this.api(this.path("/keys")),
      corpus ? this.api(this.path("/keys", {field: "text"})) : null, loadLibrary()]);
    if (!current()) return;
    const shown = state.shown;
    this.ids = Array.from(new Int32Array(buffer, 0, shown));
    const xy = new Float32Array(buffer, shown * 4, shown * 2);
    this.x = new Array(shown); this.y = new Array(shown);
    for (let i = 0; i < shown; i++) { this.x[i] = xy[2 * i]; this.y[i] = xy[2 * i + 1]; }
    this.keys = keys;
    this.labels = labels || keys;  // a corpus item is labelled by the start of its text
    this.count = state.count;
    this.shown = shown;
    this.content = state.content;
    this.rowOfId = new Map(this.ids.map((id, row) => [id, row]));
    this.details = new Map();
    this.makePlot(createScatterplot);
    await this.drawPoints();
    this.progress.classList.add("hidden");
    this.container.dataset.points = String(this.x.length);
    this.container.dataset.ready = "true";
    this.container.dataset.readyAt = String(performance.now());
    document.getElementById("map-count").textContent =
      `${this.count.toLocaleString()} items` +
      (this.count > this.shown ? `, ${this.shown.toLocaleString()} drawn, the rest as you zoom` : "") +
      `, ${state.method.toUpperCase()}`;
  }

  async fetchBinary(path) {
    const headers = {};
    const key = sessionStorage.getItem("embedsearch-key");
    if (key) headers["Authorization"] = "Bearer " + key;
    const response = await fetch(path, {headers});
    if (!response.ok) throw new Error(`the map's points could not be loaded (${response.status})`);
    return response.arrayBuffer();
  }

  showProgress(text, fraction) {
    this.progress.classList.remove("hidden");
    this.progress.querySelector("span").textContent = text;
    this.progress.querySelector("i").style.width = Math.round(100 * fraction) + "%";
  }

  makePlot(createScatterplot) {
    if (this.plot) this.plot.destroy();
    const {width, height} = this.container.getBoundingClientRect();
    this.size = {width, height};
    this.renderer = this.renderer || createDirectRenderer(this.canvas, {
      viewBox: () => this.viewBox(), pointRuns: (total, box) => this.pointRuns(total, box)});
    this.plot = createScatterplot.default({
      canvas: this.canvas, renderer: this.renderer, width: Math.max(1, width), height: Math.max(1, height),
      backgroundColor: [1, 1, 1, 1], pointSize: pointSizeFor(this.x.length), pointColor: BASE_COLOUR,
      opacityBy: "density",
      pointColorHover: [0.1, 0.1, 0.1, 1], pointColorActive: HIGHLIGHT_COLOUR,
      pointSizeSelected: 4, pointOutlineWidth: 1, lassoOnLongPress: false,
      actionKeyMap: {}, deselectOnDblClick: false, deselectOnEscape: false,
    });
    this.plot.subscribe("view", () => this.afterViewChange());
    this.plot.subscribe("pointOver", (point) => this.hover(this.order[point]));
    this.plot.subscribe("pointOut", () => { this.hovered = -1; this.tooltip.classList.add("hidden"); });
    // A click selects the point under the mouse: explore it. The marked points are shown as
    // the selection, so a click on the background (which deselects) puts them back.
    this.plot.subscribe("select", ({points}) => {
      if (points.length === 1) this.explore(this.keys[this.order[points[0]]], false);
      this.selectMarks();
    });
    this.plot.subscribe("deselect", () => this.selectMarks());
  }

  drawPoints() {
    const count = this.x.length;
    this.bands = pointBands(this.x, this.y);
    this.renderer.points.invalidate();
    this.order = this.bands.order;
    this.slot = new Int32Array(count);
    this.order.forEach((row, point) => { this.slot[row] = point; });
    const x = new Float64Array(count), y = new Float64Array(count);
    this.order.forEach((row, point) => { x[point] = this.x[row]; y[point] = this.y[row]; });
    return this.plot.draw({x, y}).then(() => this.selectMarks());
  }

  // The map's area on the canvas, in map coordinates: {x0, x1, y0, y1}; null while unknown.
  viewBox() {
    if (!this.bands || this.x.length !== this.bands.count || this.x.length < 2) return null;
    const screen = this.toScreen();
    const [ox, oy] = screen(0, 0), [ux, uy] = screen(1, 1);
    const toMap = (sx, sy) => [(sx - ox) / (ux - ox), (sy - oy) / (uy - oy)];
    const {width, height} = this.size;
    const [x0, y0] = toMap(0, height), [x1, y1] = toMap(width, 0);
    return [x0, x1, y0, y1].every(Number.isFinite) && x0 < x1 && y0 < y1 ? {x0, x1, y0, y1} : null;
  }

  // The runs of the plot's points inside box, for the renderer; null: draw all of them.
  pointRuns(total, box) {
    if (!this.bands || total !== this.bands.count || this.x.length !== total) return null;
    return runsInView(this.bands, box);
  }

  // The plot's points of map rows.
  points(rows) {
    return rows.map((row) => this.slot[row]);
  }

  // Where a row's point is on the map's canvas, in CSS pixels: [x, y].
  screenPosition(row) {
    return this.plot.getScreenPosition(this.slot[row]);
  }

  selectMarks() {
    const rows = this.marks.filter((m) => m.row >= 0 && m.role !== "other").map((m) => m.row);
    if (rows.length) this.plot.select(this.points(rows), {preventEvent: true});
    else this.plot.deselect({preventEvent: true});
  }

  resize() {
    if (!this.plot) return;
    const {width, height} = this.container.getBoundingClientRect();
    if (!width || !height) return;
    this.size = {width, height};
    this.plot.set({width, height});
    this.afterViewChange();
  }

  // Screen position of map coordinates, from two drawn points' screen positions (the
  // camera only pans and zooms, so the map is an axis-aligned affine one).
  toScreen() {
    const a = this.screenPosition(this.anchor[0]), b = this.screenPosition(this.anchor[1]);
    const [ax, ay, bx, by] = [this.x[this.anchor[0]], this.y[this.anchor[0]],
                              this.x[this.anchor[1]], this.y[this.anchor[1]]];
    const sx = (b[0] - a[0]) / ((bx - ax) || 1), sy = (b[1] - a[1]) / ((by - ay) || 1);
    return (x, y) => [a[0] + (x - ax) * sx, a[1] + (y - ay) * sy];
  }

  get anchor() {
    if (!this._anchor || this._anchor.length !== 2 || this._anchorCount !== this.x.length) {
      let low = 0, high = 0;
      for (let i = 0; i < this.x.length; i++) {
        if (this.x[i] + this.y[i] < this.x[low] + this.y[low]) low = i;
        if (this.x[i] + this.y[i] > this.x[high] + this.y[high]) high = i;
      }
      this._anchor = [low, high];
      this._anchorCount = this.x.length;
    }
    return this._anchor;
  }

  afterViewChange() {
    this.drawOverlay();
    clearTimeout(this.labelTimer);
    this.labelTimer = setTimeout(() => {
      this.placeLabels();
      // regl-scatterplot counts the points in view for their opacity a little after the
      // last frame of a move (debounced), so that frame was drawn with the count of an
      // earlier view: once the view is still, draw it again with the right one.
      if (this.plot) this.plot.redraw();
    }, 60);
    clearTimeout(this.regionTimer);
    this.regionTimer = setTimeout(() => this.fetchRegion(), 300);
  }

  visibleRows() {
    return this.plot ? Array.from(this.plot.get("pointsInView"), (point) => this.order[point]) : [];
  }

  // Labels by importance: the highlighted points first, then the visible points in the
  // server's order of importance (a vocabulary's most frequent words), none overlapping.
  placeLabels() {
    if (!this.plot || !this.x.length) return;
    const screen = this.toScreen();
    const {width, height} = this.container.getBoundingClientRect();
    const taken = [];
    const nodes = [];
    const overlaps = (box) => taken.some((t) => box[0] < t[0] + t[2] && t[0] < box[0] + box[2] &&
                                                box[1] < t[1] + t[3] && t[1] < box[1] + box[3]);
    const tryLabel = (x, y, text, className) => {
      const [sx, sy] = screen(x, y);
      if (sx < 0 || sy < 0 || sx > width || sy > height) return;
      const w = text.length * (className ? 7.6 : 6.4) + 6, h = className ? 16 : 14;
      const spots = [[sx + 6, sy - h / 2], [sx - 6 - w, sy - h / 2], [sx - w / 2, sy - 7 - h], [sx - w / 2, sy + 7]];
      const spot = spots.map(([bx, by]) => [bx, by, w, h]).find((box) => !overlaps(box) &&
        box[0] >= 0 && box[0] + w <= width && box[1] >= 0 && box[1] + h <= height);
      if (!spot) return;
      taken.push(spot);
      const label = element("span", "map-label" + (className ? " role-" + className : ""), text);
      label.style.left = Math.round(spot[0]) + "px";
      label.style.top = Math.round(spot[1]) + "px";
      nodes.push(label);
    };
    const rank = {query: 0, answer: 1, term: 2, shared: 3, hit: 4, other: 5};
    const marks = [...this.marks].sort((a, b) => rank[a.role] - rank[b.role]);
    const named = (mark) => (mark.row >= 0 && ["hit", "shared", "answer"].includes(mark.role) && this.labels[mark.row]) || mark.key;
    for (const mark of marks) tryLabel(mark.x, mark.y, shorten(named(mark)), mark.role);
    const rows = this.visibleRows();
    const ordered = rows.length > LABEL_CANDIDATES ? Int32Array.from(rows).sort().subarray(0, LABEL_CANDIDATES)
      : Int32Array.from(rows).sort();
    const marked = new Set(marks.map((mark) => mark.row));
    for (const row of ordered) {
      if (nodes.length >= LABELS) break;
      if (marked.has(row)) continue;  // labelled above, in its role's style
      tryLabel(this.x[row], this.y[row], shorten(this.labels[row] || this.keys[row]), "");
    }
    this.labelLayer.replaceChildren(...nodes);
  }

  // Zoomed in where few loaded points are in view: fetch that region's other items.
  async fetchRegion() {
    if (!this.plot || this.count <= this.shown || this.visibleRows().length >= REGION_BELOW) return;
    const view = this.viewBox();
    if (!view) return;
    const clamp = (v) => Math.max(-1, Math.min(1, v));
    const box = {x0: clamp(view.x0), x1: clamp(view.x1), y0: clamp(view.y0), y1: clamp(view.y1), limit: 1500};
    const path = this.path("/region", box);
    let region;
    try {
      region = await this.api(path);
    } catch (error) {
      return;  // the overview stays usable; the next zoom asks again
    }
    if (path !== this.path("/region", box) || !region.ids.length) return;
    const dropped = this.x.length - this.shown > EXTRA_LIMIT;
    if (dropped) this.dropExtras();
    let added = 0;
    region.ids.forEach((id, i) => {
      if (this.rowOfId.has(id)) return;
      this.addPoint(id, region.keys[i], region.x[i], region.y[i]);
      added++;
    });
    if (added || dropped) {  // the plot draws the map's rows as they are now
      await this.drawPoints();
      this.container.dataset.points = String(this.x.length);
      this.placeLabels();
    }
  }

  addPoint(id, key, x, y) {
    const row = this.x.length;
    this.ids.push(id); this.keys.push(key); this.x.push(x); this.y.push(y);
    this.rowOfId.set(id, row);
    return row;
  }

  dropExtras() {
    for (const id of this.ids.slice(this.shown)) this.rowOfId.delete(id);
    for (const list of [this.ids, this.keys, this.x, this.y]) list.length = this.shown;
    if (this.labels !== this.keys) this.labels.length = this.shown;
    for (const mark of this.marks) if (mark.row >= this.shown) mark.row = -1;
  }

  async hover(row) {
    this.hovered = row;
    const id = this.ids[row];
    const point = {key: this.keys[row], ...(this.details.get(id) || {})};
    this.showTip(row, point);
    if (this.content === "vocabulary" || this.details.has(id)) return;
    try {
      const answer = await this.api(this.path("/locate"), {ids: [id]});
      if (answer.points.length) this.details.set(id, answer.points[0]);
      if (this.hovered === row) this.showTip(row, answer.points[0] || point);
    } catch (error) {
      // the key alone stays in the tooltip
    }
  }

  showTip(row, point) {
    const mark = this.marks.find((m) => m.row === row);
    fillTooltip(this.tooltip, {...point, score: mark ? mark.score : undefined}, "similarity to query");
    const [sx, sy] = this.toScreen()(this.x[row], this.y[row]);
    const panelBox = this.panel.getBoundingClientRect(), box = this.container.getBoundingClientRect();
    placeTooltip(this.tooltip, this.panel, sx + box.left - panelBox.left, sy + box.top - panelBox.top);
  }

  // Highlights a view in place: the query, its hits, the terms, arrows; null clears. A
  // comparison with another index adds `others`, the keys of the other index's neighbours:
  // those it shares with `hits` are marked "shared", the rest "other".
  async highlight(view) {
    this.view = view;
    if (!this.plot) return;
    if (!view) {
      this.marks = [];
      this.selectMarks();
      this.drawOverlay();
      this.placeLabels();
      return;
    }
    const hits = view.hits || [];
    const ours = new Set(hits.map((h) => h.key)), others = new Set(view.others || []);
    const otherOnly = [...others].filter((key) => !ours.has(key));
    const terms = [...new Set([...(view.query ? [view.query] : []), ...(view.terms || []),
                               ...otherOnly])];
    const missing = hits.filter((h) => !this.rowOfId.has(h.id)).map((h) => h.id);
    const placed = await this.api(this.path("/locate"), {terms, ids: missing});
    if (this.view !== view) return;
    const before = this.x.length;
    for (const point of placed.points) {
      if (!this.rowOfId.has(point.id)) this.addPoint(point.id, point.key, point.x, point.y);
    }
    const marks = [];
    const termRole = (term) => (term === view.query && !view.answer ? "query"
      : otherOnly.includes(term) ? "other" : "term");
    for (const term of placed.terms) {  // an item of the index sits on its own point
      const row = term.id !== null && this.rowOfId.has(term.id) ? this.rowOfId.get(term.id) : -1;
      marks.push({x: row >= 0 ? this.x[row] : term.x, y: row >= 0 ? this.y[row] : term.y,
                  key: term.term, role: termRole(term.term), row});
    }
    for (const hit of hits) {
      const row = this.rowOfId.get(hit.id);
      if (row === undefined || marks.some((m) => m.key === hit.key)) continue;
      marks.push({x: this.x[row], y: this.y[row], key: hit.key, row, score: hit.score,
                  role: hit.key === view.answer ? "answer" : others.has(hit.key) ? "shared" : "hit"});
    }
    for (const mark of marks) if (mark.key === view.answer) mark.role = "answer";
    this.marks = marks;
    if (this.x.length > before) await this.drawPoints(); else this.selectMarks();
    this.drawOverlay();
    this.container.dataset.points = String(this.x.length);
    this.container.dataset.highlighted = String(marks.length);
    this.container.dataset.highlightedAt = String(performance.now());
    const rows = marks.filter((m) => m.row >= 0).map((m) => m.row);
    if (rows.length) {
      await this.plot.zoomToPoints(this.points(rows), {transition: true, transitionDuration: 450, padding: 0.35});
    }
    this.drawOverlay();
    this.placeLabels();
  }

  // Lines from the query to each neighbour, an analogy's arrows, rings on the marked points.
  drawOverlay() {
    const svg = this.overlay;
    svg.replaceChildren();
    if (!this.plot || !this.marks.length || !this.view) return;
    const screen = this.toScreen();
    const byKey = new Map(this.marks.map((m) => [m.key, m]));
    const defs = svgElement("defs");
    const marker = svgElement("marker", {id: "index-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse"});
    marker.append(svgElement("path", {d: "M0,0 L10,5 L0,10 z", class: "arrow-head"}));
    defs.append(marker);
    svg.append(defs);
    const query = this.view.links ? null : byKey.get(this.view.query);
    if (query) {
      const [qx, qy] = screen(query.x, query.y);
      for (const mark of this.marks) {
        if (mark === query || !["hit", "shared", "other"].includes(mark.role)) continue;
        const [sx, sy] = screen(mark.x, mark.y);
        svg.append(svgElement("line", {class: "spoke " + mark.role, x1: qx, y1: qy, x2: sx, y2: sy}));
      }
    }
    for (const [from, to] of this.view.links || []) {
      const a = byKey.get(from), b = byKey.get(to);
      if (!a || !b) continue;
      const [ax, ay] = screen(a.x, a.y), [bx, by] = screen(b.x, b.y);
      const length = Math.hypot(bx - ax, by - ay) || 1, stop = 8 / length;
      svg.append(svgElement("line", {class: "arrow", x1: ax, y1: ay, x2: bx - (bx - ax) * stop,
        y2: by - (by - ay) * stop, "marker-end": "url(#index-arrow)"}));
    }
    for (const mark of this.marks) {
      const [sx, sy] = screen(mark.x, mark.y);
      const ring = svgElement("circle", {class: "mark " + mark.role, cx: sx, cy: sy,
        r: {query: 7, answer: 8, term: 6, shared: 6}[mark.role] || 4});
      ring.dataset.key = mark.key;
      svg.append(ring);
    }
  }
}

// Points as big as the map has room for: a small index's few points stay visible.
function pointSizeFor(count) {
  return count < 2000 ? 7 : count < 20000 ? 4 : 2.5;
}

function shorten(text) {
  const flat = String(text).replace(/\s+/g, " ");
  return flat.length > 28 ? flat.slice(0, 27) + "…" : flat;
}
