"""Tests of the converters package."""
