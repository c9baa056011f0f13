"""Fan-out: many groups falling due at once start flushing in passes, so the first
notifications go out while later groups are still being started."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import trio
import trio.testing

from daemon.alerts import AlertStore
from daemon.config.model import RouteConfig
from daemon.dispatch import FLUSHES_STARTED_PER_PASS, Dispatcher
from daemon.routing import Route
from notify.context import FlushContext
from notify.model import Alert

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


async def test_due_groups_start_in_passes(autojump_clock: trio.testing.MockClock) -> None:
    group_total = 3 * FLUSHES_STARTED_PER_PASS
    origin = trio.current_time()

    def wall_clock() -> datetime:
        return T0 + timedelta(seconds=trio.current_time() - origin)

    store = AlertStore()
    dispatcher = Dispatcher(
        Route.from_config(
            RouteConfig(receiver="hook", group_by=["instance"], group_wait=timedelta(seconds=1))
        ),
        store,
        {},
        wall_clock,
    )
    flushing_at_first_notify: list[int] = []
    notified: list[str] = []

    class Recording:
        async def notify(self, ctx: FlushContext, alerts: Sequence[Alert]) -> bool:
            if not flushing_at_first_notify:
                views, _ = dispatcher.groups()
                flushing_at_first_notify.append(sum(view.group.flushing for view in views))
            notified.append(ctx.group_key)
            return True

    dispatcher._notifiers = {"hook": Recording()}
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        now = wall_clock()
        await store.put(
            [
                Alert(
                    {"alertname": "A", "instance": str(index)},
                    starts_at=now,
                    ends_at=now + timedelta(hours=1),
                    updated_at=now,
                )
                for index in range(group_total)
            ],
            now,
        )
        await trio.sleep(1.5)
        dispatcher.stop()
    assert len(notified) == group_total
    # Without passes every group would be flushing before the first notification started.
    assert flushing_at_first_notify[0] < group_total
