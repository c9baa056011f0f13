"""The peer's wrapper around the application's delegate: what it answers the core's
`has_broadcasts` (asked on every ping, ack and gossip round) for each kind of delegate, and
that the delegate's optional method is looked up when the delegate is set, not per call."""

from __future__ import annotations

from datetime import UTC, datetime

from cluster.peer import _SettleTracker
from cluster.replication import Replicator

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class _CannotTell:
    """A LocalState without the optional `has_broadcasts`."""

    def local_state(self) -> bytes:
        return b""

    def merge_remote_state(self, data: bytes) -> None:
        pass

    def notify_user_msg(self, data: bytes) -> None:
        pass

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return []


class _Counting(_CannotTell):
    def __init__(self) -> None:
        self.holding = False
        self.lookups = 0

    def __getattribute__(self, name: str) -> object:
        if name == "has_broadcasts":
            object.__setattr__(self, "lookups", object.__getattribute__(self, "lookups") + 1)
        return object.__getattribute__(self, name)

    def has_broadcasts(self) -> bool:
        return self.holding


def test_without_a_delegate_nothing_is_waiting() -> None:
    assert _SettleTracker(None, lambda: None).has_broadcasts() is False


def test_a_delegate_that_cannot_tell_is_asked_every_round() -> None:
    assert _SettleTracker(_CannotTell(), lambda: None).has_broadcasts() is True


def test_a_replicator_answers_from_its_queue() -> None:
    replicator = Replicator(lambda: NOW)
    tracker = _SettleTracker(replicator, lambda: None)
    assert tracker.has_broadcasts() is False
    replicator.queue_broadcast(b"part")
    assert tracker.has_broadcasts() is True


def test_the_optional_method_is_looked_up_once_when_the_delegate_is_set() -> None:
    delegate = _Counting()
    tracker = _SettleTracker(delegate, lambda: None)
    assert delegate.lookups == 1
    for holding in (False, True, False, True):
        delegate.holding = holding
        assert tracker.has_broadcasts() is holding
    assert delegate.lookups == 1


def test_replacing_the_delegate_resolves_its_method_again() -> None:
    tracker = _SettleTracker(_CannotTell(), lambda: None)
    replicator = Replicator(lambda: NOW)
    tracker.inner = replicator
    assert tracker.has_broadcasts() is False
    tracker.inner = None
    assert tracker.has_broadcasts() is False
    assert tracker.inner is None
