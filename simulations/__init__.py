"""Simulations of the real sans-IO gossip core (`cluster.core`) at scale, with faults.

Layout (each module may use the ones above it; none imports trio or reads a clock):
    faults       the fault knobs: delay model, loss, duplication, reordering, topology
    replicated   last-writer-wins silences and nflog entries riding on the core's gossip
    simulator    event heap, virtual clock, wall-clock skew, Alertmanager's join/reconnect
    checkers     safety and liveness judges that only read a run
    scenarios    named fault-then-heal runs (`python -m simulations SCENARIO`)
"""
