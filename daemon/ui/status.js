// Status: uptime, cluster (name, settle state, members), version, and the running config as
// the API returns it (secrets already replaced by "<secret>" on the server).

import * as api from "./api.js";
import { formatDuration, formatTime, h, replaceChildren } from "./dom.js";

const CLUSTER_STATE_HELP = {
  ready: "gossip has settled; notifications are sent",
  settling: "waiting for gossip to settle before sending notifications",
  disabled: "high availability is off (no --cluster.listen-address)",
};

export function renderStatus(root) {
  let disposed = false;
  const body = h("div", { testid: "status" }, h("p", { class: "muted", text: "Loading…" }));
  root.append(h("h1", { text: "Status" }), body);
  api.status().then((status) => {
    if (disposed) return;
    const row = (name, value, testid) => h("tr", {}, h("th", { text: name }), h("td", { testid }, value));
    const cluster = status.cluster || { status: "disabled", peers: [] };
    const version = status.versionInfo || {};
    replaceChildren(body,
      h("table", { class: "details" },
        row("Uptime", `${formatTime(status.uptime)} (${formatDuration(Date.now() - new Date(status.uptime).getTime())})`, "uptime")),
      h("h2", { text: "Cluster" }),
      h("table", { class: "details" },
        row("Name", cluster.name || "—", "cluster-name"),
        row("Status", h("span", { class: `state ${cluster.status}`, title: CLUSTER_STATE_HELP[cluster.status] || "", text: cluster.status }), "cluster-status")),
      cluster.peers.length > 0 &&
        h("table", { class: "list", testid: "cluster-peers" },
          h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Address" }))),
          h("tbody", {}, cluster.peers.map((peer) => h("tr", { class: peer.name === cluster.name ? "self" : "" }, h("td", { text: peer.name }), h("td", { text: peer.address }))))),
      h("h2", { text: "Version" }),
      h("table", { class: "details", testid: "version" }, Object.entries(version).map(([name, value]) => row(name, value))),
      h("h2", { text: "Config" }),
      h("pre", { class: "config", testid: "config" }, (status.config && status.config.original) || ""));
  }, (error) => {
    if (!disposed) replaceChildren(body, h("p", { class: "field-error", text: error.message }));
  });
  return () => {
    disposed = true;
  };
}
