"""Experiment lifecycle in the gateway: live results, the monitor loop, auto-promotion."""
