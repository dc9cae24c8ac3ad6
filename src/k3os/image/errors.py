"""The errors of the image room, one tree so callers catch exactly what they can handle.

ImageError                  anything this room refuses or fails to do
├── BundleError             a bundle file is malformed (bad tar, bad manifest field)
│   ├── SignatureError      the manifest signature does not verify
│   ├── UntrustedKeyError   the manifest is signed by a key that is not trusted
│   └── ChecksumError       a part's size or sha256 differs from the manifest
├── KeyFileError            a key file cannot be read or written
├── StateError              the state area is missing, inconsistent or refuses the change
├── DownloadError           a bundle could not be fetched
├── InstallError            partitioning, formatting or writing a disk failed
└── ConfigFileError         the node config given to the installer is not valid YAML
"""

from __future__ import annotations


class ImageError(Exception):
    """Base of every error raised by k3os.image."""


class BundleError(ImageError):
    """A bundle (or an installed version) is malformed."""


class SignatureError(BundleError):
    """The detached signature does not match the manifest."""


class UntrustedKeyError(BundleError):
    """The manifest was signed by a key that is not in the trusted set."""


class ChecksumError(BundleError):
    """A part's size or sha256 differs from what the manifest promises."""


class KeyFileError(ImageError):
    """A key file is missing, unreadable, of the wrong kind, or already exists."""


class StateError(ImageError):
    """The state area cannot carry out the requested change."""


class BusyError(StateError):
    """Another process holds the state area's lock."""


class DownloadError(ImageError):
    """Fetching a bundle failed (network, HTTP status, short body)."""


class InstallError(ImageError):
    """Writing a disk failed: partitioning, loop devices, formatting or copying."""


class ConfigFileError(ImageError):
    """The node config file is not a valid YAML mapping."""
