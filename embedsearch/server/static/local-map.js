// The local map: a query's neighbourhood (or a sample) projected by the server, drawn as SVG.
// Points are focusable (Tab, Enter explores), labels never cover another point, analogy
// arrows have heads, and the answer and the compared terms stand out.
import {element, fillTooltip, formatNumber, placeTooltip, svgElement} from "./dom.js";

const PALETTE = ["#2563eb", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599", "#e67700",
                 "#5c940d", "#862e9c", "#495057"];
const PAD = 44;

export class LocalMap {
  constructor(svg, tooltip, panel, explore) {
    Object.assign(this, {svg, tooltip, panel, explore});
    this.points = [];
    this.options = {};
    this.colourChoice = "score";
    this.labelChoice = "key";
  }

  clear() {
    this.points = [];
    this.svg.replaceChildren();
    document.getElementById("legend").replaceChildren();
    document.getElementById("map-count").textContent = "";
    this.tooltip.classList.add("hidden");
  }

  draw(data, title, options) {
    this.options = options;
    const marked = new Set(options.terms);
    this.points = data.points.map((point) => ({
      ...point,
      role: point.key === options.answer ? "answer" :
        (point.role === "neighbor" && marked.has(point.key) ? "term" : point.role)}));
    const titleNode = document.getElementById("map-title");
    titleNode.textContent = title;
    titleNode.title = title;
    const count = this.points.length;
    document.getElementById("map-count").textContent =
      `${count} point${count === 1 ? "" : "s"}, ${data.method.toUpperCase()}`;
    this.updateChoices();
    this.render();
  }

  updateChoices() {
    const fields = new Set();
    for (const point of this.points) {
      if (point.source) fields.add("source");
      for (const name of Object.keys(point.metadata || {})) fields.add("metadata." + name);
    }
    const extra = [...fields].sort().map((f) => [f, f.replace("metadata.", "")]);
    fillSelect("colour-by", [["score", "similarity to query"], ["role", "role"], ...extra], this.colourChoice);
    const hasText = this.points.some((p) => p.text && p.text !== p.key);
    fillSelect("label-by", [["key", "key"], ...(hasText ? [["text", "text snippet"]] : []), ...extra],
               this.labelChoice);
  }

  fieldOf(point, field) {
    if (field === "score" || field === "role" || field === "source") return point[field];
    if (field === "text") return point.text;
    if (field === "key") return point.key;
    return (point.metadata || {})[field.replace("metadata.", "")];
  }

  labelOf(point) {
    const value = this.fieldOf(point, document.getElementById("label-by").value || "key");
    const text = value === undefined || value === null ? point.key :
      typeof value === "number" ? formatNumber(value) : String(value);
    return text.length > 28 ? text.slice(0, 27) + "…" : text;
  }

  colourScale(field) {
    const values = this.points.map((p) => this.fieldOf(p, field));
    const present = values.filter((v) => v !== undefined && v !== null);
    const numbers = present.filter((v) => typeof v === "number");
    if (numbers.length && numbers.length === present.length) {
      const low = Math.min(...numbers), high = Math.max(...numbers);
      const colour = (v) => (typeof v !== "number" ? "#c4c9d2" : ramp(high > low ? (v - low) / (high - low) : 1));
      return {colour, legend: [[ramp(0), formatNumber(low)], [ramp(1), formatNumber(high)]]};
    }
    const name = (v) => (v === undefined || v === null ? "—" : String(v));
    const categories = [...new Set(values.map(name))];
    const colour = (v) => PALETTE[categories.indexOf(name(v)) % PALETTE.length];
    return {colour, legend: categories.slice(0, 10).map((c, i) => [PALETTE[i % PALETTE.length], c])};
  }

