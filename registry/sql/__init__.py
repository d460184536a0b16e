"""SQL run inside one transaction the store opens: lookups, events, experiments, the log."""
