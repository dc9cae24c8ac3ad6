"""Send the certificate as configured: no chain built at every handshake.

OpenSSL, when a context's certificate comes without chain certificates, builds the chain to
send on every handshake from the same trust store that verifies the peer. Here that store
holds the cluster CA, which signed both ends' certificates, so every handshake ran a chain
verification of its own certificate and sent the CA beside it; the peer then parsed a
certificate it already trusts. With OpenSSL 3.0 that is ~30 % of a handshake's work on each
end (`scripts/bench security`, `tls/handshake-*`). The peers of this cluster hold the CA
(kubeconfigs, agents, the join's pinned hash): the leaf alone is what they need.

Python's `ssl` has no call for the mode that turns this off (`SSL_MODE_NO_AUTO_CHAIN`), so
`send_leaf_only` sets it through the interpreter's own libssl, on the `SSL_CTX` that
CPython's context object holds first. It checks before it writes: CPython, a build with the
GIL and no reference tracing (whose object header it knows), the `_ssl` module as a shared
library, and the pointer it found answering with the context's own options. Where any of
that fails it changes nothing, and the handshake is as before: correct, only dearer.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import platform
import ssl
import sys
import sysconfig
from typing import Any

log = logging.getLogger(__name__)

_SSL_CTRL_MODE = 33  # SSL_CTX_set_mode is SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, mode, NULL)
_SSL_MODE_NO_AUTO_CHAIN = 0x8


@functools.cache
def _libssl() -> Any | None:
    """The libssl that `ssl` uses, or None when it cannot be reached."""
    if (
        platform.python_implementation() != "CPython"
        or sysconfig.get_config_var("Py_GIL_DISABLED")
        or hasattr(sys, "getobjects")  # a Py_TRACE_REFS build: a longer object header
    ):
        return None
    import _ssl

    path = getattr(_ssl, "__file__", None)
    if not path:  # built into the interpreter: no library of its own to look in
        return None
    try:
        lib = ctypes.CDLL(path)  # already loaded: its symbols and its libssl's
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError) as e:
        log.debug("libssl not reachable through %s: %s", path, e)
        return None
    return lib


def _ssl_ctx(ctx: ssl.SSLContext, lib: Any) -> int | None:
    """The `SSL_CTX *` of `ctx`: the first field after CPython's object header."""
    header = 2 * ctypes.sizeof(ctypes.c_ssize_t)  # ob_refcnt, ob_type
    pointer = ctypes.c_void_p.from_address(id(ctx) + header).value
    if not pointer or lib.SSL_CTX_get_options(pointer) != int(ctx.options):
        return None
    return int(pointer)


def send_leaf_only(ctx: ssl.SSLContext) -> bool:
    """Make `ctx` send its certificate (and any chain loaded with it) without building a
    chain from its trust store at each handshake. True if the mode was set."""
    lib = _libssl()
    if lib is None:
        return False
    pointer = _ssl_ctx(ctx, lib)
    if pointer is None:
        log.debug("no SSL_CTX found in %r: the chain is built per handshake", ctx)
        return False
    mode = lib.SSL_CTX_ctrl(pointer, _SSL_CTRL_MODE, _SSL_MODE_NO_AUTO_CHAIN, None)
    return bool(mode & _SSL_MODE_NO_AUTO_CHAIN)
