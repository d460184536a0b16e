"""Fault scenarios against real gateway processes: kill -9, crash points, database outages,
a locked or full SQLite file, SIGTERM with work queued (see conftest.py)."""
