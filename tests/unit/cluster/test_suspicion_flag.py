"""--cluster.suspicion-multiplier, a tocsin extension (Alertmanager has no such flag): parsed
and validated like a kingpin float, and carried into the core configuration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cluster.core.config import TOCSIN_SUSPICION_CONFIRMATIONS, TOCSIN_SUSPICION_MULT, CoreConfig
from cluster.peer import core_config
from daemon.flags import EXIT_USAGE, parse_flags


def _core(multiplier: float | None = None) -> CoreConfig:
    if multiplier is None:
        return core_config(
            3,
            timedelta(milliseconds=200),
            timedelta(minutes=1),
            timedelta(seconds=10),
            timedelta(milliseconds=500),
            timedelta(seconds=1),
        )
    return core_config(
        3,
        timedelta(milliseconds=200),
        timedelta(minutes=1),
        timedelta(seconds=10),
        timedelta(milliseconds=500),
        timedelta(seconds=1),
        suspicion_multiplier=multiplier,
    )


def test_default_and_values() -> None:
    default = parse_flags([], program="tocsin").flags
    assert default is not None and default.cluster_suspicion_multiplier == TOCSIN_SUSPICION_MULT
    for text, value in (("1", 1.0), ("1.5", 1.5), ("4", 4.0), ("60", 60.0), ("2e0", 2.0)):
        flags = parse_flags([f"--cluster.suspicion-multiplier={text}"], program="tocsin").flags
        assert flags is not None and flags.cluster_suspicion_multiplier == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", 'strconv.ParseFloat: parsing "abc": invalid syntax'),
        ("1_5", 'strconv.ParseFloat: parsing "1_5": invalid syntax'),
        (" 2", 'strconv.ParseFloat: parsing " 2": invalid syntax'),
        ("", 'strconv.ParseFloat: parsing "": invalid syntax'),
        ("0.5", '--cluster.suspicion-multiplier must be between 1 and 60, got "0.5"'),
        ("0", '--cluster.suspicion-multiplier must be between 1 and 60, got "0"'),
        ("-2", '--cluster.suspicion-multiplier must be between 1 and 60, got "-2"'),
        ("61", '--cluster.suspicion-multiplier must be between 1 and 60, got "61"'),
        ("NaN", '--cluster.suspicion-multiplier must be between 1 and 60, got "NaN"'),
        ("Inf", '--cluster.suspicion-multiplier must be between 1 and 60, got "Inf"'),
    ],
)
def test_bad_values_are_usage_errors(text: str, message: str) -> None:
    outcome = parse_flags([f"--cluster.suspicion-multiplier={text}"], program="tocsin")
    assert outcome.flags is None and outcome.exit_code == EXIT_USAGE
    assert outcome.stderr == f"tocsin: error: {message}, try --help\n"


def test_help_documents_the_flag() -> None:
    help_text = parse_flags(["--help"], program="tocsin").stdout
    assert f"--cluster.suspicion-multiplier={TOCSIN_SUSPICION_MULT:g}" in help_text
    assert "Alertmanager's memberlist uses 4" in help_text


def test_core_config_carries_the_multiplier() -> None:
    default = _core()
    assert default.suspicion_mult == TOCSIN_SUSPICION_MULT
    assert default.suspicion_confirmations == TOCSIN_SUSPICION_CONFIRMATIONS
    assert _core(2.5).suspicion_mult == 2.5
    with pytest.raises(ValueError, match="suspicion multiplier must be between"):
        _core(0.1)
