"""Statistics: shapes, unbinned fits (iminuit), binned models (pyhf), significance, limits, scans.

Nothing here knows about a particular analysis.
"""
