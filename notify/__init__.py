"""The notification pipeline: stages, receiver integrations, the Go-template engine and the
alert value types.

May import the stdlib, httpx and trio. Never imports `daemon` or `cluster`; it declares the
small Protocols it needs (muters, notification log, cluster gate) and `daemon` supplies them.
"""
