// Hash router with the routes of Alertmanager's own UI, so bookmarks and links that other
// tools (Grafana, karma, chat messages) build keep working:
//   #/alerts?filter=&silenced=&inhibited=&active=&receiver=
//   #/silences?filter=   #/silences/new?filter=&comment=   #/silences/{id}   #/silences/{id}/edit
//   #/status

import { renderAlerts } from "./alerts.js";
import { renderSilenceDetail, renderSilenceForm, renderSilenceList } from "./silences.js";
import { renderStatus } from "./status.js";

let disposeCurrentView = null;

export function parseHash(hash) {
  const text = hash.startsWith("#") ? hash.slice(1) : hash;
  const queryStart = text.indexOf("?");
  const path = queryStart < 0 ? text : text.slice(0, queryStart);
  const query = queryStart < 0 ? "" : text.slice(queryStart + 1);
  return { segments: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

function highlightNavigation(section) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === section);
  }
}

function route() {
  if (disposeCurrentView) disposeCurrentView();
  disposeCurrentView = null;
  const { segments, params } = parseHash(location.hash || "#/alerts");
  const main = document.getElementById("main");
  main.textContent = "";
  const [section, id, action] = segments;
  highlightNavigation(section);
  if (section === "alerts") disposeCurrentView = renderAlerts(main, params);
  else if (section === "silences" && id === "new") disposeCurrentView = renderSilenceForm(main, { params });
  else if (section === "silences" && id && action === "edit") disposeCurrentView = renderSilenceForm(main, { id, params });
  else if (section === "silences" && id) disposeCurrentView = renderSilenceDetail(main, id);
  else if (section === "silences") disposeCurrentView = renderSilenceList(main, params);
  else if (section === "status") disposeCurrentView = renderStatus(main);
  else location.hash = "#/alerts";
}

window.addEventListener("hashchange", route);
route();
