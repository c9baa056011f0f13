"""The measurements behind the figures, at sizes small enough for CI."""

from __future__ import annotations

from simulations import experiments


def test_measure_size_sees_every_broadcast_and_the_crash() -> None:
    entry = experiments.measure_size(nodes=5, seed=1)
    assert entry["reached_all"] == experiments.BROADCASTS
    assert len(entry["detection_ms"]) == 4  # every survivor declared the crashed node dead
    # tocsin's defaults among 5: two confirmations bring the suspicion to its 2 s floor, which
    # no death can beat; with none it would last the 12 s ceiling. A probe round or two
    # before the first suspicion and gossip after the death come on top.
    assert all(2_000 <= t <= 8_000 for t in entry["detection_ms"])
    memberlist = experiments.measure_detection(nodes=5, seed=1, memberlist=True)
    # Alertmanager's timing among 5: the 4 s floor once two others confirm, so slower.
    assert all(4_000 <= t <= 10_000 for t in memberlist["detection_ms"])
    assert max(entry["detection_ms"]) < min(memberlist["detection_ms"])
    assert entry["false_deaths"] == 0
    assert entry["packet_bytes_per_node_s"] > 0


def test_lifeguard_spares_healthy_members_from_a_slow_node() -> None:
    with_lifeguard = experiments.measure_lifeguard(nodes=10, seed=1, lifeguard=True)
    plain_swim = experiments.measure_lifeguard(nodes=10, seed=1, lifeguard=False)
    assert with_lifeguard["healthy_suspected"] < plain_swim["healthy_suspected"]
    assert with_lifeguard["healthy_declared_dead"] <= plain_swim["healthy_declared_dead"]


def test_summary_pools_seeds_per_size() -> None:
    results = {
        "sizes": [experiments.measure_size(nodes=3, seed=s) for s in (1, 2)],
        "lifeguard": [experiments.measure_lifeguard(nodes=10, seed=1, lifeguard=g) for g in (True, False)],
    }
    summary = experiments.summarize(results)
    assert summary["by_size"]["3"]["runs"] == 2
    assert summary["by_size"]["3"]["reached_all"] == f"{2 * experiments.BROADCASTS}/{2 * experiments.BROADCASTS}"
    assert set(summary["lifeguard"]) == {"10 lifeguard", "10 swim"}
