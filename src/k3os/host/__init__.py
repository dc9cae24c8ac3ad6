"""Applying a node config to a root filesystem: plan, diff, apply, by boot phase."""
