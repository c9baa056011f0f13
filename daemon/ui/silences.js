// Silences: the list by state, one silence with the alerts it affects, and the form that
// creates, edits and recreates them. Validation is the API's: its error messages are placed
// next to the field they name (matcher N, start, end, author, comment).

import * as api from "./api.js";
import { formatDuration, formatRelative, formatTime, h, navigate, parseDuration, replaceChildren } from "./dom.js";
import { MatcherSyntaxError, OPERATORS, formatMatcher, fromApi, parseMatchers, toApi } from "./matchers.js";

const STATES = ["active", "pending", "expired"];
// Long lists are cut into pages so that a few thousand silences do not freeze the page.
const SILENCES_PER_PAGE = 100;
const DEFAULT_DURATION_MS = 2 * 3600 * 1000;
const CREATED_BY_KEY = "tocsin.createdBy";
const PREVIEW_ALERT_LIMIT = 100;

const matcherChips = (matchers) => h("div", { class: "labels" }, matchers.map((matcher) => h("span", { class: "label static", text: formatMatcher(fromApi(matcher)) })));

function expireButton(silence, onDone, showError) {
  return h("button", {
    type: "button",
    class: "button small danger",
    testid: "expire-silence",
    text: "Expire",
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api.expireSilence(silence.id);
        onDone();
      } catch (error) {
        event.target.disabled = false;
        showError(error.message);
      }
    },
  });
}

export function renderSilenceList(root, params) {
  const filter = params.get("filter") || "";
  const selected = STATES.includes(params.get("state")) ? params.get("state") : "active";
  const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
  let disposed = false;
  const filterInput = h("input", { type: "search", class: "filter-input", value: filter, placeholder: 'Filter silences, e.g. {alertname="Down"}', testid: "silence-filter-input", "aria-label": "Filter" });
  const error = h("div", { class: "field-error", role: "alert", testid: "silences-error" });
  const tabs = h("nav", { class: "tabs" });
  const list = h("div", { class: "silences", testid: "silence-list" });
  const pager = h("nav", { class: "pager" });
  const go = (changes) => navigate("silences", { filter: filterInput.value.trim(), state: selected === "active" ? "" : selected, ...changes });
  root.append(
    h("form", { class: "toolbar", onsubmit: (event) => { event.preventDefault(); go({}); } },
      h("div", { class: "filter-row" }, filterInput, h("button", { type: "submit", class: "button", text: "Apply" }), h("a", { class: "button primary", href: "#/silences/new", text: "New Silence" })),
      error),
    tabs,
    list,
    pager,
  );

  let matchers;
  try {
    matchers = parseMatchers(filter).map(formatMatcher);
  } catch (parseError) {
    if (!(parseError instanceof MatcherSyntaxError)) throw parseError;
    error.textContent = parseError.message;
    return () => {};
  }

  const load = async () => {
    let silences;
    try {
      silences = await api.silences(matchers);
    } catch (loadError) {
      if (!disposed) error.textContent = loadError.message;
      return;
    }
    if (disposed) return;
    const byState = Object.fromEntries(STATES.map((state) => [state, silences.filter((silence) => silence.status.state === state)]));
    replaceChildren(tabs, STATES.map((state) =>
      h("a", { class: state === selected ? "tab active" : "tab", testid: `tab-${state}`, href: "#", onclick: (event) => { event.preventDefault(); go({ state: state === "active" ? "" : state }); } },
        `${state[0].toUpperCase()}${state.slice(1)} `, h("span", { class: "count", text: String(byState[state].length) }))));
    const shown = byState[selected];
    const pages = Math.max(1, Math.ceil(shown.length / SILENCES_PER_PAGE));
    const current = Math.min(page, pages);
    replaceChildren(list, shown.length === 0 ? h("p", { class: "empty", text: `No ${selected} silences` }) :
      shown.slice((current - 1) * SILENCES_PER_PAGE, current * SILENCES_PER_PAGE).map((silence) =>
        h("section", { class: `silence ${silence.status.state}`, testid: "silence", "data-id": silence.id },
          h("div", { class: "silence-head" },
            h("span", { class: "time", text: silence.status.state === "pending" ? `starts ${formatRelative(silence.startsAt)}` : silence.status.state === "active" ? `ends ${formatRelative(silence.endsAt)}` : `expired ${formatRelative(silence.endsAt)}` }),
            h("a", { class: "button small", href: `#/silences/${encodeURIComponent(silence.id)}`, testid: "view-silence", text: "View" }),
            h("a", { class: "button small", href: `#/silences/${encodeURIComponent(silence.id)}/edit`, testid: "edit-silence", text: silence.status.state === "expired" ? "Recreate" : "Edit" }),
            silence.status.state !== "expired" && expireButton(silence, load, (message) => { error.textContent = message; })),
          matcherChips(silence.matchers),
          h("p", { class: "comment" }, h("strong", { text: silence.createdBy }), silence.comment ? `: ${silence.comment}` : ""))));
    replaceChildren(pager, pages > 1 && [
      h("button", { type: "button", class: "button small", disabled: current <= 1, text: "Previous", onclick: () => go({ page: current - 1 }) }),
      h("span", { text: ` page ${current} of ${pages} ` }),
      h("button", { type: "button", class: "button small", disabled: current >= pages, text: "Next", onclick: () => go({ page: current + 1 }) }),
    ]);
  };
  load();
  return () => {
    disposed = true;
  };
}

