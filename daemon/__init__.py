"""The application: flags, config, HTTP API, alert store, routing, aggregation, silences,
nflog, inhibition, time intervals, persistence, metrics and the composition root.

May import `cluster` and `notify`; nothing imports `daemon`.
"""
