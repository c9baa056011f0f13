"""The data templates render: Alertmanager's template.Data, Alert, KV, Pairs and Pair.

`build_template_data` turns a notification's alerts into that shape, as Alertmanager's
`Template.Data` does: the receiver name goes through regexp.QuoteMeta, firing alerts expose
a zero EndsAt, and the common labels/annotations are the pairs shared by every alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from notify.model import ZERO_TIME, Alert, fingerprint_hex
from notify.template.gofmt import GoValue, TypedList, TypedMap
from notify.template.gotime import GoTime, parse_go_json_time

ALERT_NAME_LABEL = "alertname"
# Characters regexp.QuoteMeta escapes.
_REGEXP_META = frozenset("\\.+*?()|[]{}^$")


def quote_meta(text: str) -> str:
    return "".join("\\" + char if char in _REGEXP_META else char for char in text)


class Pair(GoValue):
    go_type = "template.Pair"
    go_fields = ("Name", "Value")

    __slots__ = ("field_Name", "field_Value")

    def __init__(self, name: str, value: str) -> None:
        self.field_Name = name
        self.field_Value = value


class StringSlice(TypedList):
    go_type = "[]string"


class Pairs(TypedList):
    go_type = "template.Pairs"
    go_methods = {"Names": ("names", ()), "Values": ("values", ())}

    def names(self) -> list[str]:
        return [pair.field_Name for pair in self]

    def values(self) -> list[str]:
        return [pair.field_Value for pair in self]


class KV(TypedMap):
    """A label or annotation set; `SortedPairs` puts alertname first, then sorts by name."""

    go_type = "template.KV"
    go_methods = {
        "SortedPairs": ("sorted_pairs", ()),
        "Remove": ("remove", ("[]string",)),
        "Names": ("sorted_names", ()),
        "Values": ("sorted_values", ()),
    }

    def sorted_pairs(self) -> Pairs:
        names = sorted(self)
        if ALERT_NAME_LABEL in self:
            names.remove(ALERT_NAME_LABEL)
            names.insert(0, ALERT_NAME_LABEL)
        return Pairs([Pair(name, self[name]) for name in names])

    def remove(self, names: Sequence[str] | None) -> KV:
        drop = set(names or ())
        return KV({name: value for name, value in self.items() if name not in drop})

    def sorted_names(self) -> list[str]:
        return self.sorted_pairs().names()

    def sorted_values(self) -> list[str]:
        return self.sorted_pairs().values()


class TemplateAlert(GoValue):
    go_type = "template.Alert"
    go_fields = ("Status", "Labels", "Annotations", "StartsAt", "EndsAt", "GeneratorURL", "Fingerprint")

    __slots__ = tuple("field_" + name for name in go_fields)

    def __init__(
        self,
        status: str,
        labels: KV,
        annotations: KV,
        starts_at: GoTime,
        ends_at: GoTime,
        generator_url: str,
        fingerprint: str,
    ) -> None:
        self.field_Status = status
        self.field_Labels = labels
        self.field_Annotations = annotations
        self.field_StartsAt = starts_at
        self.field_EndsAt = ends_at
        self.field_GeneratorURL = generator_url
        self.field_Fingerprint = fingerprint


class AlertList(TypedList):
    go_type = "[]template.Alert"


class Alerts(TypedList):
    go_type = "template.Alerts"
    go_methods = {"Firing": ("firing", ()), "Resolved": ("resolved", ())}

    def firing(self) -> AlertList:
        return AlertList(alert for alert in self if alert.field_Status == "firing")

    def resolved(self) -> AlertList:
        return AlertList(alert for alert in self if alert.field_Status == "resolved")


class TemplateData(GoValue):
    go_type = "*template.Data"
    go_fields = (
        "Receiver",
        "Status",
        "Alerts",
        "GroupLabels",
        "CommonLabels",
        "CommonAnnotations",
        "ExternalURL",
    )

    __slots__ = tuple("field_" + name for name in go_fields)

    def __init__(
        self,
        receiver: str,
        status: str,
        alerts: Alerts,
        group_labels: KV,
        common_labels: KV,
        common_annotations: KV,
        external_url: str,
    ) -> None:
        self.field_Receiver = receiver
        self.field_Status = status
        self.field_Alerts = alerts
        self.field_GroupLabels = group_labels
        self.field_CommonLabels = common_labels
        self.field_CommonAnnotations = common_annotations
        self.field_ExternalURL = external_url

    @property
    def alerts(self) -> Alerts:
        return self.field_Alerts


def _common(sets: Iterable[Mapping[str, str]]) -> KV:
    iterator = iter(sets)
    first = next(iterator, None)
    if first is None:
        return KV()
    common = dict(first)
    for other in iterator:
        if not common:
            break
        for name in [name for name, value in common.items() if other.get(name) != value]:
            del common[name]
    return KV(common)


def build_template_data(
    receiver: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[Alert],
    external_url: str,
    now: datetime,
) -> TemplateData:
    """Alertmanager's Template.Data for one notification, evaluated at `now`."""
    template_alerts = Alerts()
    any_firing = False
    for alert in alerts:
        resolved = alert.resolved_at(now)
        any_firing = any_firing or not resolved
        template_alerts.append(
            TemplateAlert(
                status="resolved" if resolved else "firing",
                labels=KV(alert.labels),
                annotations=KV(alert.annotations),
                starts_at=GoTime(alert.starts_at),
                ends_at=GoTime(alert.ends_at if resolved else ZERO_TIME),
                generator_url=alert.generator_url,
                fingerprint=fingerprint_hex(alert.labels),
            )
        )
    return TemplateData(
        receiver=quote_meta(receiver),
        status="firing" if any_firing else "resolved",
        alerts=template_alerts,
        group_labels=KV(group_labels),
        common_labels=_common(alert.labels for alert in alerts),
        common_annotations=_common(alert.annotations for alert in alerts),
        external_url=external_url.rstrip("/") if external_url.endswith("/") else external_url,
    )


class TemplateDataValue(TemplateData):
    """Data as amtool passes it: a value where Alertmanager passes a pointer (error texts
    name the type)."""

    __slots__ = ()
    go_type = "template.Data"


def template_data_from_json(document: Mapping[str, Any], as_value: bool = False) -> TemplateData:
    """Decode the webhook/amtool JSON form of Data (as `amtool template render` reads it);
    `as_value` gives amtool's value type instead of Alertmanager's pointer."""

    def kv(value: Any) -> KV:
        return KV({str(k): str(v) for k, v in (value or {}).items()})

    def time(value: Any) -> GoTime:
        return parse_go_json_time(value) if value else GoTime(ZERO_TIME)

    alerts = Alerts(
        TemplateAlert(
            status=str(item.get("status", "")),
            labels=kv(item.get("labels")),
            annotations=kv(item.get("annotations")),
            starts_at=time(item.get("startsAt")),
            ends_at=time(item.get("endsAt")),
            generator_url=str(item.get("generatorURL", "")),
            fingerprint=str(item.get("fingerprint", "")),
        )
        for item in document.get("alerts") or []
    )
    return (TemplateDataValue if as_value else TemplateData)(
        receiver=str(document.get("receiver", "")),
        status=str(document.get("status", "")),
        alerts=alerts,
        group_labels=kv(document.get("groupLabels")),
        common_labels=kv(document.get("commonLabels")),
        common_annotations=kv(document.get("commonAnnotations")),
        external_url=str(document.get("externalURL", "")),
    )
