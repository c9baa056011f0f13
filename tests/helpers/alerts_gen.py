"""Build postable alerts (the JSON `POST /api/v2/alerts` takes) for tests and the benchmark.

Times are rendered the way Alertmanager renders them in its API (RFC 3339, milliseconds, `Z`),
so a time posted explicitly comes back byte-identical and needs no normalising.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

PostableAlert = dict[str, Any]

# The benchmark's label vocabulary: severities and jobs cycle through these.
SEVERITIES = ("critical", "warning", "info")
JOBS = ("node", "api", "db", "cache")


def api_time(moment: datetime) -> str:
    """RFC 3339 in UTC with exactly three fractional digits, as Alertmanager's API prints."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_now() -> datetime:
    """Now, truncated to whole milliseconds so that it survives a round trip through the API."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def alert(
    labels: Mapping[str, str],
    *,
    annotations: Mapping[str, str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    generator_url: str | None = None,
) -> PostableAlert:
    """One postable alert; fields left as None are omitted (the server fills them in)."""
    body: PostableAlert = {"labels": dict(labels)}
    if annotations is not None:
        body["annotations"] = dict(annotations)
    if starts_at is not None:
        body["startsAt"] = api_time(starts_at)
    if ends_at is not None:
        body["endsAt"] = api_time(ends_at)
    if generator_url is not None:
        body["generatorURL"] = generator_url
    return body


def resolved(alerts: Iterable[PostableAlert], at: datetime) -> list[PostableAlert]:
    """The same alerts again, ended at `at` (a time in the past resolves them at once)."""
    ended = []
    for one in alerts:
        copy = dict(one)
        copy["labels"] = dict(one["labels"])
        copy["endsAt"] = api_time(at)
        ended.append(copy)
    return ended


def label_grid(alertnames: int, instances: int) -> Iterator[dict[str, str]]:
    """`alertnames` × `instances` distinct label sets with severity and job labels.

    Ordered instance-major so that a prefix of the stream still covers every alertname.
    """
    for instance_index in range(instances):
        for name_index in range(alertnames):
            serial = instance_index * alertnames + name_index
            yield {
                "alertname": f"BenchAlert{name_index:03d}",
                "instance": f"host-{instance_index:05d}:9100",
                "severity": SEVERITIES[serial % len(SEVERITIES)],
                "job": JOBS[serial % len(JOBS)],
            }


def grid_alerts(
    alertnames: int,
    instances: int,
    *,
    starts_at: datetime,
    annotations: Mapping[str, str] | None = None,
) -> list[PostableAlert]:
    return [
        alert(labels, starts_at=starts_at, annotations=annotations)
        for labels in label_grid(alertnames, instances)
    ]


def batched(items: Sequence[PostableAlert], size: int) -> Iterator[list[PostableAlert]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def minutes_ago(minutes: float) -> datetime:
    return utc_now() - timedelta(minutes=minutes)
