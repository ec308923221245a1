"""Services that tie the stages together: the trading cycle, the control service (freqtrade's rpc layer),
the track record and the in-memory stores replay and demo use.

Imports the stage subpackages; imported by `bot`, `handlers`, `jobs`.
"""
