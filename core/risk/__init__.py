"""The risk guard: every limit of DESIGN §5 applied to a decision, sizing an approved intent.

Imports `core` models, config and `core.execution.perp_math`.
"""
