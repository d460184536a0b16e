"""Work the gateway does by itself, through the same use cases as every door."""
