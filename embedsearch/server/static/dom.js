// Small DOM and number helpers shared by the explorer's modules.

export const $ = (id) => document.getElementById(id);
export const SVG = "http://www.w3.org/2000/svg";

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  return node;
}

// Whole numbers print whole (a year is 2001, not 2001.00); others with `digits` decimals.
export function formatNumber(value, digits = 2) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

// Shows the tooltip beside (x, y) in the panel's coordinates, kept inside the panel.
export function placeTooltip(tooltip, panel, x, y) {
  tooltip.classList.remove("hidden");
  const box = panel.getBoundingClientRect();
  const width = tooltip.offsetWidth, height = tooltip.offsetHeight;
  let left = x + 14, top = y + 14;
  if (left + width > box.width - 4) left = x - 14 - width;
  if (top + height > box.height - 4) top = y - 14 - height;
  tooltip.style.left = Math.max(4, Math.min(left, box.width - width - 4)) + "px";
  tooltip.style.top = Math.max(4, Math.min(top, box.height - height - 4)) + "px";
}

// The tooltip's content for an item: key, score, text, source and metadata.
export function fillTooltip(tooltip, point, scoreName) {
  tooltip.replaceChildren(element("b", "", point.key));
  if (typeof point.score === "number") {
    tooltip.append(element("span", "muted-light", `  ${scoreName || "cosine"} ${point.score.toFixed(4)}`));
  }
  if (point.text && point.text !== point.key) tooltip.append(element("div", "text", point.text));
  if (point.source) tooltip.append(element("div", "meta", `source: ${point.source}`));
  for (const [name, value] of Object.entries(point.metadata || {})) {
    tooltip.append(element("div", "meta", `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`));
  }
}
