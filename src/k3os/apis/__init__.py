"""The project's own resource types (NodeConfig, Plan, ...) and their CRDs."""
