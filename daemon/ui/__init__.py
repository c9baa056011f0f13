"""The web UI: plain HTML, CSS and ES modules shipped as package data, served as they are
(no build step, no CDN, so it works on an air-gapped network).

The files live flat in this package so `pyproject.toml`'s package-data globs ship them.
`load_assets()` reads them once; the router serves them from memory under the route prefix.
The page takes its base URL from a `<base href>` filled in with the route prefix at load
time, so every asset and API URL in the scripts is relative and the UI works behind a prefix.
"""

from __future__ import annotations

import dataclasses
from importlib import resources

# The one placeholder in index.html, replaced by "<prefix>/" when the assets are loaded.
BASE_HREF_PLACEHOLDER = "{{BASE_HREF}}"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
INDEX_FILE = "index.html"
# Served under `<prefix>/lib/`, as Alertmanager serves its UI libraries.
LIBRARY_FILES = (
    "style.css",
    "main.js",
    "api.js",
    "dom.js",
    "matchers.js",
    "alerts.js",
    "silences.js",
    "status.js",
)


@dataclasses.dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def _content_type(name: str) -> str:
    return CONTENT_TYPES[name[name.rindex(".") :]]


def load_assets(route_prefix: str) -> dict[str, Asset]:
    """Every UI file by the path it is served at, relative to the route prefix."""
    package = resources.files(__name__)
    base_href = route_prefix.rstrip("/") + "/"
    index = package.joinpath(INDEX_FILE).read_text("utf-8").replace(BASE_HREF_PLACEHOLDER, _attribute(base_href))
    assets = {"/": Asset(index.encode(), _content_type(INDEX_FILE))}
    for name in LIBRARY_FILES:
        assets[f"/lib/{name}"] = Asset(package.joinpath(name).read_bytes(), _content_type(name))
    return assets


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
