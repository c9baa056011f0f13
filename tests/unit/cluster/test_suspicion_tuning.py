"""tocsin's suspicion tuning: a fractional multiplier, Lifeguard's k set apart from it, and
the --cluster.suspicion-multiplier bounds. Whole multipliers must keep memberlist's values
(the Go-printed tables are in test_lifeguard.py)."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from cluster.core.awareness import Awareness
from cluster.core.broadcasts import BroadcastQueue
from cluster.core.config import (
    MAX_SUSPICION_MULT,
    MIN_SUSPICION_MULT,
    TOCSIN_EAGER_GOSSIP_SPACING_MS,
    TOCSIN_SUSPICION_CONFIRMATIONS,
    TOCSIN_SUSPICION_MULT,
    TOCSIN_USER_MIN_TRANSMITS,
    TOCSIN_USER_RETRANSMIT_MULT,
    CoreConfig,
    alertmanager_defaults,
    tocsin_defaults,
    with_suspicion_multiplier,
)
from cluster.core.members import MemberEvent, Membership
from cluster.core.messages import Alive, NodeStateType, Suspect
from cluster.core.suspicion import expected_confirmations, suspicion_timeout_ms, suspicion_window

VSN = (1, 5, 2, 0, 0, 0)


@pytest.mark.parametrize(
    ("mult", "cluster_size", "expected_ms"),
    [
        (1.5, 3, 1500),
        (1.5, 100, 3000),
        (1.5, 1000, 4500),
        (1.1, 3, 1100),  # 1.1 * 1000 * 1000 is 1100000.0000000002 in floats: no drift
        (2.5, 11, 2602),  # log10(11) kept to three decimals (1.041), as memberlist does
        (4.0, 100, 8000),
    ],
)
def test_fractional_multiplier_scales_the_floor(mult: float, cluster_size: int, expected_ms: int) -> None:
    assert suspicion_timeout_ms(mult, cluster_size, 1000) == expected_ms


def test_whole_multipliers_keep_memberlist_values() -> None:
    for mult in (1, 2, 3, 4, 5):
        for size in (1, 3, 11, 57, 100, 999, 5000):
            scale = int(max(1.0, math.log10(size)) * 1000)
            assert suspicion_timeout_ms(float(mult), size, 1000) == mult * scale * 1000 // 1000


@pytest.mark.parametrize(
    ("mult", "confirmations", "cluster_size", "expected_k"),
    [
        (4, None, 50, 2),  # memberlist: mult - 2
        (3, None, 50, 1),
        (2, None, 50, 0),  # memberlist turns dynamic suspicion off below 3
        (1, None, 50, 0),  # memberlist's -1 means the same as 0: never confirmed
        (1.5, None, 50, 0),
        (1, 2, 50, 2),  # tocsin: k set apart from the multiplier
        (4, None, 3, 0),  # memberlist: one other member cannot supply two, so none
        (1, 3, 4, 2),  # tocsin: as many as the two other members can supply
        (1, 2, 3, 1),
        (1, 2, 2, 0),
        (1, 2, 4, 2),
        (1, -1, 50, 0),
    ],
)
def test_expected_confirmations(
    mult: float, confirmations: int | None, cluster_size: int, expected_k: int
) -> None:
    assert expected_confirmations(mult, cluster_size, confirmations) == expected_k


def test_flag_setting_keeps_k_and_checks_bounds() -> None:
    config = with_suspicion_multiplier(alertmanager_defaults(), 1.5)
    assert (config.suspicion_mult, config.suspicion_confirmations) == (1.5, TOCSIN_SUSPICION_CONFIRMATIONS)
    # Multiplier 4 with k 2 is exactly memberlist's default rule.
    same_as_alertmanager = with_suspicion_multiplier(alertmanager_defaults(), 4)
    assert expected_confirmations(4, 100, same_as_alertmanager.suspicion_confirmations) == (
        expected_confirmations(4, 100)
    )
    for bad in (0.0, MIN_SUSPICION_MULT - 0.01, MAX_SUSPICION_MULT + 1, math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="suspicion multiplier must be between"):
            with_suspicion_multiplier(alertmanager_defaults(), bad)
    assert with_suspicion_multiplier(alertmanager_defaults(), MIN_SUSPICION_MULT).suspicion_mult == 1.0


def test_tocsin_defaults_differ_from_alertmanager_only_in_suspicion_and_user_gossip() -> None:
    tocsin = tocsin_defaults()
    assert tocsin.suspicion_mult == TOCSIN_SUSPICION_MULT
    assert tocsin.suspicion_confirmations == TOCSIN_SUSPICION_CONFIRMATIONS
    assert tocsin.user_retransmit_mult == TOCSIN_USER_RETRANSMIT_MULT > alertmanager_defaults().user_retransmit_mult
    assert tocsin.user_min_transmits == TOCSIN_USER_MIN_TRANSMITS > alertmanager_defaults().user_min_transmits
    assert tocsin.eager_gossip_spacing_ms == TOCSIN_EAGER_GOSSIP_SPACING_MS
    assert alertmanager_defaults().eager_gossip_spacing_ms is None
    reverted = dataclasses.replace(
        tocsin,
        suspicion_mult=4,
        suspicion_confirmations=None,
        user_retransmit_mult=alertmanager_defaults().user_retransmit_mult,
        user_min_transmits=alertmanager_defaults().user_min_transmits,
        eager_gossip_spacing_ms=None,
    )
    assert reverted == alertmanager_defaults()


def _membership(config: CoreConfig, peers: int) -> Membership:
    events: list[MemberEvent] = []
    membership = Membership(
        config, "local", 9094, random.Random(0), Awareness(8), BroadcastQueue(4), events.append
    )
    membership.alive(Alive(1, "local", bytes([10, 0, 0, 1]), 9094, b"", VSN), 0, bootstrap=True)
    for number in range(peers):
        name = f"peer-{number}"
        membership.alive(Alive(1, name, bytes([10, 0, 1, number]), 9094, b"", VSN), 0)
    return membership


def test_membership_uses_the_configured_k_and_floor() -> None:
    # 99 peers + ourselves: N = 100, floor 1.5 x 2 s = 3 s, ceiling 6 x 3 s = 18 s, k = 2.
    membership = _membership(with_suspicion_multiplier(alertmanager_defaults(), 1.5), 99)
    membership.suspect(Suspect(1, "peer-7", "peer-1"), 1_000)
    suspicion = membership.suspicions["peer-7"]
    assert (suspicion.k, suspicion.min_ms, suspicion.max_ms) == (2, 3_000, 18_000)
    assert suspicion.deadline_ms == 19_000
    membership.suspect(Suspect(1, "peer-7", "peer-2"), 1_500)
    membership.suspect(Suspect(1, "peer-7", "peer-3"), 2_000)
    assert suspicion.deadline_ms == 4_000  # two independent confirmations: the floor
    membership.expire_suspicions(3_999)
    assert membership.by_name["peer-7"].state == NodeStateType.SUSPECT
    membership.expire_suspicions(4_000)
    assert membership.by_name["peer-7"].state == NodeStateType.DEAD


def test_memberlist_rule_turns_dynamic_suspicion_off_below_three() -> None:
    # The same multiplier under memberlist's rule (k = 1.5 - 2 -> 0): the floor at once.
    membership = _membership(dataclasses.replace(alertmanager_defaults(), suspicion_mult=1.5), 99)
    membership.suspect(Suspect(1, "peer-7", "peer-1"), 1_000)
    assert membership.suspicions["peer-7"].deadline_ms == 4_000


@pytest.mark.parametrize(
    ("mult", "cluster_size", "expected"),
    [
        # tocsin's rule: k is what the cluster can supply, the ceiling 6x the floor.
        (1.0, 100, (2, 2_000, 12_000)),
        (1.5, 100, (2, 3_000, 18_000)),
        (1.25, 100, (2, 2_500, 15_000)),
        # Never below two probe intervals (1 x log10 30 would be 1.477 s).
        (1.0, 30, (2, 2_000, 12_000)),
        (1.0, 3, (1, 2_000, 12_000)),
        # Nobody else can confirm: never shorter than Alertmanager's 4 probe intervals.
        (1.0, 2, (0, 4_000, 24_000)),
        (6.0, 2, (0, 6_000, 36_000)),
    ],
)
def test_suspicion_window_under_tocsins_rule(
    mult: float, cluster_size: int, expected: tuple[int, int, int]
) -> None:
    config = with_suspicion_multiplier(alertmanager_defaults(), mult)
    assert suspicion_window(config, cluster_size) == expected


@pytest.mark.parametrize(
    ("cluster_size", "expected"),
    [(2, (0, 4_000, 24_000)), (3, (0, 4_000, 24_000)), (100, (2, 8_000, 48_000))],
)
def test_suspicion_window_under_memberlists_rule(cluster_size: int, expected: tuple[int, int, int]) -> None:
    assert suspicion_window(alertmanager_defaults(), cluster_size) == expected


def test_three_member_cluster_waits_for_the_other_members_word() -> None:
    # memberlist would end this suspicion after the bare floor (k = 0 with one other member).
    membership = _membership(with_suspicion_multiplier(alertmanager_defaults(), 1), 2)
    membership.suspect(Suspect(1, "peer-0", "peer-1"), 0)
    assert membership.suspicions["peer-0"].deadline_ms == 12_000
    membership.suspect(Suspect(1, "peer-0", "local"), 500)  # our own probe failed too
    assert membership.suspicions["peer-0"].deadline_ms == 2_000
