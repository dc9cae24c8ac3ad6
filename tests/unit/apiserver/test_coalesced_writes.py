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


async def test_an_http2_response_leaves_in_one_write() -> None:
    """HEADERS, DATA and the stream's end of one answer: one write (a TLS record and a
    send), not three."""
    import h2.config
    import h2.connection
    import h2.events
    import uvicorn
    from uvicorn.server import ServerState

    from k3os.apiserver.server import PeerCertH2Protocol

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        assert callable(send)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    protocol = PeerCertH2Protocol(config=config, server_state=ServerState(),
                                  app_state={}, _loop=asyncio.get_running_loop())  # fmt: skip
    real = _Recording()
    protocol.connection_made(real)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "https"),
                            (":authority", "k3os")], end_stream=True)  # fmt: skip
    protocol.data_received(client.data_to_send())
    for _ in range(20):  # the app's task runs and answers
        await asyncio.sleep(0)
    answer = [w for w in real.writes if b"ok" in w]
    assert len(answer) == 1
    at = real.writes.index(answer[0])
    client.receive_data(b"".join(real.writes[:at]))  # the server's SETTINGS
    events = client.receive_data(answer[0])
    kinds = {type(e) for e in events}
    # HEADERS, DATA and the stream's end, all in that one write.
    assert {h2.events.ResponseReceived, h2.events.DataReceived, h2.events.StreamEnded} <= kinds
    assert b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived)) == b"ok"