function previewList(alerts) {
  if (alerts.length === 0) return h("p", { class: "empty", testid: "affected-none", text: "No alerts affected" });
  return [
    h("p", { testid: "affected-count", text: `${alerts.length} alert${alerts.length === 1 ? "" : "s"} affected` }),
    h("ul", { class: "alerts compact" }, alerts.slice(0, PREVIEW_ALERT_LIMIT).map((alert) =>
      h("li", { class: "alert", testid: "affected-alert" }, h("div", { class: "labels" }, Object.keys(alert.labels).sort().map((name) => h("span", { class: "label static", text: `${name}="${alert.labels[name]}"` })))))),
    alerts.length > PREVIEW_ALERT_LIMIT && h("p", { class: "muted", text: `and ${alerts.length - PREVIEW_ALERT_LIMIT} more` }),
  ];
}

export function renderSilenceDetail(root, id) {
  let disposed = false;
  const error = h("div", { class: "field-error", role: "alert", testid: "silence-error" });
  const body = h("div", { testid: "silence-detail" }, h("p", { class: "muted", text: "Loading…" }));
  root.append(h("h1", { text: "Silence" }), error, body);
  const load = async () => {
    let silence;
    try {
      silence = await api.silence(id);
    } catch (loadError) {
      if (!disposed) replaceChildren(body, h("p", { class: "field-error", text: loadError.status === 404 ? "Silence not found" : loadError.message }));
      return;
    }
    if (disposed) return;
    const row = (name, ...value) => h("tr", {}, h("th", { text: name }), h("td", {}, ...value));
    const affected = h("div", { class: "affected" }, h("p", { class: "muted", text: "Loading affected alerts…" }));
    replaceChildren(body,
      h("table", { class: "details" },
        row("ID", h("code", { text: silence.id })),
        row("State", h("span", { class: `state ${silence.status.state}`, testid: "silence-state", text: silence.status.state })),
        row("Matchers", matcherChips(silence.matchers)),
        row("Starts", `${formatTime(silence.startsAt)} (${formatRelative(silence.startsAt)})`),
        row("Ends", `${formatTime(silence.endsAt)} (${formatRelative(silence.endsAt)})`),
        row("Updated", formatTime(silence.updatedAt)),
        row("Created by", silence.createdBy),
        row("Comment", h("span", { class: "comment", text: silence.comment }))),
      h("div", { class: "actions" },
        h("a", { class: "button", href: `#/silences/${encodeURIComponent(silence.id)}/edit`, testid: "edit-silence", text: silence.status.state === "expired" ? "Recreate" : "Edit" }),
        silence.status.state !== "expired" && expireButton(silence, load, (message) => { error.textContent = message; })),
      h("h2", { text: "Affected alerts" }),
      affected);
    try {
      const alerts = await api.alerts({ matchers: silence.matchers.map((matcher) => formatMatcher(fromApi(matcher))), silenced: true, inhibited: true });
      const hit = silence.status.state === "active" ? alerts.filter((alert) => alert.status.silencedBy.includes(silence.id)) : alerts;
      if (!disposed) replaceChildren(affected, previewList(hit));
    } catch (loadError) {
      if (!disposed) replaceChildren(affected, h("p", { class: "field-error", text: loadError.message }));
    }
  };
  load();
  return () => {
    disposed = true;
  };
}

