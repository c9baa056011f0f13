"""End-to-end UI tests in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium) against a real tocsin process: load alerts, filter them, create a silence
from an alert, see it suppress the alert, expire it; validation errors appear next to their
field; 10,000 alerts stay usable. Screenshots of every step go to `test-artifacts/ui/`."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_binary
from tests.helpers.processes import REPO_ROOT, DaemonProcess

pytestmark = [pytest.mark.process]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
# Page loads and API round trips on loopback take milliseconds; a shared 2-core CI box can be
# slow to start Chromium, so waits are generous but bounded.
WAIT_SECONDS = 20.0
# 10,000 alerts must be shown (first page) within this, parse and render included.
LARGE_LIST_RENDER_SECONDS = 15.0
LARGE_ALERT_COUNT = 10_000
# Alerts are posted in batches of this size, like Prometheus does (it sends at most 64 by
# default; larger batches only make setup faster).
POST_BATCH_SIZE = 2000
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1300,1000",
)

CONFIG = """\
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: database
      matchers: [team="db"]
receivers:
  - name: default
  - name: database
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_binary(CHROMIUM)
    require_binary(CHROMEDRIVER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tocsin-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The TLS test serves a certificate from a throw-away test CA that Chromium cannot know.
    options.set_capability("acceptInsecureCerts", True)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def tocsin(daemon_factory: Any) -> DaemonProcess:
    daemon: DaemonProcess = daemon_factory("tocsin", CONFIG)
    return daemon


@pytest.fixture
def shot(browser: Any, request: pytest.FixtureRequest) -> Callable[[str], None]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prefix = request.node.name
    browser.get_log("browser")  # the browser is shared: drop what earlier tests logged

    def save(step: str) -> None:
        browser.save_screenshot(str(ARTIFACTS / f"{prefix}-{step}.png"))

    return save


def post_alerts(daemon: DaemonProcess, alerts: list[dict[str, Any]]) -> None:
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(alerts), POST_BATCH_SIZE):
            response = client.post(f"{daemon.base_url}/api/v2/alerts", json=alerts[start : start + POST_BATCH_SIZE])
            assert response.status_code == 200, response.text


def by_testid(driver: Any, testid: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]'))


