"""The rules that watch tocsin: promtool accepts them, their unit tests pass, they use only
metrics that exist, and the Prometheus chart example is a valid Prometheus setup."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helm import CHART_RULES_FILE, REPO, RULES_FILE

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_TEST_FILE = PROMETHEUS_DIR / "tocsin.rules.test.yml"
CHART_VALUES_EXAMPLE = PROMETHEUS_DIR / "prometheus-chart-values.yaml"
PROMTOOL_TIMEOUT_S = 120

# Alertmanager 0.25's metric names the rules may use (reference document, section 9), and
# tocsin's own additions.
ALERTMANAGER_METRICS = frozenset({
    "alertmanager_config_last_reload_successful",
    "alertmanager_notifications_total",
    "alertmanager_notifications_failed_total",
    "alertmanager_cluster_members",
    "alertmanager_cluster_health_score",
    "alertmanager_cluster_failed_peers",
    "alertmanager_peer_position",
})
TOCSIN_METRICS = frozenset({"tocsin_storage_write_failures_total"})


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        from tests.conftest import require_binary

        require_binary(Path("/usr/bin/promtool"))
    return found or "promtool"


def _run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_S,
                          cwd=cwd, check=False)


@pytest.mark.parametrize("rules_file", [RULES_FILE, CHART_RULES_FILE], ids=["deploy", "chart-copy"])
def test_promtool_check_rules(rules_file: Path) -> None:
    checked = _run_promtool("check", "rules", str(rules_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 15 rules found" in checked.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    tested = _run_promtool("test", "rules", RULES_TEST_FILE.name, cwd=PROMETHEUS_DIR)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A rule that stops firing breaks the unit tests: raise the reload alert's delay."""
    broken = RULES_FILE.read_text().replace(
        "alertmanager_config_last_reload_successful{job=\"tocsin\"}[5m]) == 0\n        for: 10m",
        "alertmanager_config_last_reload_successful{job=\"tocsin\"}[5m]) == 0\n        for: 30m",
    )
    assert broken != RULES_FILE.read_text()
    (tmp_path / "tocsin.rules.yml").write_text(broken)
    shutil.copy(RULES_TEST_FILE, tmp_path / RULES_TEST_FILE.name)
    tested = _run_promtool("test", "rules", RULES_TEST_FILE.name, cwd=tmp_path)
    assert tested.returncode != 0
    assert "TocsinConfigReloadFailed" in tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_and_a_severity() -> None:
    rules = yaml.safe_load(RULES_FILE.read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULES_TEST_FILE.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert {a["alert"] for a in alerts} == tested
    assert all(a["labels"]["severity"] in {"warning", "critical"} for a in alerts)


def test_rules_use_only_existing_metric_names() -> None:
    rules = yaml.safe_load(RULES_FILE.read_text())
    expressions = " ".join(r["expr"] for g in rules["groups"] for r in g["rules"])
    used = set(re.findall(r"\b(?:alertmanager|tocsin)_[a-z_]+\b", expressions))
    assert used - ALERTMANAGER_METRICS - TOCSIN_METRICS == set()
    assert used >= {"alertmanager_cluster_members", "tocsin_storage_write_failures_total"}


def _prometheus_config_from_chart_values(values: dict[str, Any], rules_dir: Path) -> dict[str, Any]:
    """The prometheus.yml the prometheus chart would assemble from these values (the parts the
    example sets), with the rule paths pointed at this checkout."""
    # Only tocsin's rule files: the chart's own defaults do not exist outside its pod.
    tocsin_rules = "/etc/tocsin-rules/"
    rule_files = [
        str(rules_dir / path.removeprefix(tocsin_rules))
        for path in values["serverFiles"]["prometheus.yml"]["rule_files"]
        if path.startswith(tocsin_rules)
    ]
    return {
        "global": {"scrape_interval": "1m", "evaluation_interval": "1m"},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": values["server"]["alertmanagers"]},
        "scrape_configs": yaml.safe_load(values["extraScrapeConfigs"]),
    }


def test_prometheus_chart_example_is_a_valid_prometheus_config(tmp_path: Path) -> None:
    values = yaml.safe_load(CHART_VALUES_EXAMPLE.read_text())
    assert values["alertmanager"]["enabled"] is False
    mount = values["server"]["extraConfigmapMounts"][0]
    assert mount["mountPath"] == "/etc/tocsin-rules"
    assert "/etc/tocsin-rules/*.yml" in values["serverFiles"]["prometheus.yml"]["rule_files"]
    assert "/etc/tocsin-rules" in values["configmapReload"]["prometheus"]["extraVolumeDirs"]
    rules_dir = tmp_path / "tocsin-rules"
    rules_dir.mkdir()
    shutil.copy(RULES_FILE, rules_dir / "tocsin.rules.yml")
    config = _prometheus_config_from_chart_values(values, rules_dir)
    assert [job["job_name"] for job in config["scrape_configs"]] == ["tocsin"]
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    checked = _run_promtool("check", "config", str(config_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 15 rules found" in checked.stdout
