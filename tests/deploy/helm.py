"""Rendering the chart with the real Helm engine, and offline Kubernetes schema validation.

Helm comes from PyPI's `helm-python-sdk`: ctypes bindings to a C ABI over Helm's own Go SDK
(helm.sh/helm/v4), so `render` and `lint` are Helm's template engine and linter, not a
reimplementation. (`helm-sdkpy`, the other wheel that ships Helm's library, needs Python
3.12.) Schemas come from `kubernetes-validate`, which bundles the Kubernetes OpenAPI schemas.

Outside CI a missing package skips the test; under CI=true it fails, so the deploy tests
cannot silently stop running.
"""

from __future__ import annotations

import copy
import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "deploy" / "helm" / "tocsin"
VALUES_DIR = Path(__file__).resolve().parent / "values"
RULES_FILE = REPO / "deploy" / "prometheus" / "tocsin.rules.yml"
CHART_RULES_FILE = CHART_DIR / "files" / "tocsin.rules.yml"

RELEASE = "tocsin"
NAMESPACE = "monitoring"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion >= 1.23) lacks nothing the
# templates use; validate against a current release's schemas.
KUBERNETES_VERSION = "1.30.0"
# Kinds whose schemas are CustomResourceDefinitions of the prometheus-operator, not built in.
OPERATOR_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        reason = f"{name} is not installed ({error}); `make venv` installs the test extras"
        if _running_in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


def load_values(*names: str) -> dict[str, Any]:
    """Values files from tests/deploy/values, later ones merged over earlier ones like `-f a -f b`."""
    merged: dict[str, Any] = {}
    for name in names:
        merged = merge_values(merged, yaml.safe_load((VALUES_DIR / name).read_text()) or {})
    return merged


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing for values files: maps merge key by key, anything else is replaced."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_values(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def render_files(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as `helm template tocsin deploy/helm/tocsin -n monitoring`."""
    helm = require_module("helm_python")
    chart = helm.Chart.load(str(CHART_DIR))
    rendered: dict[str, str] = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return rendered


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every rendered Kubernetes object, in template-path order."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(render_files(values).items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        objects.extend(document for document in yaml.safe_load_all(text) if document)
    return objects


def lint(values: dict[str, Any] | None = None) -> dict[str, Any]:
    helm = require_module("helm_python")
    report: dict[str, Any] = helm.lint(str(CHART_DIR), values, strict=True, namespace=NAMESPACE)
    return report


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in matches]}"
    return matches[0]


def main_container(statefulset: dict[str, Any]) -> dict[str, Any]:
    containers = statefulset["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "tocsin")


def flag_values(args: list[str], flag: str) -> list[str]:
    prefix = f"--{flag}="
    return [arg[len(prefix):] for arg in args if arg.startswith(prefix)]
