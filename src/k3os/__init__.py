"""k3os: an edge OS whose configuration and upgrades are Kubernetes resources.

The package is split into rooms (see DESIGN.md); import from the room you need.
"""

from k3os._version import __version__

__all__ = ["__version__"]
