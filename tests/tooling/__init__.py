"""Test tooling: helpers that give tests real components (kubectl, etcd, servers)."""
