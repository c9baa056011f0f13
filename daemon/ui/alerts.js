// The alert list: groups exactly as GET /api/v2/alerts/groups returns them (receiver and
// group labels), filtered with amtool's matcher syntax.
//
// Staying responsive with 10,000 alerts: the response is parsed once per refresh, but only
// one page of groups is put in the DOM, and inside a group only the first batch of alerts
// until the user asks for more. The DOM therefore holds at most
// GROUPS_PER_PAGE × ALERTS_PER_BATCH rows, whatever the alert count.

import * as api from "./api.js";
import { formatRelative, formatTime, h, navigate, replaceChildren, safeHref } from "./dom.js";
import { MatcherSyntaxError, formatMatcher, formatMatchers, fromLabels, parseMatchers } from "./matchers.js";

const GROUPS_PER_PAGE = 50;
const ALERTS_PER_BATCH = 25;
// Alertmanager evaluates groups every few seconds at most; refreshing faster only costs CPU.
const REFRESH_INTERVAL_MS = 10000;
const AUTO_REFRESH_KEY = "tocsin.autoRefresh";

export function silenceLink(matchers) {
  return `#/silences/new?${new URLSearchParams({ filter: formatMatchers(matchers) })}`;
}

function groupKey(group) {
  return `${group.receiver.name}\u0000${JSON.stringify(fromLabels(group.labels))}`;
}

