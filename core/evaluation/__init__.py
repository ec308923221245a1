"""Evaluation: replay over history, its bar feed, metrics, the report and baselines.

May import every other `core` subpackage; nothing in `core` imports it but the services' factories.
"""
