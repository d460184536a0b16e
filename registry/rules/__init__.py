"""Pure rules: names, the stage and experiment state machines, spec checks, value bounds."""
