"""The UI files are package data served from memory under the route prefix."""

from __future__ import annotations

import re
from importlib import resources

from daemon.api.server import Request, WebOptions
from daemon.ui import LIBRARY_FILES, load_assets
from tests.unit.test_api import Fixture, application


async def test_index_is_served_at_the_prefix_with_a_base_href_for_relative_urls() -> None:
    app = application(Fixture(), route_prefix="/am/")
    index = await app.handle(Request("GET", "/am", {}, {}))
    assert index.status == 200
    assert index.content_type == "text/html; charset=utf-8"
    assert b'<base href="/am/">' in index.body
    headers = dict(index.headers)
    assert headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    script = await app.handle(Request("GET", "/am/lib/main.js", {}, {}))
    assert (script.status, script.content_type) == (200, "text/javascript; charset=utf-8")
    head = await app.handle(Request("HEAD", "/am/lib/style.css", {}, {}))
    assert (head.status, head.content_type) == (200, "text/css; charset=utf-8")
    assert (await app.handle(Request("POST", "/am/", {}, {}))).status == 405
    assert (await app.handle(Request("GET", "/am/lib/nope.js", {}, {}))).status == 404
    assert (await app.handle(Request("GET", "/am/lib/../webconfig.py", {}, {}))).status == 404


def test_every_imported_module_is_shipped_and_no_external_url_is_used() -> None:
    """A module the scripts import but the server does not list would break the page with a
    404 that no Python test notices; a CDN URL would break it on an air-gapped network."""
    package = resources.files("daemon.ui")
    shipped = set(LIBRARY_FILES)
    for name in shipped:
        text = package.joinpath(name).read_text("utf-8")
        for imported in re.findall(r'from "\./([^"]+)"', text):
            assert imported in shipped, f"{name} imports {imported}, which is not served"
        assert not re.search(r"https?://(?!/)[a-z]", re.sub(r"/\^https\?:\\/\\/", "", text)), name
        assert ".innerHTML" not in text, f"{name} must build DOM nodes, not markup"
    index = package.joinpath("index.html").read_text("utf-8")
    for referenced in re.findall(r'(?:src|href)="lib/([^"]+)"', index):
        assert referenced in shipped


def test_base_href_is_escaped() -> None:
    assets = load_assets('/a"b')
    assert b'<base href="/a&quot;b/">' in assets["/"].body
    assert WebOptions().route_prefix == "/"
