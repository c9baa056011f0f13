"""Template rendering benchmark: microseconds per render, tocsin and Go's engine (amtool 0.25).

    flock /tmp/bench.lock .venv/bin/python -m bench.bench_templates [--alerts 1,10,100] [--no-go]

Renders the default templates receivers use for a notification of 1, 10 and 100 alerts (the
same alerts in both engines: the webhook JSON amtool reads, decoded by tocsin with
`template_data_from_json`):

  slack title           slack.default.title (text)
  slack fallback        slack.default.fallback (text)
  email subject         email.default.subject (text)
  email html            email.default.html (html/template, contextual escaping)
  opsgenie description  opsgenie.default.description (text; the alert list with labels)
  telegram message      telegram.default.message (text)
  custom list           a user-style webhook/chat template ranging over the alerts

Both are measured in CPU time (the machine is shared; CPU time is what a busy neighbour
disturbs least), and both render the same alerts.

tocsin: one Templates object (parsed and compiled once, as receivers keep it), the best of
BATCHES batches of at least MIN_BATCH_SECONDS each.

Go: amtool parses and loads the data on every run, so a render's cost is the difference
between a run rendering the template K times (`range` over K items, each `with $` around the
text) and one rendering it zero times, divided by K; K grows until that difference is at
least GO_MIN_DIFFERENCE_SECONDS, each run is repeated GO_RUNS times and the cheapest kept
(the amtool process's user+system time, its GC threads included). amtool uses the Debian
default.tmpl/email.tmpl, tocsin its own (same output).

Before/after figures for tocsin come from running this file against an older checkout:
`PYTHONPATH=/path/to/old/tree python bench/bench_templates.py` (it only needs the
`notify.template` API that has existed since the engine landed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, "") and "PYTHONPATH" not in os.environ:
    # Run as a script: this checkout's engine, unless PYTHONPATH names another one.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notify.template import Templates
from notify.template.data import template_data_from_json

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
DEBIAN_TEMPLATES = Path("/usr/share/prometheus/alertmanager")
# Batches per tocsin measurement; the best is kept, so load from other processes on the
# shared machine inflates nothing but the worst batches.
BATCHES = 5
MIN_BATCH_SECONDS = 0.1
# amtool runs per figure (cheapest kept); renders per run start at GO_FIRST_REPEATS and grow
# until the K-render run costs GO_MIN_DIFFERENCE_SECONDS more than the empty one (process
# start-up noise is a few milliseconds), at most GO_MAX_REPEATS.
GO_RUNS = 3
GO_FIRST_REPEATS = 50
GO_MIN_DIFFERENCE_SECONDS = 0.3
GO_MAX_REPEATS = 50_000
# Renders per inner loop when K is large: amtool takes the text as one argument (< 128 KiB).
GO_INNER_REPEATS = 100
GO_TIMEOUT_SECONDS = 120

CASES: list[tuple[str, str, bool]] = [
    ("slack title", '{{ template "slack.default.title" . }}', False),
    ("slack fallback", '{{ template "slack.default.fallback" . }}', False),
    ("email subject", '{{ template "email.default.subject" . }}', False),
    ("email html", '{{ template "email.default.html" . }}', True),
    ("opsgenie description", '{{ template "opsgenie.default.description" . }}', False),
    ("telegram message", '{{ template "telegram.default.message" . }}', False),
    (
        "custom list",
        "{{ range .Alerts }}[{{ .Status | toUpper }}] {{ .Labels.alertname }} on {{ .Labels.instance }}: "
        '{{ .Annotations.summary }}{{ "\\n" }}{{ end }}',
        False,
    ),
]


def webhook_document(count: int) -> dict[str, Any]:
    """The webhook body of a notification with `count` alerts, a quarter of them resolved."""
    now = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    alerts = []
    for index in range(count):
        resolved = index % 4 == 0
        alerts.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": {
                    "alertname": "HighLatency",
                    "instance": f"host-{index}:9100",
                    "job": "node",
                    "severity": "page",
                },
                "annotations": {
                    "summary": "p99 latency above 1s",
                    "description": f"instance {index} answers in > 1s & <rising>",
                },
                "startsAt": (now - timedelta(minutes=index)).isoformat().replace("+00:00", "Z"),
                "endsAt": (now - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
                if resolved
                else "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus:9090/graph?g0.expr=latency%3E1&g0.tab={index}",
                "fingerprint": f"{index:016x}",
            }
        )
    return {
        "receiver": "ops",
        "status": "firing" if count > 0 else "resolved",
        "alerts": alerts,
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "job": "node", "severity": "page"},
        "commonAnnotations": {"summary": "p99 latency above 1s"},
        "externalURL": "http://alertmanager:9093",
    }


def best_microseconds(render: Callable[[], object]) -> float:
    render()  # parse and compile once, as receivers do
    start = time.process_time()
    rounds = 0
    while time.process_time() - start < MIN_BATCH_SECONDS / 10:
        render()
        rounds += 1
    per_batch = max(1, int(rounds * 10))
    best = float("inf")
    for _ in range(BATCHES):
        begin = time.process_time()
        for _ in range(per_batch):
            render()
        best = min(best, (time.process_time() - begin) / per_batch)
    return best * 1e6


def tocsin_microseconds(templates: Templates, text: str, html: bool, document: dict[str, Any]) -> float:
    data = template_data_from_json(document)
    execute = templates.execute_html if html else templates.execute_text
    return best_microseconds(lambda: execute(text, data))


class GoEngine:
    def __init__(self, directory: Path) -> None:
        self.glob = directory / "templates"
        self.glob.mkdir()
        for name in ("default.tmpl", "email.tmpl"):
            shutil.copy(DEBIAN_TEMPLATES / name, self.glob / name)
        self.directory = directory

    def run_seconds(self, text: str, html: bool, data_file: Path) -> float:
        best = float("inf")
        for _ in range(GO_RUNS):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                [
                    AMTOOL,
                    "template",
                    "render",
                    "--template.glob",
                    str(self.glob / "*.tmpl"),
                    "--template.data",
                    str(data_file),
                    "--template.type",
                    "html" if html else "text",
                    "--template.text=" + text,
                ],
                stdout=subprocess.DEVNULL,
                check=True,
                timeout=GO_TIMEOUT_SECONDS,
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            best = min(best, cpu)
        return best

    def microseconds(self, text: str, html: bool, document: dict[str, Any]) -> float:
        data_file = self.directory / f"data-{len(document['alerts'])}.json"
        data_file.write_text(json.dumps(document))

        def repeated(times: int) -> str:
            """The text rendered `times` times; nested ranges keep the argument short."""
            inner, outer = min(times, GO_INNER_REPEATS), -(-times // GO_INNER_REPEATS)
            loops = [
                "{{ range (stringSlice " + " ".join('""' for _ in range(count)) + ") }}"
                for count in (outer, inner)
            ]
            return "".join(loops) + "{{ with $ }}" + text + "{{ end }}{{ end }}{{ end }}"

        empty = self.run_seconds(repeated(0), html, data_file)
        repeats = GO_FIRST_REPEATS
        while True:
            difference = self.run_seconds(repeated(repeats), html, data_file) - empty
            if difference >= GO_MIN_DIFFERENCE_SECONDS or repeats >= GO_MAX_REPEATS:
                return max(0.0, difference) / repeats * 1e6
            growth = GO_MIN_DIFFERENCE_SECONDS * 1.5 / max(difference, GO_MIN_DIFFERENCE_SECONDS / 100)
            repeats = min(GO_MAX_REPEATS, int(repeats * growth) + 1)
            if repeats > GO_INNER_REPEATS:  # whole inner loops only
                repeats = -(-repeats // GO_INNER_REPEATS) * GO_INNER_REPEATS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", default="1,10,100", help="comma-separated alert counts")
    parser.add_argument("--no-go", action="store_true", help="skip amtool (tocsin only)")
    parser.add_argument("--only", action="append", help="case names to run (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(count) for count in args.alerts.split(",")]
    templates = Templates.with_defaults()
    use_go = not args.no_go and os.path.exists(AMTOOL) and (DEBIAN_TEMPLATES / "default.tmpl").exists()
    cases = [case for case in CASES if not args.only or case[0] in args.only]
    print(f"{'template':22s} {'alerts':>6s} {'tocsin us':>10s} {'go us':>9s} {'ratio':>7s}")
    with tempfile.TemporaryDirectory() as workdir:
        go = GoEngine(Path(workdir)) if use_go else None
        for name, text, html in cases:
            for count in counts:
                document = webhook_document(count)
                ours = tocsin_microseconds(templates, text, html, document)
                line = f"{name:22s} {count:6d} {ours:10.1f}"
                if go is not None:
                    theirs = go.microseconds(text, html, document)
                    ratio = f"{ours / theirs:7.2f}" if theirs > 0 else "      -"
                    line += f" {theirs:9.1f} {ratio}"
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
