"""The suspicion sweep (simulations.tuning) at CI sizes: it measures what it claims, and
tocsin's default is faster than Alertmanager's timing without more deaths of healthy members."""

from __future__ import annotations

import json
import pathlib

from simulations import tuning


def test_parse_knobs() -> None:
    assert tuning.parse_knobs("4") == tuning.Knobs(4.0, None, 6)
    assert tuning.parse_knobs("1.5,2") == tuning.Knobs(1.5, 2, 6)
    assert tuning.parse_knobs("1,-,10") == tuning.Knobs(1.0, None, 10)
    assert tuning.Knobs(1.0, 2).label == "mult=1 k=2 max=6"


def test_default_detects_faster_than_alertmanager_timing() -> None:
    tocsin = tuning.measure("crash", nodes=10, seed=1, loss=0.05, knobs=tuning.Knobs(1.0, 2))
    alertmanager = tuning.measure("crash", nodes=10, seed=1, loss=0.05, knobs=tuning.Knobs(4.0))
    # Two crashes among 10: the eight survivors' verdicts on each.
    assert len(tocsin["detection_ms"]) == 16 and len(alertmanager["detection_ms"]) == 16
    assert tocsin["undetected"] == alertmanager["undetected"] == 0
    # Never faster than the floor (2 s), and well below Alertmanager's 4 s floor at the median.
    assert min(tocsin["detection_ms"]) >= 2_000
    assert min(alertmanager["detection_ms"]) >= 4_000
    assert sorted(tocsin["detection_ms"])[8] < sorted(alertmanager["detection_ms"])[8]
    for entry in (tocsin, alertmanager):
        assert entry["dead_healthy"] == entry["checker_false_deaths"] == 0


def test_slow_members_are_counted_apart(tmp_path: pathlib.Path) -> None:
    entry = tuning.measure("slow", nodes=6, seed=2, loss=0.0, knobs=tuning.Knobs(1.0, 2))
    assert entry["detection_ms"] == [] and entry["suspected_impaired"] > 0
    assert entry["checker_false_deaths"] == 0
    sink = tmp_path / "runs.jsonl"
    sink.write_text(json.dumps(entry) + "\n")
    report = tuning.markdown_report(tuning.load([str(sink)]))
    assert "| mult=1 k=2 max=6 | - |" in report  # no crash: no detection cell
    assert f"{entry['dead_healthy']}/{entry['dead_impaired']} · -" in report
