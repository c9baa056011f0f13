"""Alert store (merge or replace, subscriptions, GC) and the marker."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing

from daemon.alerts import SUBSCRIBER_BUFFER_BATCHES, AlertStore, AlertUpdate
from daemon.marker import (
    STATE_ACTIVE,
    STATE_SUPPRESSED,
    STATE_UNPROCESSED,
    AlertStatus,
    Marker,
)
from notify.model import ZERO_TIME, Alert, fingerprint

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(
    name: str = "A",
    starts: float = 0,
    ends: float | None = None,
    updated: float = 0,
    timeout: bool = False,
    **annotations: str,
) -> Alert:
    return Alert(
        labels={"alertname": name},
        annotations=dict(annotations),
        starts_at=at(starts),
        ends_at=ZERO_TIME if ends is None else at(ends),
        updated_at=at(updated),
        timeout=timeout,
    )


FP_A = fingerprint({"alertname": "A"})


async def test_put_stores_by_fingerprint() -> None:
    store = AlertStore()
    await store.put([alert("A", ends=30), alert("B", ends=30)], at(0))
    assert len(store) == 2
    stored = store.get(FP_A)
    assert stored is not None and stored.labels == {"alertname": "A"}
    assert FP_A in store
    assert sorted(a.labels["alertname"] for a in store) == ["A", "B"]
    assert store.get(12345) is None


async def test_overlapping_repost_merges_keeping_explicit_end_and_earliest_start() -> None:
    store = AlertStore()
    await store.put([alert(starts=0, ends=30, updated=0, summary="old")], at(0))
    # Re-posted without an end time (timeout end inside the old interval, later update).
    await store.put([alert(starts=5, ends=20, updated=6, timeout=True, summary="new")], at(6))
    merged = store.get(FP_A)
    assert merged is not None
    assert merged.starts_at == at(0)
    assert merged.ends_at == at(30)
    assert merged.annotations == {"summary": "new"}
    assert merged.updated_at == at(6)


async def test_overlapping_explicit_resolution_wins_over_timeout_end() -> None:
    store = AlertStore()
    await store.put([alert(starts=0, ends=30, updated=0, timeout=True)], at(0))
    await store.put([alert(starts=0, ends=7, updated=8)], at(8))
    merged = store.get(FP_A)
    assert merged is not None
    assert (merged.starts_at, merged.ends_at) == (at(0), at(7))


async def test_non_overlapping_repost_replaces() -> None:
    store = AlertStore()
    await store.put([alert(starts=0, ends=10, updated=0, summary="first")], at(0))
    await store.put([alert(starts=20, ends=40, updated=20, summary="second")], at(20))
    replaced = store.get(FP_A)
    assert replaced is not None
    assert (replaced.starts_at, replaced.ends_at) == (at(20), at(40))
    assert replaced.annotations == {"summary": "second"}


async def test_same_start_later_end_is_not_strictly_inside_so_it_replaces() -> None:
    store = AlertStore()
    await store.put([alert(starts=0, ends=10, updated=0, summary="first")], at(0))
    await store.put([alert(starts=0, ends=15, updated=1, timeout=True)], at(1))
    replaced = store.get(FP_A)
    assert replaced is not None
    assert replaced.ends_at == at(15) and replaced.timeout
    assert replaced.annotations == {}


async def test_subscription_gets_snapshot_then_updates_with_fingerprints() -> None:
    store = AlertStore()
    await store.put([alert("A", ends=30)], at(0))
    subscription = store.subscribe()
    first = subscription.receive_nowait()
    assert [update.fingerprint for update in first] == [FP_A]
    await store.put([alert("B", ends=30), alert("C", ends=30)], at(1))
    second = subscription.receive_nowait()
    assert [update.alert.labels["alertname"] for update in second] == ["B", "C"]
    assert all(update.fingerprint == update.alert.fingerprint() for update in second)
    with pytest.raises(trio.WouldBlock):
        subscription.receive_nowait()


async def test_empty_store_subscription_has_no_snapshot_batch() -> None:
    store = AlertStore()
    subscription = store.subscribe()
    with pytest.raises(trio.WouldBlock):
        subscription.receive_nowait()


async def test_closed_subscription_is_dropped() -> None:
    store = AlertStore()
    subscription = store.subscribe()
    subscription.close()
    await store.put([alert("A", ends=30)], at(0))
    await store.put([alert("B", ends=30)], at(0))
    assert len(store) == 2


async def test_full_subscriber_applies_back_pressure_to_put() -> None:
    store = AlertStore()
    subscription = store.subscribe()
    for index in range(SUBSCRIBER_BUFFER_BATCHES):
        await store.put([alert(f"A{index}", ends=30)], at(0))
    finished = trio.Event()

    async def blocked_put() -> None:
        await store.put([alert("last", ends=30)], at(0))
        finished.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked_put)
        await trio.testing.wait_all_tasks_blocked()
        assert not finished.is_set()
        # Stored already: only the hand-over waits.
        assert len(store) == SUBSCRIBER_BUFFER_BATCHES + 1
        await subscription.receive()
        await finished.wait()


async def test_gc_drops_resolved_alerts_and_their_marker_state() -> None:
    marker = Marker()
    deleted: list[AlertUpdate] = []
    store = AlertStore(marker, on_deleted=deleted.append)
    await store.put([alert("A", ends=5), alert("B", ends=30)], at(0))
    fp_b = fingerprint({"alertname": "B"})
    marker.set_silenced(FP_A, ["s1"])
    marker.set_silenced(fp_b, [])
    removed = store.gc(at(5))  # an end time equal to now counts as resolved
    assert [update.fingerprint for update in removed] == [FP_A]
    assert deleted == removed
    assert store.get(FP_A) is None and store.get(fp_b) is not None
    assert marker.status(FP_A).state == STATE_UNPROCESSED
    assert marker.status(fp_b).state == STATE_ACTIVE


async def test_run_gc_in_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    store = AlertStore()
    await store.put([alert("A", ends=1)], at(0))

    def wall_clock() -> datetime:
        return T0 + timedelta(seconds=trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.run_gc, 30.0, wall_clock)
        await trio.sleep(45)
        assert len(store) == 1  # GC at t=30s: the alert ends at t=60s
        await trio.sleep(30)
        assert len(store) == 0  # GC at t=60s
        nursery.cancel_scope.cancel()


async def test_count_by_marker_state_ignores_resolved() -> None:
    marker = Marker()
    store = AlertStore(marker)
    await store.put([alert("A", ends=30), alert("B", ends=30), alert("C", ends=1)], at(0))
    marker.set_silenced(FP_A, ["s"])
    assert store.count(STATE_SUPPRESSED, at(2)) == 1
    assert store.count(STATE_UNPROCESSED, at(2)) == 1  # C is resolved at 2
    assert store.count(STATE_UNPROCESSED, at(0)) == 2


def test_marker_states() -> None:
    marker = Marker()
    assert marker.status(1) == AlertStatus(STATE_UNPROCESSED)
    assert marker.status(1).to_api() == {"inhibitedBy": [], "silencedBy": [], "state": "unprocessed"}
    marker.set_silenced(1, ["b-id", "a-id"])
    assert marker.status(1).state == STATE_SUPPRESSED
    assert marker.status(1).silenced_by == ("a-id", "b-id")
    marker.set_inhibited(1, ["00000000000000ff"])
    marker.set_silenced(1, [])
    # Still inhibited, so still suppressed.
    assert marker.status(1).state == STATE_SUPPRESSED
    assert marker.is_inhibited(1) and not marker.is_silenced(1)
    marker.set_inhibited(1, [])
    assert marker.status(1).state == STATE_ACTIVE and marker.is_active(1)
    assert marker.status(1).to_api() == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    marker.set_active_or_silenced(2, ["x"], pending_silences=["p"], silences_version=7)
    status = marker.status(2)
    assert status.pending_silences == ("p",) and status.silences_version == 7
    assert marker.count() == 2
    assert marker.count(STATE_ACTIVE) == 1
    assert marker.count(STATE_ACTIVE, STATE_SUPPRESSED) == 2
    marker.delete(2)
    marker.delete(99)  # unknown: no error
    assert len(marker) == 1


def test_statuses_are_values() -> None:
    status = AlertStatus(STATE_ACTIVE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.state = STATE_SUPPRESSED  # type: ignore[misc]


async def test_put_blocked_on_a_subscriber_that_goes_away_completes() -> None:
    store = AlertStore()
    subscription = store.subscribe()
    for index in range(SUBSCRIBER_BUFFER_BATCHES):
        await store.put([alert(f"A{index}", ends=30)], at(0))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.put, [alert("last", ends=30)], at(0))
        await trio.testing.wait_all_tasks_blocked()
        subscription.close()  # e.g. the dispatcher stopped for a config reload
    await store.put([alert("after", ends=30)], at(0))
    assert len(store) == SUBSCRIBER_BUFFER_BATCHES + 2


async def test_close_ends_subscriptions() -> None:
    store = AlertStore()
    subscription = store.subscribe()
    store.close()
    batches = [batch async for batch in subscription]
    assert batches == []
