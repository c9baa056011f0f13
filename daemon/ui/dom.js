// Tiny DOM helpers. Everything user-controlled goes through text nodes or attributes, never
// through innerHTML, so label values and comments cannot inject markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "testid") element.dataset.testid = value;
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "value") element.value = value;
    else if (key === "checked") element.checked = Boolean(value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

export function replaceChildren(element, ...children) {
  element.textContent = "";
  append(element, children);
}

// Only web links are rendered as links: a generatorURL of "javascript:..." stays text.
export function safeHref(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

export function formatTime(text) {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return String(text);
  return date.toISOString().replace(".000Z", "Z");
}

export function formatRelative(text, now = Date.now()) {
  const seconds = Math.round((new Date(text).getTime() - now) / 1000);
  if (!Number.isFinite(seconds)) return "";
  const span = formatDuration(Math.abs(seconds) * 1000);
  return seconds >= 0 ? `in ${span}` : `${span} ago`;
}

const DURATION_UNITS = [
  ["w", 7 * 24 * 3600 * 1000],
  ["d", 24 * 3600 * 1000],
  ["h", 3600 * 1000],
  ["m", 60 * 1000],
  ["s", 1000],
];

export function formatDuration(milliseconds) {
  let rest = Math.max(0, Math.round(milliseconds / 1000) * 1000);
  if (rest === 0) return "0s";
  let text = "";
  for (const [unit, size] of DURATION_UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}

// "1h30m", "2d", "90s" (Prometheus duration syntax) in milliseconds, or null.
export function parseDuration(text) {
  const trimmed = String(text).trim();
  if (!/^(\d+(ms|[wdhms]))+$/.test(trimmed)) return null;
  let total = 0;
  for (const [, count, unit] of trimmed.matchAll(/(\d+)(ms|[wdhms])/g)) {
    total += Number(count) * (unit === "ms" ? 1 : DURATION_UNITS.find(([name]) => name === unit)[1]);
  }
  return total;
}

// Changes the hash route; re-renders even when the hash is already the target (a "refresh").
export function navigate(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  const target = `#/${path}${text ? `?${text}` : ""}`;
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}
