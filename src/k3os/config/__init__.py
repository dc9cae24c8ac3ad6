"""Node config: the k3OS config.yaml schema, its sources, merge rules and validation."""
