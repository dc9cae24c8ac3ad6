"""Revisioned key-value store with etcd v3 semantics."""
