"""Serving: the pool of loaded versions, the routing snapshot, and the one Predict path."""
