"""Kernel receive timestamps: the proxy times a request from its arrival, not from when it got round to reading it."""

from __future__ import annotations

import asyncio
import socket
import time

from codec import encode_pdu
from proxy.endpoints import TcpAddress, UnixAddress
from proxy.server import ProxyServer
from proxy.stamped import ANCILLARY_SPACE, enable_receive_timestamps, monotonic_arrival
from tests.support import ScriptedMux

LATE_S = 0.05


def test_recvmsg_carries_the_arrival_time_on_tcp():
    with socket.create_server(("127.0.0.1", 0)) as srv, socket.create_connection(srv.getsockname()) as c:
        s, _ = srv.accept()
        with s:
            assert enable_receive_timestamps(s)
            sent = time.monotonic_ns()
            c.sendall(b"ping")
            time.sleep(LATE_S)
            data, ancillary, _, _ = s.recvmsg(64, ANCILLARY_SPACE)
            read = time.monotonic_ns()
            arrived = monotonic_arrival(ancillary, read)
    assert data == b"ping"
    assert sent <= arrived + 1_000_000  # (the two clocks are converted: allow a millisecond)
    assert read - arrived >= LATE_S * 1e9 * 0.8  # the stamp is the arrival, not the read


def test_unix_sockets_have_no_stamps_and_the_read_time_stands():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert not enable_receive_timestamps(b)
        a.sendall(b"x")
        _, ancillary, _, _ = b.recvmsg(8, ANCILLARY_SPACE)
        assert monotonic_arrival(ancillary, 123) == 123


class _Recorder:
    """The tap's interface, keeping what the relay hands it."""

    def __init__(self) -> None:
        self.chunks: list[tuple[str, int, bytes]] = []

    def open(self, conn_id: int, info: dict) -> None:
        pass

    def close(self, conn_id: int, info: dict) -> None:
        pass

    def submit(self, conn_id: int, direction: str, t_ns: int, data: bytes) -> None:
        self.chunks.append((direction, t_ns, data))


def test_the_relay_stamps_a_request_when_it_arrived_although_the_proxy_read_it_late(tmp_path):
    async def main() -> tuple[int, int, int, list[tuple[str, int, bytes]]]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        tap = _Recorder()
        server = ProxyServer(TcpAddress("127.0.0.1", 0), UnixAddress(str(tmp_path / "mux.sock")), tap=tap)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(encode_pdu("Ping", {}, 1))
            await writer.drain()
            await asyncio.sleep(0.1)  # the relay is up
            second = encode_pdu("Ping", {}, 2)
            before = time.monotonic_ns()
            writer.write(second)  # (asyncio sends at once: loopback delivers within the call)
            sent = time.monotonic_ns()
            time.sleep(LATE_S)  # the proxy's event loop (this one) is busy: it reads the request late
            busy_until = time.monotonic_ns()
            await asyncio.wait_for(reader.readexactly(2 * len(encode_pdu("Pong", {}, 1))), 5)
            writer.close()
            await server.wait_idle()
        finally:
            await server.stop()
            await mux.stop()
        return before, sent, busy_until, [c for c in tap.chunks if c[0] == "server_to_client" or c[2] == second]

    before, sent, busy_until, chunks = asyncio.run(main())
    second = [t for direction, t, _ in chunks if direction == "client_to_server"]
    assert second, chunks
    assert second[-1] < busy_until - LATE_S * 1e9 * 0.8, "stamped when read, not when it arrived"
    assert before - 1_000_000 <= second[-1] <= sent + 1_000_000  # (clock conversion: a millisecond)
    replies = [t for direction, t, _ in chunks if direction == "server_to_client"]
    assert replies and replies[-1] >= busy_until  # the reply came after: read (and stamped) on time
