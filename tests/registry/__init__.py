"""Tests of the registry package, run on SQLite and PostgreSQL."""
