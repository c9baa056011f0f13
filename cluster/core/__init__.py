"""The sans-IO gossip core: pure state machines fed with received bytes and `now` (integer
milliseconds), answering deadlines and messages to send. No I/O, no clocks, injected RNG."""