export function renderAlerts(root, params) {
  const state = {
    filter: params.get("filter") || "",
    silenced: params.get("silenced") === "true",
    inhibited: params.get("inhibited") === "true",
    active: params.get("active") !== "false",
    receiver: params.get("receiver") || "",
    page: Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1),
    autoRefresh: localStorage.getItem(AUTO_REFRESH_KEY) !== "false",
  };
  const shownPerGroup = new Map();
  let groups = [];
  let loading = false;
  let disposed = false;

  const apply = (changes = {}) => {
    const next = { ...state, page: 1, ...changes };
    navigate("alerts", {
      filter: next.filter.trim(),
      silenced: next.silenced ? "true" : "",
      inhibited: next.inhibited ? "true" : "",
      active: next.active ? "" : "false",
      receiver: next.receiver,
      page: next.page > 1 ? next.page : "",
    });
  };

  const filterInput = h("input", {
    type: "search",
    class: "filter-input",
    placeholder: 'Filter alerts, e.g. {alertname="Down", severity=~"crit.*"}',
    value: state.filter,
    testid: "filter-input",
    "aria-label": "Filter",
  });
  const filterError = h("div", { class: "field-error", testid: "filter-error", role: "alert" });
  const receiverSelect = h("select", { testid: "receiver-select", "aria-label": "Receiver", onchange: () => apply({ filter: filterInput.value, receiver: receiverSelect.value }) }, h("option", { value: "", text: "All receivers" }));
  const toggle = (label, key, testid) =>
    h("label", { class: "toggle" }, h("input", { type: "checkbox", checked: state[key], testid, onchange: (event) => apply({ filter: filterInput.value, [key]: event.target.checked }) }), label);
  const refreshToggle = h("input", {
    type: "checkbox",
    checked: state.autoRefresh,
    testid: "auto-refresh",
    onchange: (event) => {
      state.autoRefresh = event.target.checked;
      localStorage.setItem(AUTO_REFRESH_KEY, String(state.autoRefresh));
    },
  });
  const summary = h("span", { class: "muted", testid: "alerts-summary" });
  const groupsContainer = h("div", { class: "groups", testid: "alert-groups" });
  const pager = h("nav", { class: "pager", testid: "pager" });

  root.append(
    h(
      "form",
      { class: "toolbar", onsubmit: (event) => { event.preventDefault(); apply({ filter: filterInput.value }); } },
      h("div", { class: "filter-row" }, filterInput, h("button", { type: "submit", class: "button", testid: "filter-apply", text: "Apply" }),
        h("a", { class: "button", testid: "silence-filter", title: "Silence the alerts this filter shows", href: "#", onclick: (event) => {
          event.preventDefault();
          try {
            const matchers = parseMatchers(filterInput.value);
            location.hash = silenceLink(matchers);
          } catch (error) {
            filterError.textContent = error.message;
          }
        } }, "Silence")),
      filterError,
      h("div", { class: "options" }, receiverSelect, toggle("Silenced", "silenced", "toggle-silenced"), toggle("Inhibited", "inhibited", "toggle-inhibited"), toggle("Active", "active", "toggle-active"),
        h("label", { class: "toggle" }, refreshToggle, "Auto-refresh"), h("button", { type: "button", class: "button small", text: "Refresh", testid: "refresh", onclick: () => load() }), summary),
    ),
    groupsContainer,
    pager,
  );

  let filterMatchers = [];
  try {
    filterMatchers = parseMatchers(state.filter).map(formatMatcher);
  } catch (error) {
    if (!(error instanceof MatcherSyntaxError)) throw error;
    filterError.textContent = error.message;
    filterMatchers = null;
  }

  api.receivers().then(
    (list) => {
      const names = [...new Set(list.map((receiver) => receiver.name))];
      for (const name of names) receiverSelect.append(h("option", { value: `${name}`, text: name }));
      if (state.receiver && !names.includes(state.receiver)) receiverSelect.append(h("option", { value: state.receiver, text: state.receiver }));
      receiverSelect.value = state.receiver;
    },
    () => {},
  );

  const addToFilter = (name, value) => {
    let current = [];
    try {
      current = parseMatchers(filterInput.value);
    } catch {
      current = [];
    }
    if (!current.some((matcher) => matcher.name === name && matcher.operator === "=" && matcher.value === value)) {
      current.push({ name, operator: "=", value });
    }
    apply({ filter: formatMatchers(current) });
  };

  const labelChip = (name, value) =>
    h("button", { type: "button", class: "label", title: "Add to the filter", onclick: () => addToFilter(name, value), "data-label": name }, `${name}="${value}"`);

  const alertRow = (alert) => {
    const tags = [];
    for (const id of alert.status.silencedBy || []) {
      tags.push(h("a", { class: "tag silenced", href: `#/silences/${encodeURIComponent(id)}`, testid: "silenced-by", title: id }, "Silenced"));
    }
    if ((alert.status.inhibitedBy || []).length) tags.push(h("span", { class: "tag inhibited", testid: "inhibited" }, "Inhibited"));
    const annotations = Object.entries(alert.annotations || {});
    const source = safeHref(alert.generatorURL);
    return h(
      "li",
      { class: "alert", testid: "alert", "data-fingerprint": alert.fingerprint },
      h("div", { class: "alert-head" },
        h("span", { class: "time", title: formatTime(alert.startsAt) }, formatRelative(alert.startsAt)),
        tags,
        h("a", { class: "button small", href: silenceLink(fromLabels(alert.labels)), testid: "silence-alert", text: "Silence" }),
        source && h("a", { class: "button small", href: source, target: "_blank", rel: "noopener noreferrer", text: "Source" }),
      ),
      h("div", { class: "labels" }, Object.keys(alert.labels).sort().map((name) => labelChip(name, alert.labels[name]))),
      annotations.length > 0 &&
        h("details", { class: "annotations" }, h("summary", { text: "Info" }),
          h("dl", {}, annotations.map(([name, value]) => [h("dt", { text: name }), h("dd", { text: value })]))),
    );
  };

  const groupSection = (group) => {
    const key = groupKey(group);
    const shown = shownPerGroup.get(key) || ALERTS_PER_BATCH;
    const list = h("ul", { class: "alerts" }, group.alerts.slice(0, shown).map(alertRow));
    const remaining = group.alerts.length - shown;
    const groupMatchers = fromLabels(group.labels);
    return h(
      "section",
      { class: "group", testid: "alert-group" },
      h("header", { class: "group-head" },
        h("span", { class: "receiver", title: "Receiver" }, group.receiver.name),
        groupMatchers.length ? groupMatchers.map((matcher) => labelChip(matcher.name, matcher.value)) : h("span", { class: "muted", text: "(not grouped)" }),
        h("span", { class: "count", text: `${group.alerts.length} alert${group.alerts.length === 1 ? "" : "s"}` }),
        groupMatchers.length > 0 && h("a", { class: "button small", href: silenceLink(groupMatchers), text: "Silence group" }),
      ),
      list,
      remaining > 0 &&
        h("button", { type: "button", class: "button small more", testid: "show-more", onclick: () => { shownPerGroup.set(key, shown + ALERTS_PER_BATCH * 4); render(); } },
          `Show ${Math.min(remaining, ALERTS_PER_BATCH * 4)} more of ${remaining}`),
    );
  };

  const render = () => {
    const pages = Math.max(1, Math.ceil(groups.length / GROUPS_PER_PAGE));
    const page = Math.min(state.page, pages);
    const visible = groups.slice((page - 1) * GROUPS_PER_PAGE, page * GROUPS_PER_PAGE);
    const total = groups.reduce((sum, group) => sum + group.alerts.length, 0);
    summary.textContent = `${total} alert${total === 1 ? "" : "s"} in ${groups.length} group${groups.length === 1 ? "" : "s"}, updated ${new Date().toLocaleTimeString()}`;
    replaceChildren(groupsContainer, visible.length ? visible.map(groupSection) : h("p", { class: "empty", testid: "no-alerts", text: "No alerts" }));
    replaceChildren(
      pager,
      pages > 1 && [
        h("button", { type: "button", class: "button small", disabled: page <= 1, testid: "page-previous", onclick: () => apply({ filter: state.filter, page: page - 1 }), text: "Previous" }),
        h("span", { testid: "page-info", text: ` page ${page} of ${pages} ` }),
        h("button", { type: "button", class: "button small", disabled: page >= pages, testid: "page-next", onclick: () => apply({ filter: state.filter, page: page + 1 }), text: "Next" }),
      ],
    );
  };

  async function load() {
    if (filterMatchers === null || loading || disposed) return;
    loading = true;
    try {
      groups = await api.alertGroups({ matchers: filterMatchers, silenced: state.silenced, inhibited: state.inhibited, active: state.active, receiver: state.receiver });
      if (disposed) return;
      filterError.textContent = "";
      render();
    } catch (error) {
      if (!disposed) filterError.textContent = error.message;
    } finally {
      loading = false;
    }
  }

  load();
  const timer = setInterval(() => {
    if (state.autoRefresh && !document.hidden) load();
  }, REFRESH_INTERVAL_MS);
  return () => {
    disposed = true;
    clearInterval(timer);
  };
}