def wait_for(driver: Any, condition: Callable[[], Any], what: str) -> Any:
    """Poll a condition in the page (Selenium's own wait, bounded); fail with the page text."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def check(_: Any) -> Any:
        try:
            return condition()
        except (StaleElementReferenceException, IndexError):
            return False  # the view is re-rendering: elements vanish between lookups

    try:
        return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(check)
    except TimeoutException:
        main = driver.find_element("id", "main").text
        raise AssertionError(f"timed out waiting for {what}; page shows:\n{main[:2000]}") from None


def shown_alerts(driver: Any) -> list[str]:
    """The label chips of each alert row on the page, as one string per alert."""
    return sorted(row.find_element("css selector", ".labels").text.replace("\n", " ") for row in by_testid(driver, "alert"))


def no_console_errors(driver: Any) -> None:
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors


def open_page(driver: Any, daemon: DaemonProcess, route: str) -> None:
    driver.get(f"{daemon.base_url}/{route}")


def test_filter_silence_from_an_alert_see_it_suppress_then_expire(
    browser: Any, tocsin: DaemonProcess, shot: Callable[[str], None]
) -> None:
    post_alerts(tocsin, [
        {"labels": {"alertname": "Down", "instance": "db-1", "team": "db"}, "annotations": {"summary": "<b>db-1</b> is down"}},
        {"labels": {"alertname": "Down", "instance": "web-1"}},
        {"labels": {"alertname": "DiskFull", "instance": "web-1"}},
    ])
    open_page(browser, tocsin, "#/alerts")
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 3, "three alerts")
    groups = [group.find_element("css selector", ".group-head").text for group in by_testid(browser, "alert-group")]
    assert len(groups) == 3
    assert any(text.startswith("database") for text in groups)
    # The annotation is text, not markup.
    assert "<b>db-1</b> is down" in browser.page_source.replace("&lt;", "<").replace("&gt;", ">")
    assert browser.find_elements("css selector", "details.annotations b") == []
    shot("1-alerts")

    filter_input = by_testid(browser, "filter-input")[0]
    filter_input.send_keys('alertname="Down"\n')
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 2, "the two Down alerts")
    assert shown_alerts(browser) == ['alertname="Down" instance="db-1" team="db"', 'alertname="Down" instance="web-1"']
    assert "filter=" in browser.current_url
    shot("2-filtered")

    row = next(row for row in by_testid(browser, "alert") if "db-1" in row.text)
    row.find_element("css selector", '[data-testid="silence-alert"]').click()
    wait_for(browser, lambda: by_testid(browser, "silence-form"), "the silence form")
    prefilled = [
        (by_testid(browser, f"matcher-name-{index}")[0].get_attribute("value"),
         by_testid(browser, f"matcher-value-{index}")[0].get_attribute("value"))
        for index in range(3)
    ]
    assert prefilled == [("alertname", "Down"), ("instance", "db-1"), ("team", "db")]
    by_testid(browser, "silence-created-by")[0].send_keys("browser-test")
    by_testid(browser, "silence-comment")[0].send_keys("maintenance of db-1")
    by_testid(browser, "preview-alerts")[0].click()
    wait_for(browser, lambda: by_testid(browser, "affected-count"), "the preview")
    assert by_testid(browser, "affected-count")[0].text == "1 alert affected"
    shot("3-silence-form")
    by_testid(browser, "silence-submit")[0].click()
    wait_for(browser, lambda: by_testid(browser, "silence-state"), "the created silence")
    assert by_testid(browser, "silence-state")[0].text == "active"
    silence_id = browser.current_url.rsplit("/", 1)[1]
    wait_for(browser, lambda: by_testid(browser, "affected-count"), "affected alerts")
    shot("4-silence-created")

    with httpx.Client() as client:
        silence = client.get(f"{tocsin.base_url}/api/v2/silence/{silence_id}").json()
    assert (silence["createdBy"], silence["comment"]) == ("browser-test", "maintenance of db-1")
    assert sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]) == [
        ("alertname", "Down", False, True), ("instance", "db-1", False, True), ("team", "db", False, True)
    ]

    # Silenced alerts are hidden by default, as in Alertmanager's UI, and shown on request.
    open_page(browser, tocsin, "#/alerts")
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 2, "the two unsilenced alerts")
    assert all("db-1" not in text for text in shown_alerts(browser))
    by_testid(browser, "toggle-silenced")[0].click()
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 3, "all three alerts")
    assert len(by_testid(browser, "silenced-by")) == 1
    assert by_testid(browser, "silenced-by")[0].get_attribute("title") == silence_id
    shot("5-suppressed")

    open_page(browser, tocsin, "#/silences")
    wait_for(browser, lambda: len(by_testid(browser, "silence")) == 1, "the active silence")
    by_testid(browser, "expire-silence")[0].click()
    wait_for(browser, lambda: not by_testid(browser, "silence"), "the active list to empty")
    assert by_testid(browser, "tab-expired")[0].text == "Expired 1"
    shot("6-expired")
    open_page(browser, tocsin, "#/alerts")
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 3, "the alert back after the expiry")
    assert by_testid(browser, "silenced-by") == []
    no_console_errors(browser)


def test_api_validation_errors_appear_next_to_their_field(
    browser: Any, tocsin: DaemonProcess, shot: Callable[[str], None]
) -> None:
    open_page(browser, tocsin, "#/silences/new?filter=" + "%7Bjob%3D%22a%22%2C%20a%3Ab%3D%22x%22%7D")
    wait_for(browser, lambda: by_testid(browser, "matcher-name-1"), "two prefilled matchers")
    by_testid(browser, "silence-submit")[0].click()
    error = wait_for(browser, lambda: by_testid(browser, "error-matcher-1")[0].text, "the matcher error")
    assert error == 'silence invalid: invalid label matcher 1: invalid label name "a:b"'
    assert by_testid(browser, "error-form")[0].text == ""
    shot("1-matcher-error")

    by_testid(browser, "matcher-name-1")[0].clear()
    by_testid(browser, "matcher-name-1")[0].send_keys("env")
    ends = by_testid(browser, "silence-ends")[0]
    ends.clear()
    ends.send_keys("2001-01-01T00:00:00Z")
    by_testid(browser, "silence-submit")[0].click()
    error = wait_for(browser, lambda: by_testid(browser, "error-endsAt")[0].text, "the end time error")
    assert error == "Failed to create silence: start time must be before end time"
    assert by_testid(browser, "error-matcher-1")[0].text == ""
    shot("2-time-error")

    ends.clear()
    ends.send_keys("not a time")
    by_testid(browser, "silence-submit")[0].click()
    assert "is not a valid time" in wait_for(browser, lambda: by_testid(browser, "error-endsAt")[0].text, "the local error")

    open_page(browser, tocsin, "#/alerts?filter=" + "%7Bjob%3D~%22(%22%7D")
    message = wait_for(browser, lambda: by_testid(browser, "filter-error")[0].text, "the filter error")
    assert "error parsing regexp" in message, message
    shot("3-filter-error")


def test_status_page_shows_cluster_version_and_config(
    browser: Any, tocsin: DaemonProcess, shot: Callable[[str], None]
) -> None:
    open_page(browser, tocsin, "#/status")
    wait_for(browser, lambda: by_testid(browser, "config"), "the status page")
    assert by_testid(browser, "cluster-status")[0].text == "disabled"
    assert "receiver: default" in by_testid(browser, "config")[0].text
    assert "version 0.25.0" in by_testid(browser, "version")[0].text
    shot("status")
    no_console_errors(browser)


def test_ten_thousand_alerts_render_one_page_quickly(
    browser: Any, tocsin: DaemonProcess, shot: Callable[[str], None]
) -> None:
    alerts = [
        {"labels": {"alertname": f"Alert{index % 200:03d}", "instance": f"host-{index:05d}"}}
        for index in range(LARGE_ALERT_COUNT)
    ]
    post_alerts(tocsin, alerts)
    started = time.monotonic()
    open_page(browser, tocsin, "#/alerts")
    wait_for(browser, lambda: by_testid(browser, "alerts-summary")[0].text.startswith(f"{LARGE_ALERT_COUNT} alerts"), "10,000 alerts")
    elapsed = time.monotonic() - started
    assert elapsed < LARGE_LIST_RENDER_SECONDS
    # One page of groups, each cut to a first batch: the DOM stays small.
    assert len(by_testid(browser, "alert-group")) == 50
    assert len(by_testid(browser, "alert")) == 50 * 25
    assert by_testid(browser, "page-info")[0].text == "page 1 of 4"
    by_testid(browser, "show-more")[0].click()
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 50 * 25 + 25, "the rest of the first group")
    by_testid(browser, "page-next")[0].click()
    wait_for(browser, lambda: by_testid(browser, "page-info")[0].text == "page 2 of 4", "the second page")
    assert 'alertname="Alert050"' in by_testid(browser, "alert-group")[0].text
    shot("10000-alerts")
    no_console_errors(browser)


# Filters as users type them in the UI or pass them to amtool.
FILTER_CORPUS = [
    '{alertname="Down"}',
    "alertname=Down",
    '{a="b", c=~"d.*"}',
    '{a="b",c=~"d.*",}',
    'a!="x,y"',
    'foo=~"a\\"b"',
    '{a="b\\nc"}',
    'job="a b"',
    "a=b,c!=d",
    '{env!~"prod|stage"}',
    '{a="x\\\\y"}',
    'a=""',
    'instance=~".+:9100"',
    '{severity="critical", team=~"db|web", env!="dev"}',
]


def test_filter_parser_in_the_page_agrees_with_the_servers(browser: Any, tocsin: DaemonProcess) -> None:
    """The page parses the filter and sends each matcher back quoted; the server must read
    back exactly what the user meant, as Alertmanager's own parser reads the same text."""
    from daemon.matchers import parse_matcher, parse_matchers

    open_page(browser, tocsin, "#/status")
    wait_for(browser, lambda: by_testid(browser, "status"), "the page")
    parsed = browser.execute_async_script(
        """
        const [inputs, done] = arguments;
        import(new URL("lib/matchers.js", document.baseURI).href).then((module) => done(inputs.map((text) => {
          const matchers = module.parseMatchers(text);
          return matchers.map((matcher) => [matcher.name, matcher.operator, matcher.value, module.formatMatcher(matcher)]);
        })));
        """,
        FILTER_CORPUS,
    )
    for text, from_page in zip(FILTER_CORPUS, parsed, strict=True):
        expected = [(matcher.name, matcher.type.value, matcher.value) for matcher in parse_matchers(text)]
        assert [tuple(item[:3]) for item in from_page] == expected, text
        for name, operator, value, sent in from_page:
            echoed = parse_matcher(sent)
            assert (echoed.name, echoed.type.value, echoed.value) == (name, operator, value), sent


