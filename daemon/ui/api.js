// The only place that talks to the server: Alertmanager's API v2, relative to <base href>.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function apiURL(path, query) {
  const url = new URL(`api/v2/${path}`, document.baseURI);
  // A page opened with credentials in its URL (user:pass@host) keeps them in its base URL; fetch()
  // refuses such URLs; without them the browser sends the Basic credentials it already holds.
  url.username = "";
  url.password = "";
  for (const [name, value] of query) url.searchParams.append(name, value);
  return url;
}

async function call(method, path, { query = [], body } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(apiURL(path, query), init);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    // Handler errors are a JSON string; go-openapi's are {"code": N, "message": "..."}.
    const message =
      typeof data === "string" && data ? data.trim() : data && data.message ? data.message : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

function filterQuery(matchers) {
  return matchers.map((text) => ["filter", text]);
}

export function alertGroups({ matchers = [], silenced = true, inhibited = true, active = true, receiver = "" }) {
  const query = [...filterQuery(matchers), ["silenced", String(silenced)], ["inhibited", String(inhibited)], ["active", String(active)]];
  if (receiver) query.push(["receiver", receiver]);
  return call("GET", "alerts/groups", { query });
}

export function alerts({ matchers = [], silenced = true, inhibited = true }) {
  return call("GET", "alerts", { query: [...filterQuery(matchers), ["silenced", String(silenced)], ["inhibited", String(inhibited)]] });
}

export const receivers = () => call("GET", "receivers");
export const status = () => call("GET", "status");
export const silences = (matchers = []) => call("GET", "silences", { query: filterQuery(matchers) });
export const silence = (id) => call("GET", `silence/${encodeURIComponent(id)}`);
export const saveSilence = (body) => call("POST", "silences", { body });
export const expireSilence = (id) => call("DELETE", `silence/${encodeURIComponent(id)}`);