// Which form field an API error message is about.
export function errorField(message) {
  const matcher = /matcher (\d+)/.exec(message) || /matchers\.(\d+)/.exec(message);
  if (matcher) return `matcher-${matcher[1]}`;
  if (/matcher/i.test(message)) return "matchers";
  if (/end time|endsAt/.test(message)) return "endsAt";
  if (/start time|startsAt/.test(message)) return "startsAt";
  if (/createdBy/.test(message)) return "createdBy";
  if (/comment/.test(message)) return "comment";
  return "form";
}

export function renderSilenceForm(root, { id, params }) {
  let disposed = false;
  const errors = new Map();
  const errorSlot = (field) => {
    const slot = h("div", { class: "field-error", role: "alert", testid: `error-${field}` });
    errors.set(field, slot);
    return slot;
  };
  const clearErrors = () => {
    for (const slot of errors.values()) slot.textContent = "";
  };
  const showError = (message) => {
    const field = errorField(message);
    (errors.get(field) || errors.get(field.startsWith("matcher-") ? "matchers" : "form")).textContent = message;
  };

  let editingId = id || "";
  const title = h("h1", { text: id ? "Edit Silence" : "New Silence" });
  const matcherRows = h("div", { class: "matcher-rows", testid: "matchers" });
  const startsAt = h("input", { type: "text", testid: "silence-starts", "aria-label": "Start" });
  const duration = h("input", { type: "text", testid: "silence-duration", "aria-label": "Duration" });
  const endsAt = h("input", { type: "text", testid: "silence-ends", "aria-label": "End" });
  const createdBy = h("input", { type: "text", testid: "silence-created-by", "aria-label": "Creator", value: localStorage.getItem(CREATED_BY_KEY) || "" });
  const comment = h("textarea", { rows: 3, testid: "silence-comment", "aria-label": "Comment" });
  const submit = h("button", { type: "submit", class: "button primary", testid: "silence-submit", text: id ? "Update" : "Create" });
  const preview = h("div", { class: "affected", testid: "preview" });

  const addMatcherRow = (matcher = { name: "", operator: "=", value: "" }) => {
    const index = matcherRows.children.length;
    const operator = h("select", { testid: `matcher-operator-${index}`, "aria-label": "Operator" }, OPERATORS.map((op) => h("option", { value: op, text: op })));
    operator.value = matcher.operator;
    const row = h("div", { class: "matcher-row", testid: "matcher-row" },
      h("input", { type: "text", class: "matcher-name", placeholder: "label", value: matcher.name, testid: `matcher-name-${index}`, "aria-label": "Label name" }),
      operator,
      h("input", { type: "text", class: "matcher-value", placeholder: "value", value: matcher.value, testid: `matcher-value-${index}`, "aria-label": "Label value" }),
      h("button", { type: "button", class: "button small", text: "Remove", onclick: () => { row.remove(); renumber(); } }),
      errorSlot(`matcher-${index}`));
    matcherRows.append(row);
  };
  const renumber = () => {
    // Error messages say "matcher N" by position, so slots and test ids follow the rows.
    [...matcherRows.children].forEach((row, index) => {
      const [name, operator, value, , slot] = row.children;
      name.dataset.testid = `matcher-name-${index}`;
      operator.dataset.testid = `matcher-operator-${index}`;
      value.dataset.testid = `matcher-value-${index}`;
      slot.dataset.testid = `error-matcher-${index}`;
      errors.set(`matcher-${index}`, slot);
    });
  };
  const currentMatchers = () => [...matcherRows.children].map((row) => {
    const [name, operator, value] = row.children;
    return { name: name.value.trim(), operator: operator.value, value: value.value };
  }).filter((matcher) => matcher.name || matcher.value);

  const setTimes = (start, end) => {
    startsAt.value = start.toISOString();
    endsAt.value = end.toISOString();
    duration.value = formatDuration(end - start);
  };
  const readTime = (input, field) => {
    const date = new Date(input.value.trim());
    if (Number.isNaN(date.getTime())) {
      errors.get(field).textContent = `"${input.value}" is not a valid time (use RFC 3339, e.g. 2024-05-01T12:00:00Z)`;
      return null;
    }
    return date;
  };
  duration.addEventListener("change", () => {
    const span = parseDuration(duration.value);
    const start = new Date(startsAt.value);
    if (span === null) errors.get("duration").textContent = `"${duration.value}" is not a duration (e.g. 2h, 1d, 30m)`;
    else if (!Number.isNaN(start.getTime())) {
      errors.get("duration").textContent = "";
      endsAt.value = new Date(start.getTime() + span).toISOString();
    }
  });
  const syncDuration = () => {
    const start = new Date(startsAt.value);
    const end = new Date(endsAt.value);
    if (!Number.isNaN(start.getTime()) && !Number.isNaN(end.getTime())) duration.value = end >= start ? formatDuration(end - start) : "";
  };
  endsAt.addEventListener("change", syncDuration);
  startsAt.addEventListener("change", () => {
    const span = parseDuration(duration.value);
    const start = new Date(startsAt.value);
    if (span !== null && !Number.isNaN(start.getTime())) endsAt.value = new Date(start.getTime() + span).toISOString();
  });

  const field = (label, input, name) => h("div", { class: "field" }, h("label", { text: label }), input, errorSlot(name));
  const form = h("form", { class: "silence-form", testid: "silence-form", onsubmit: (event) => { event.preventDefault(); save(); } },
    h("div", { class: "field" }, h("label", { text: "Matchers" }), h("p", { class: "muted", text: "Alerts matching every matcher are silenced." }), matcherRows,
      h("button", { type: "button", class: "button small", testid: "add-matcher", text: "Add matcher", onclick: () => addMatcherRow() }), errorSlot("matchers")),
    h("div", { class: "times" }, field("Start", startsAt, "startsAt"), field("Duration", duration, "duration"), field("End", endsAt, "endsAt")),
    field("Creator", createdBy, "createdBy"),
    field("Comment", comment, "comment"),
    errorSlot("form"),
    h("div", { class: "actions" }, submit,
      h("button", { type: "button", class: "button", testid: "preview-alerts", text: "Preview alerts", onclick: () => showPreview() }),
      h("a", { class: "button", href: "#/silences", text: "Cancel" })),
    h("h2", { text: "Affected alerts" }),
    preview);
  root.append(title, form);

  async function showPreview() {
    clearErrors();
    const matchers = currentMatchers();
    if (matchers.length === 0) {
      errors.get("matchers").textContent = "Add at least one matcher";
      return;
    }
    try {
      const alerts = await api.alerts({ matchers: matchers.map(formatMatcher), silenced: true, inhibited: true });
      if (!disposed) replaceChildren(preview, previewList(alerts));
    } catch (error) {
      if (!disposed) showError(error.message);
    }
  }

  async function save() {
    clearErrors();
    const start = readTime(startsAt, "startsAt");
    const end = readTime(endsAt, "endsAt");
    if (!start || !end) return;
    const body = {
      matchers: currentMatchers().map(toApi),
      startsAt: start.toISOString(),
      endsAt: end.toISOString(),
      createdBy: createdBy.value,
      comment: comment.value,
    };
    if (editingId) body.id = editingId;
    submit.disabled = true;
    try {
      const result = await api.saveSilence(body);
      localStorage.setItem(CREATED_BY_KEY, createdBy.value);
      if (!disposed) navigate(`silences/${encodeURIComponent(result.silenceID)}`);
    } catch (error) {
      if (!disposed) showError(error.message);
    } finally {
      submit.disabled = false;
    }
  }

  const now = new Date();
  if (id) {
    submit.disabled = true;
    api.silence(id).then((silence) => {
      if (disposed) return;
      submit.disabled = false;
      silence.matchers.map(fromApi).forEach(addMatcherRow);
      comment.value = silence.comment;
      createdBy.value = silence.createdBy;
      if (silence.status.state === "expired") {
        // An expired silence cannot change: this creates a new one with the same length.
        editingId = "";
        title.textContent = "Recreate Silence";
        submit.textContent = "Create";
        setTimes(now, new Date(now.getTime() + Math.max(new Date(silence.endsAt) - new Date(silence.startsAt), DEFAULT_DURATION_MS / 2)));
      } else {
        setTimes(new Date(silence.startsAt), new Date(silence.endsAt));
      }
    }, (error) => {
      if (!disposed) errors.get("form").textContent = error.status === 404 ? "Silence not found" : error.message;
    });
  } else {
    try {
      const matchers = parseMatchers(params.get("filter") || "");
      matchers.forEach(addMatcherRow);
    } catch (error) {
      errors.get("matchers").textContent = error.message;
    }
    if (matcherRows.children.length === 0) addMatcherRow();
    comment.value = params.get("comment") || "";
    setTimes(now, new Date(now.getTime() + DEFAULT_DURATION_MS));
  }
  return () => {
    disposed = true;
  };
}