def launch_and_wait(kind_args: list[str], workdir: Path, ready_url: Callable[[DaemonProcess], str], **client: Any) -> DaemonProcess:
    """Start tocsin with extra flags and poll a readiness URL of our choosing (the shared
    helper polls `/-/ready` over plain HTTP at the root, which a prefix or TLS moves)."""
    from tests.conftest import require_tocsin

    require_tocsin()
    process = DaemonProcess.launch("tocsin", CONFIG, workdir, extra_args=kind_args)
    deadline = time.monotonic() + WAIT_SECONDS
    with httpx.Client(timeout=5, **client) as http:
        while True:
            assert process.is_running(), process.log_tail()
            try:
                if http.get(ready_url(process)).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, process.log_tail()
            time.sleep(0.05)


def test_ui_works_under_a_route_prefix(browser: Any, tmp_path: Path, shot: Callable[[str], None]) -> None:
    process = launch_and_wait(["--web.route-prefix=/monitoring/am"], tmp_path / "prefixed",
                              lambda daemon: f"{daemon.base_url}/monitoring/am/-/ready")
    try:
        with httpx.Client(timeout=5) as client:
            client.post(f"{process.base_url}/monitoring/am/api/v2/alerts",
                        json=[{"labels": {"alertname": "Prefixed"}}]).raise_for_status()
        browser.get(f"{process.base_url}/monitoring/am#/alerts")
        wait_for(browser, lambda: len(by_testid(browser, "alert")) == 1, "the alert under the prefix")
        assert shown_alerts(browser) == ['alertname="Prefixed"']
        shot("prefix")
        no_console_errors(browser)
    finally:
        process.stop()


