"""System image bundles, A/B slots, boot selection, install, upgrade and rollback."""
