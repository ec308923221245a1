"""Services that tie the stages together: the trading cycle, the control service (freqtrade's rpc layer),
the audited state change both use, the track record, the durable outbox's types, the values of the pulse and
daily posts, and the in-memory stores replay and demo use.

Imports `core.risk` and below (never `core.evaluation`); imported by `core.evaluation`, `bot`, `handlers`,
`jobs`, `storage`.
"""