def test_ui_over_tls_with_basic_auth(browser: Any, tmp_path: Path, shot: Callable[[str], None]) -> None:
    import bcrypt
    import trustme

    authority = trustme.CA()
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    password_hash = bcrypt.hashpw(b"ui-secret", bcrypt.gensalt(4)).decode()
    web_config = tmp_path / "web.yml"
    web_config.write_text(
        f"tls_server_config:\n  cert_file: server.pem\n  key_file: server.pem\nbasic_auth_users:\n  ops: {password_hash}\n"
    )
    process = launch_and_wait(
        [f"--web.config.file={web_config}"], tmp_path / "secured",
        lambda daemon: f"https://127.0.0.1:{daemon.port}/-/ready",
        verify=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")), auth=("ops", "ui-secret"),
    )
    try:
        trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(timeout=5, verify=trusting, auth=("ops", "ui-secret")) as client:
            client.post(f"https://127.0.0.1:{process.port}/api/v2/alerts",
                        json=[{"labels": {"alertname": "Secured"}}]).raise_for_status()
        # The test CA is not in Chromium's store: this session accepts it (see `browser`).
        browser.get(f"https://ops:ui-secret@127.0.0.1:{process.port}/#/alerts")
        wait_for(browser, lambda: len(by_testid(browser, "alert")) == 1, "the alert behind TLS and basic auth")
        assert shown_alerts(browser) == ['alertname="Secured"']
        shot("tls-basic-auth")
        no_console_errors(browser)
    finally:
        process.stop()


def test_alert_list_refreshes_itself(browser: Any, tocsin: DaemonProcess) -> None:
    post_alerts(tocsin, [{"labels": {"alertname": "First"}}])
    open_page(browser, tocsin, "#/alerts")
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 1, "the first alert")
    browser.execute_script("window.notReloaded = true")
    post_alerts(tocsin, [{"labels": {"alertname": "Second"}}])
    wait_for(browser, lambda: len(by_testid(browser, "alert")) == 2, "the second alert without a reload")
    assert browser.execute_script("return window.notReloaded") is True


def test_edit_a_silence(browser: Any, tocsin: DaemonProcess, shot: Callable[[str], None]) -> None:
    with httpx.Client(timeout=5) as client:
        created = client.post(f"{tocsin.base_url}/api/v2/silences", json={
            "matchers": [{"name": "job", "value": "node", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2999-01-01T00:00:00Z",
            "createdBy": "someone", "comment": "before",
        }).json()["silenceID"]
    open_page(browser, tocsin, f"#/silences/{created}/edit")
    wait_for(browser, lambda: by_testid(browser, "matcher-value-0")[0].get_attribute("value") == "node", "the loaded silence")
    assert by_testid(browser, "silence-submit")[0].text == "Update"
    operator = by_testid(browser, "matcher-operator-0")[0]
    from selenium.webdriver.support.ui import Select

    Select(operator).select_by_value("=~")
    value = by_testid(browser, "matcher-value-0")[0]
    value.clear()
    value.send_keys("node|blackbox")
    comment = by_testid(browser, "silence-comment")[0]
    comment.clear()
    comment.send_keys("after")
    by_testid(browser, "silence-submit")[0].click()
    wait_for(browser, lambda: by_testid(browser, "silence-state"), "the updated silence")
    shot("edited")
    updated_id = browser.current_url.rsplit("/", 1)[1]
    with httpx.Client(timeout=5) as client:
        updated = client.get(f"{tocsin.base_url}/api/v2/silence/{updated_id}").json()
    assert updated["comment"] == "after"
    assert updated["matchers"] == [{"name": "job", "value": "node|blackbox", "isRegex": True, "isEqual": True}]
