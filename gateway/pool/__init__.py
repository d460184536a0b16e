"""The model pool: loaded versions, the immutable routing snapshot, and its reconciler."""
