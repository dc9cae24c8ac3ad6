"""The event loop the server's processes run on.

`k3os server` and its API workers run on uvloop: its event loop and TLS transport are
compiled, where asyncio's selector loop and TLS protocol are Python. In a fleet's rollout
that is most of what an API worker does besides the API itself (handshakes of the watches
rebooted agents open again, one TLS record and one send per event and answer); measured in
`scripts/bench fleet` (docs/benchmarks.md, Fleet). Tests that run a server inside pytest
keep asyncio's loop, so both stay exercised.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_server_loop(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a uvloop event loop."""
    import uvloop

    return uvloop.run(main)
