"""The public registry: one transaction per method, frozen entities out."""