  render() {
    const svg = this.svg;
    svg.replaceChildren();
    this.tooltip.classList.add("hidden");
    const {width, height} = svg.getBoundingClientRect();
    if (!this.points.length || !width) return;
    const xs = this.points.map((p) => p.x), ys = this.points.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    // A projection keeps one scale for both axes (its distances mean something); custom axes
    // are two separate measures, each stretched to the panel.
    let scaleX = (width - 2 * PAD) / ((x1 - x0) || 1), scaleY = (height - 2 * PAD) / ((y1 - y0) || 1);
    if (!this.options.axes) scaleX = scaleY = Math.min(scaleX, scaleY);
    const px = (x) => width / 2 + (x - (x0 + x1) / 2) * scaleX;
    const py = (y) => height / 2 - (y - (y0 + y1) / 2) * scaleY;
    svg.append(arrowHead());
    if (this.options.axes) svg.append(...axisGuides(this.options.axes, px, py, width, height));
    const byKey = new Map(this.points.map((p) => [p.key, p]));
    for (const [from, to] of this.options.links || []) {
      const a = byKey.get(from), b = byKey.get(to);
      if (!a || !b) continue;
      const [ax, ay, bx, by] = [px(a.x), py(a.y), px(b.x), py(b.y)];
      const length = Math.hypot(bx - ax, by - ay) || 1;
      const stop = 9 / length;  // end the shaft at the target's rim, where the head sits
      svg.append(svgElement("line", {class: "link", x1: ax, y1: ay,
        x2: bx - (bx - ax) * stop, y2: by - (by - ay) * stop, "marker-end": "url(#arrow-head)"}));
    }
    const field = document.getElementById("colour-by").value || "score";
    const {colour, legend} = this.colourScale(field);
    const circles = this.points.map((point) => {
      const big = ["query", "term", "answer"].includes(point.role);
      const circle = svgElement("circle", {class: "point " + point.role, cx: px(point.x), cy: py(point.y),
        r: point.role === "answer" ? 8 : big ? 7 : 5, fill: colour(this.fieldOf(point, field)),
        tabindex: 0, role: "button", "aria-label": `${point.key}: explore its neighbours`});
      circle.dataset.key = point.key;
      const showTip = (x, y) => {
        fillTooltip(this.tooltip, point, "similarity to query");
        const panelBox = this.panel.getBoundingClientRect();
        placeTooltip(this.tooltip, this.panel, x - panelBox.left, y - panelBox.top);
      };
      circle.addEventListener("mousemove", (event) => showTip(event.clientX, event.clientY));
      circle.addEventListener("mouseleave", () => this.tooltip.classList.add("hidden"));
      circle.addEventListener("focus", () => {
        const box = circle.getBoundingClientRect();
        showTip(box.left + box.width / 2, box.top + box.height / 2);
      });
      circle.addEventListener("blur", () => this.tooltip.classList.add("hidden"));
      circle.addEventListener("click", () => this.explore(point.key, false));
      circle.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.explore(point.key, true);
        }
      });
      return circle;
    });
    svg.append(...circles);
    this.placeLabels(px, py, width, height);
    document.getElementById("legend").replaceChildren(...legend.map(([swatch, text]) => {
      const entry = element("span");
      const dot = element("i");
      dot.style.background = swatch;
      entry.append(dot, document.createTextNode(text));
      return entry;
    }));
  }

  // Labels go where they overlap no other label and no point: right, left, above or below
  // their point, in order of importance (query, answer and terms first, then by score); a
  // label with no free place is left out (its point keeps its tooltip).
  placeLabels(px, py, width, height) {
    const dots = this.points.map((p) => [px(p.x) - 6, py(p.y) - 6, 12, 12]);
    const order = this.points.map((p, i) => i).sort((i, j) => importance(this.points[j]) - importance(this.points[i]));
    const taken = [];
    const overlaps = ([sx, sy, w, h], [tx, ty, tw, th]) => sx < tx + tw && tx < sx + w && sy < ty + th && ty < sy + h;
    for (const i of order) {
      const point = this.points[i];
      const text = this.labelOf(point);
      const big = ["query", "term", "answer"].includes(point.role);
      const w = text.length * (big ? 7.8 : 6.4) + 4, h = big ? 15 : 13;
      const x = px(point.x), y = py(point.y);
      const spots = [[x + 9, y - h / 2], [x - 9 - w, y - h / 2], [x - w / 2, y - 9 - h], [x - w / 2, y + 9]];
      const spot = spots.find(([sx, sy]) => {
        const box = [sx, sy, w, h];
        return sx >= 0 && sy >= 0 && sx + w <= width && sy + h <= height &&
          !taken.some((t) => overlaps(box, t)) && !dots.some((d, j) => j !== i && overlaps(box, d));
      });
      if (!spot) continue;
      taken.push([spot[0], spot[1], w, h]);
      const label = svgElement("text", {class: point.role, x: spot[0] + 2, y: spot[1] + h - 3});
      label.textContent = text;
      this.svg.append(label);
    }
  }
}

// Dashed lines where each axis is 0 (its start) and 1 (its end), named at the panel's edge,
// and each axis's title: "x: man → woman" at the bottom, "y: poor → rich" at the top.
function axisGuides(axes, px, py, width, height) {
  const nodes = [];
  const guide = (attributes, text, x, y, anchor) => {
    nodes.push(svgElement("line", {class: "guide", ...attributes}));
    const label = svgElement("text", {class: "guide-label", x, y, "text-anchor": anchor});
    label.textContent = text;
    nodes.push(label);
  };
  [[0, axes.x[0]], [1, axes.x[1]]].forEach(([at, name]) =>
    guide({x1: px(at), x2: px(at), y1: 0, y2: height}, name, px(at), height - 22, "middle"));
  [[0, axes.y[0]], [1, axes.y[1]]].forEach(([at, name]) =>
    guide({x1: 0, x2: width, y1: py(at), y2: py(at)}, name, 6, py(at) - 4, "start"));
  const title = (text, x, y, anchor) => {
    const node = svgElement("text", {class: "axis-title", x, y, "text-anchor": anchor});
    node.textContent = text;
    nodes.push(node);
  };
  title(`x: ${axes.x[0]} → ${axes.x[1]}`, width - 8, height - 6, "end");
  title(`y: ${axes.y[0]} → ${axes.y[1]}`, width - 8, 16, "end");
  return nodes;
}

function importance(point) {
  return ({query: 4, answer: 3, term: 2}[point.role] || 0) + (point.score || 0);
}

function ramp(t) {  // light blue -> deep blue
  const from = [160, 190, 240], to = [20, 45, 150];
  return `rgb(${from.map((f, i) => Math.round(f + (to[i] - f) * t)).join(",")})`;
}

function arrowHead() {
  const defs = svgElement("defs");
  const marker = svgElement("marker", {id: "arrow-head", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
  marker.append(svgElement("path", {d: "M0,0 L10,5 L0,10 z", class: "arrow-head"}));
  defs.append(marker);
  return defs;
}

function fillSelect(id, options, chosen) {
  const select = document.getElementById(id);
  select.replaceChildren(...options.map(([value, label]) => {
    const option = element("option", "", label);
    option.value = value;
    return option;
  }));
  select.value = options.some(([value]) => value === chosen) ? chosen : options[0][0];
}
