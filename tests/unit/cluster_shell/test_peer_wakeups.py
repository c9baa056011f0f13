"""An idle cluster's peers wake only for what memberlist does on the wire: a probe a second
(plus the rare push/pull), not for every gossip round with nothing to send nor for every
packet received. Counted in virtual time on the in-memory network."""

from __future__ import annotations

import collections

import trio
import trio.testing

from cluster.testing import MemoryNetwork
from tests.unit.cluster_shell.test_peer_memory import addresses, start, until

CLOCK_LOOP_TASK = "cluster.peer.Peer._clock_loop"
RECONNECT_TASK = "cluster.peer.Peer._reconnect_while_peers_failed"
PEERS = 3
IDLE_SECONDS = 30
FORM_TIMEOUT_SECONDS = 10.0
# One probe per second per peer; push/pull (every 60 s, randomly staggered) and the odd
# late ack add a little.
MAX_CLOCK_WAKEUPS_PER_PEER_SECOND = 1.2
# The in-memory network delivers in well under this; a regular gossip round may be 200 ms away.
EAGER_REACH_SECONDS = 0.02


class StepCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps: collections.Counter[str] = collections.Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task.name] += 1


async def test_idle_cluster_wakes_once_a_probe(autojump_clock: trio.testing.MockClock) -> None:
    network = MemoryNetwork(seed=3)
    async with trio.open_nursery() as nursery:
        replicas = [await start(nursery, network, i, addresses(PEERS)) for i in range(PEERS)]
        await until(lambda: all(len(r.peer.members()) == PEERS for r in replicas), FORM_TIMEOUT_SECONDS)
        await trio.sleep(FORM_TIMEOUT_SECONDS)  # membership news runs out its transmits
        counter = StepCounter()
        packets_before = network.packets_sent
        trio.lowlevel.add_instrument(counter)
        await trio.sleep(IDLE_SECONDS)
        trio.lowlevel.remove_instrument(counter)
        packets = network.packets_sent - packets_before
        # Every peer still probes every second: a ping and an ack each.
        assert packets >= 2 * PEERS * IDLE_SECONDS * 0.9
        assert counter.steps[CLOCK_LOOP_TASK] <= MAX_CLOCK_WAKEUPS_PER_PEER_SECOND * PEERS * IDLE_SECONDS
        assert counter.steps[CLOCK_LOOP_TASK] >= PEERS * IDLE_SECONDS * 0.9
        # Nobody failed, so the reconnect loop (every 10 s in Alertmanager) sleeps.
        assert counter.steps[RECONNECT_TASK] == 0
        nursery.cancel_scope.cancel()


async def test_broadcast_queued_while_idle_goes_out_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = MemoryNetwork(seed=4)
    async with trio.open_nursery() as nursery:
        replicas = [await start(nursery, network, i, addresses(PEERS)) for i in range(PEERS)]
        await until(lambda: all(len(r.peer.members()) == PEERS for r in replicas), FORM_TIMEOUT_SECONDS)
        await trio.sleep(FORM_TIMEOUT_SECONDS)
        assert not replicas[2].peer.node.has_broadcasts()
        replicas[2].add(b"while-idle")
        took = await until(lambda: all(b"while-idle" in r.state.items for r in replicas), 2.0, step_s=0.001)
        # An eager gossip round carries it at once, not the next regular round (up to 200 ms
        # away; what Alertmanager waits for).
        assert took <= EAGER_REACH_SECONDS
        nursery.cancel_scope.cancel()
