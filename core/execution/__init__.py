"""Execution: the paper broker and its book, the exit ladder, perps math, the exchange broker and its
orders, ledger, reconciliation, the live-trading gate and the dry-run broker switch.

Imports `core` models/protocols and `core.risk`; never services or evaluation.
"""
