"""Pictures and pages of evaluation runs (report.png).

Imports `core` only.
"""
