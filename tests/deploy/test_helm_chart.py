"""The Helm chart, rendered by Helm's own engine: lint, Kubernetes schemas, and what the
StatefulSet, Services, ConfigMaps and monitoring objects must contain."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helm import (
    CHART_RULES_FILE,
    KUBERNETES_VERSION,
    NAMESPACE,
    OPERATOR_KINDS,
    RULES_FILE,
    VALUES_DIR,
    find,
    flag_values,
    lint,
    load_values,
    main_container,
    render,
    render_files,
    require_module,
)

# Values sets every manifest check runs on: the chart defaults, the issue's file unchanged, the
# issue's file with a Secret-backed receiver, every option on, and an alertmanager-chart-style file.
VALUE_SETS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "issue6": ("issue6.yaml",),
    "issue6+secret": ("issue6.yaml", "slack-secret.yaml"),
    "everything": ("everything.yaml",),
    "alertmanager-chart-style": ("alertmanager-chart-style.yaml",),
}
LINT_INFO = 1  # helm's severities: 1 info, 2 warning, 3 error


def _values(name: str) -> dict[str, Any] | None:
    return load_values(*VALUE_SETS[name]) if VALUE_SETS[name] else None


def _peer_dns(ordinal: int) -> str:
    return f"tocsin-{ordinal}.tocsin-headless.{NAMESPACE}.svc.cluster.local:9094"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_passes_strict(value_set: str) -> None:
    report = lint(_values(value_set))
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] > LINT_INFO]
    assert problems == []


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_manifest_validates_against_the_kubernetes_schemas(value_set: str) -> None:
    validator = require_module("kubernetes_validate")
    objects = render(_values(value_set))
    assert objects
    for manifest in objects:
        if manifest["kind"] in OPERATOR_KINDS:
            continue  # CRDs: checked by their own tests below
        validator.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    """The schema check above can fail: a misspelt field is caught in strict mode."""
    validator = require_module("kubernetes_validate")
    statefulset = find(render(), "StatefulSet")
    statefulset["spec"]["podManagmentPolicy"] = "Parallel"
    with pytest.raises(validator.ValidationError):
        validator.validate(statefulset, KUBERNETES_VERSION, strict=True)


def test_default_statefulset_is_three_parallel_replicas_named_by_their_pods() -> None:
    objects = render()
    statefulset = find(objects, "StatefulSet", "tocsin")
    spec = statefulset["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["serviceName"] == "tocsin-headless"
    container = main_container(statefulset)
    assert container["command"] == ["daemon"]
    args = container["args"]
    assert flag_values(args, "cluster.peer-name") == ["$(POD_NAME)"]
    assert flag_values(args, "cluster.peer") == [_peer_dns(i) for i in range(3)]
    assert flag_values(args, "cluster.listen-address") == ["0.0.0.0:9094"]
    assert flag_values(args, "cluster.advertise-address") == ["[$(POD_IP)]:9094"]
    assert flag_values(args, "config.file") == ["/etc/alertmanager/alertmanager.yml"]
    assert flag_values(args, "storage.path") == ["/alertmanager"]
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]}
    assert env["POD_NAME"] == "metadata.name"
    assert env["POD_IP"] == "status.podIP"
    ports = {(p["containerPort"], p["protocol"]) for p in container["ports"]}
    assert ports == {(9093, "TCP"), (9094, "TCP"), (9094, "UDP")}
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_default_security_context_is_restricted_with_a_read_only_root() -> None:
    statefulset = find(render(), "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    container = main_container(statefulset)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True
    # Only the storage volume and an in-memory /tmp are writable.
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/alertmanager", "/tmp"}
    assert pod["automountServiceAccountToken"] is False


def test_services_api_on_9093_and_headless_gossip_on_9094_tcp_and_udp() -> None:
    objects = render()
    api = find(objects, "Service", "tocsin")
    assert [(p["name"], p["port"], p["protocol"]) for p in api["spec"]["ports"]] == [("http", 9093, "TCP")]
    headless = find(objects, "Service", "tocsin-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    gossip = {(p["port"], p["protocol"]) for p in headless["spec"]["ports"] if p["name"].startswith("cluster")}
    assert gossip == {(9094, "TCP"), (9094, "UDP")}
    pod_labels = find(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    for service in (api, headless):
        assert service["spec"]["selector"].items() <= pod_labels.items()


def test_default_pdb_keeps_two_replicas_and_anti_affinity_is_soft() -> None:
    objects = render()
    pdb = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    affinity = find(objects, "StatefulSet")["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    preferred = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_issue_values_unchanged() -> None:
    values = load_values("issue6.yaml")
    objects = render(values)
    statefulset = find(objects, "StatefulSet")
    assert statefulset["spec"]["replicas"] == 3
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "storage"
    assert claim["spec"]["storageClassName"] == "openebs-hostpath"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    affinity = statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in affinity
    # The ConfigMap holds the user's config exactly, without the chart's `enabled` switch.
    config = yaml.safe_load(find(objects, "ConfigMap", "tocsin")["data"]["alertmanager.yml"])
    expected = dict(values["config"])
    del expected["enabled"]
    assert config == expected
    assert flag_values(main_container(statefulset)["args"], "cluster.peer") == [_peer_dns(i) for i in range(3)]


def test_hard_anti_affinity_additional_peers_and_extra_args() -> None:
    objects = render(load_values("everything.yaml"))
    statefulset = find(objects, "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    required = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required[0]["topologyKey"] == "topology.kubernetes.io/zone"
    args = main_container(statefulset)["args"]
    assert flag_values(args, "cluster.peer") == [
        *(_peer_dns(i) for i in range(5)),
        "alertmanager-0.alertmanager-headless.legacy.svc:9094",
    ]
    assert flag_values(args, "log.format") == ["json"]
    assert flag_values(args, "web.external-url") == ["https://alerts.example.com/am/"]
    # The route prefix of the external URL moves the daemon's endpoints, probes included.
    assert main_container(statefulset)["readinessProbe"]["httpGet"]["path"] == "/am/-/ready"
    assert main_container(statefulset)["livenessProbe"]["httpGet"]["path"] == "/am/-/healthy"
    reloader = next(c for c in pod["containers"] if c["name"] == "configmap-reload")
    assert "--reload-url=http://127.0.0.1:9093/am/-/reload" in reloader["args"]
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == ""
    assert find(objects, "PodDisruptionBudget")["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "tocsin", "app.kubernetes.io/instance": "tocsin"}},
        "minAvailable": 3,
    }


def test_unknown_anti_affinity_mode_fails_with_a_clear_message() -> None:
    helm = require_module("helm_python")
    with pytest.raises(helm.HelmError, match=r'podAntiAffinity must be "soft", "hard" or "", not "medium"'):
        render({"podAntiAffinity": "medium"})


def test_templates_are_mounted_at_both_template_paths() -> None:
    objects = render(load_values("issue6.yaml", "slack-secret.yaml"))
    templates = find(objects, "ConfigMap", "tocsin-templates")
    assert templates["data"]["slack.tmpl"].startswith('{{ define "slack.tocsin.title" }}')
    statefulset = find(objects, "StatefulSet")
    volume = next(v for v in statefulset["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    sources = {s["configMap"]["name"]: s["configMap"]["items"] for s in volume["projected"]["sources"]}
    assert sources["tocsin"] == [{"key": "alertmanager.yml", "path": "alertmanager.yml"}]
    assert sources["tocsin-templates"] == [
        {"key": "slack.tmpl", "path": "slack.tmpl"},
        {"key": "slack.tmpl", "path": "template/slack.tmpl"},
    ]
    mount = next(m for m in main_container(statefulset)["volumeMounts"] if m["name"] == "config")
    assert mount == {"name": "config", "mountPath": "/etc/alertmanager", "readOnly": True}


def test_receiver_secret_is_mounted_from_a_kubernetes_secret() -> None:
    objects = render(load_values("issue6.yaml", "slack-secret.yaml"))
    statefulset = find(objects, "StatefulSet")
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    assert volumes["slack-webhook"]["secret"] == {"secretName": "tocsin-slack-webhook"}
    mount = next(m for m in main_container(statefulset)["volumeMounts"] if m["name"] == "slack-webhook")
    assert mount == {"name": "slack-webhook", "mountPath": "/etc/secrets/slack", "readOnly": True}
    config = yaml.safe_load(find(objects, "ConfigMap", "tocsin")["data"]["alertmanager.yml"])
    assert config["global"]["slack_api_url_file"] == "/etc/secrets/slack/url"
    # No secret material in any ConfigMap.
    assert all("hooks.slack.com" not in yaml.safe_dump(o) for o in objects if o["kind"] == "ConfigMap")


def test_rendered_config_loads_in_tocsin_and_in_amtool(tmp_path: Path) -> None:
    """The ConfigMap's alertmanager.yml is a config both tocsin and Alertmanager 0.25 accept."""
    from daemon.config.loader import load_config_file

    objects = render(load_values("issue6.yaml", "slack-secret.yaml"))
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(find(objects, "ConfigMap", "tocsin")["data"]["alertmanager.yml"])
    config = load_config_file(str(config_file))
    assert config is not None
    amtool = Path("/usr/bin/amtool")
    if not amtool.exists():
        from tests.conftest import require_binary

        require_binary(amtool)
    checked = subprocess.run(
        [str(amtool), "check-config", str(config_file)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_issue_config_without_a_slack_url_is_rejected_like_alertmanager(tmp_path: Path) -> None:
    """The issue's config alone names no Slack URL: both daemons refuse it the same way, so the
    Secret-backed file above is what a real install needs."""
    from daemon.config.loader import ConfigError, load_config_file

    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(find(render(load_values("issue6.yaml")), "ConfigMap", "tocsin")["data"]["alertmanager.yml"])
    with pytest.raises(ConfigError, match="no global Slack API URL set"):
        load_config_file(str(config_file))


def test_config_change_rolls_pods_unless_the_reloader_runs() -> None:
    def checksum(values: dict[str, Any]) -> str | None:
        annotations = find(render(values), "StatefulSet")["spec"]["template"]["metadata"]["annotations"] or {}
        return annotations.get("checksum/config")

    base = load_values("issue6.yaml")
    changed = load_values("issue6.yaml")
    changed["config"]["route"]["repeat_interval"] = "4h"
    assert checksum(base) is not None
    assert checksum(base) == checksum(load_values("issue6.yaml"))
    assert checksum(base) != checksum(changed)

    reloading = {**base, "configmapReload": {"enabled": True}}
    assert checksum(reloading) is None
    statefulset = find(render(reloading), "StatefulSet")
    sidecar = next(c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "configmap-reload")
    assert "--reload-url=http://127.0.0.1:9093/-/reload" in sidecar["args"]
    assert "--watched-dir=/etc/alertmanager" in sidecar["args"]


def test_alertmanager_chart_style_values() -> None:
    objects = render(load_values("alertmanager-chart-style.yaml"))
    statefulset = find(objects, "StatefulSet")
    container = main_container(statefulset)
    assert container["livenessProbe"]["httpGet"]["path"] == "/"
    assert statefulset["spec"]["replicas"] == 1
    assert "affinity" not in statefulset["spec"]["template"]["spec"]
    assert "volumeClaimTemplates" not in statefulset["spec"]
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    assert volumes["storage"] == {"name": "storage", "emptyDir": {}}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "secret-files")
    assert mount["subPath"] == "key"
    # One replica: no PDB (it would block every drain); it still names itself as its only peer.
    assert not [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert flag_values(container["args"], "cluster.peer") == [_peer_dns(0)]


def test_service_monitor_scrapes_the_api_service_with_job_tocsin() -> None:
    objects = render(load_values("everything.yaml"))
    monitor = find(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selected = [
        o for o in objects
        if o["kind"] == "Service" and monitor["spec"]["selector"]["matchLabels"].items() <= o["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in selected] == ["tocsin"]
    assert selected[0]["metadata"]["labels"]["app.kubernetes.io/name"] == "tocsin"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/am/metrics", "interval": "30s"}]


def test_prometheus_rule_carries_the_rules_file_and_passes_promtool(tmp_path: Path) -> None:
    objects = render(load_values("everything.yaml"))
    rule = find(objects, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    expected = yaml.safe_load(RULES_FILE.read_text())
    for group in expected["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != "TocsinAbsent"]
    assert rule["spec"] == expected
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    checked = subprocess.run(["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_rule_follows_name_override() -> None:
    rule = find(render({"prometheusRule": {"enabled": True}, "nameOverride": "alerting"}), "PrometheusRule")
    text = yaml.safe_dump(rule["spec"])
    assert 'job="alerting"' in text
    assert 'job="tocsin"' not in text


def test_chart_rules_are_the_deploy_prometheus_rules() -> None:
    assert CHART_RULES_FILE.read_bytes() == RULES_FILE.read_bytes(), (
        "copy deploy/prometheus/tocsin.rules.yml to deploy/helm/tocsin/files/"
    )


def test_notes_name_the_api_service() -> None:
    notes = render_files()["tocsin/templates/NOTES.txt"]
    assert f"http://tocsin.{NAMESPACE}.svc:9093" in notes


def test_values_files_in_tests_are_yaml_maps() -> None:
    for path in VALUES_DIR.glob("*.yaml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path
