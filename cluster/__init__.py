"""Membership (SWIM with Lifeguard's refinements), gossip broadcast, push-pull anti-entropy,
replicated-state channels, encryption and transport.

May import the stdlib, msgpack, cryptography and (in the shell modules only) trio. Never
imports `daemon` or `notify`. `cluster.core` is sans-IO: no trio, sockets, clocks or threads.
"""
