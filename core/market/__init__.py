"""Market data and what the cycle sees of it: sources (ccxt, offline files), download, timeframes,
indicators, data-quality flags, regime and the point-in-time snapshot.

Imports only `core` models, errors and protocols.
"""
