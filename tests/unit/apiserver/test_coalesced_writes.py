"""What one turn of the event loop writes to a connection leaves as one write."""

from __future__ import annotations

import asyncio

from k3os.apiserver.server import _CoalescedWrites


class _Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_a_turns_writes_leave_together_at_its_end() -> None:
    real = _Recording()
    coalesced = _CoalescedWrites(real, asyncio.get_running_loop())
    coalesced.write(b"HTTP/1.1 200 OK\r\n\r\n")
    coalesced.write(b"body")
    assert real.writes == []  # held until the turn ends
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    coalesced.write(b"next")
    await asyncio.sleep(0)
    assert real.writes[-1] == b"next"  # a lone write is passed as it is


async def test_close_sends_what_is_held_first_and_nothing_after() -> None:
    real = _Recording()
    coalesced = _CoalescedWrites(real, asyncio.get_running_loop())
    coalesced.write(b"last words")
    coalesced.close()
    assert (real.writes, real.closed, coalesced.is_closing()) == ([b"last words"], True, True)
    coalesced.write(b"too late")
    await asyncio.sleep(0)
    assert real.writes == [b"last words"]


async def test_everything_else_is_the_transports() -> None:
    real = _Recording()
    coalesced = _CoalescedWrites(real, asyncio.get_running_loop())
    assert coalesced.get_extra_info("peername") == ("127.0.0.1", 1)
