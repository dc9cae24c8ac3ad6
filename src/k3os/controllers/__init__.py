"""Reconcilers that talk to the API through the client layer only."""
