"""System image bundles, A/B slots, boot selection, install, upgrade and rollback.

The public surface is small; the CLI and the agent use these names only.
"""

from k3os.image.bundle import VerifiedBundle, build_bundle, build_from_rootfs, verify_bundle
from k3os.image.errors import (
    BundleError,
    BusyError,
    ChecksumError,
    ConfigFileError,
    DownloadError,
    ImageError,
    InstallError,
    KeyFileError,
    SignatureError,
    StateError,
    UntrustedKeyError,
)
from k3os.image.health import HealthSpec, confirm
from k3os.image.selection import BootDecision, BootRecord, BootView, select_boot
from k3os.image.state import StateArea
from k3os.image.upgrade import rollback, upgrade

__all__ = [
    "BootDecision",
    "BootRecord",
    "BootView",
    "BundleError",
    "BusyError",
    "ChecksumError",
    "ConfigFileError",
    "DownloadError",
    "HealthSpec",
    "ImageError",
    "InstallError",
    "KeyFileError",
    "SignatureError",
    "StateArea",
    "StateError",
    "UntrustedKeyError",
    "VerifiedBundle",
    "build_bundle",
    "build_from_rootfs",
    "confirm",
    "rollback",
    "select_boot",
    "upgrade",
    "verify_bundle",
]
