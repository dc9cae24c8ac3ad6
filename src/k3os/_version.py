"""The one place the k3os version is written."""

__version__ = "0.1.0"
