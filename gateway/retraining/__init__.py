"""Retraining: train a candidate in a separate process, validate it, register it with lineage.

Kept free of imports: a trainer's child process imports ``gateway.retraining.trainer`` and
``request`` only, never the engine (onnxruntime, the registry) it does not need.
"""
