"""Kubernetes-compatible HTTP API served on the revisioned store."""
