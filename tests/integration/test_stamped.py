"""Kernel receive timestamps: the proxy times a request from its arrival, not from when it got round to reading it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from codec import encode_pdu
from proxy.relay.endpoints import TcpAddress, UnixAddress
from proxy.relay.server import ProxyServer
from proxy.relay.stamped import (
    ANCILLARY_SPACE,
    SendStamps,
    enable_receive_timestamps,
    enable_send_timestamps,
    monotonic_arrival,
    widen_key,
)
from tests.support import ScriptedMux

LATE_S = 0.05


def _wait_until_stamping(c: socket.socket, s: socket.socket) -> None:
    """The kernel turns receive stamping on for the whole host lazily, from a work queue, when the
    first socket asks for it: a segment arriving before that carries no stamp (seen for 1-3 in
    200 fresh connections when no other socket had stamps on; the reader then falls back to the
    read time). Send throw-away bytes until one comes stamped."""
    for _ in range(200):
        c.sendall(b"w")
        _, ancillary, _, _ = s.recvmsg(64, ANCILLARY_SPACE)
        none = 1 << 62  # (what monotonic_arrival returns when there is no stamp)
        if monotonic_arrival(ancillary, none) != none:
            return
        time.sleep(0.005)
    raise AssertionError("the kernel never stamped a segment")


def test_recvmsg_carries_the_arrival_time_on_tcp():
    with socket.create_server(("127.0.0.1", 0)) as srv, socket.create_connection(srv.getsockname()) as c:
        s, _ = srv.accept()
        with s:
            assert enable_receive_timestamps(s)
            _wait_until_stamping(c, s)
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


def test_send_stamps_say_when_each_message_left():
    with socket.create_server(("127.0.0.1", 0)) as srv, socket.create_connection(srv.getsockname()) as c:
        s, _ = srv.accept()
        with s:
            assert enable_send_timestamps(c)
            assert enable_receive_timestamps(s)
            assert enable_send_timestamps(s)  # as the emulated client has both: no stamp may be cut off
            c.setblocking(False)
            stamps = SendStamps()
            got: list[tuple[str, int, int, int]] = []
            for token, size in (("a", 10), ("b", 3000), ("c", 1)):
                before = time.monotonic_ns()
                stamps.sent(size, token)
                assert c.send(b"x" * size) == size
                after = time.monotonic_ns()
                got += [(tok, t, before, after) for tok, t in stamps.collect(c)]
            _, ancillary, flags, _ = s.recvmsg(1 << 16, ANCILLARY_SPACE)
            arrived = monotonic_arrival(ancillary, time.monotonic_ns())
    assert not flags & socket.MSG_CTRUNC
    assert [tok for tok, *_ in got] == ["a", "b", "c"]
    for _, t, before, after in got:  # (the realtime stamps are converted: allow a millisecond)
        assert before - 1_000_000 <= t <= after + 1_000_000
    assert arrived >= got[-1][1] - 1_000_000  # received after it left


def test_a_message_that_leaves_in_two_sends_is_stamped_by_its_last_byte():
    with socket.create_server(("127.0.0.1", 0)) as srv, socket.create_connection(srv.getsockname()) as c:
        s, _ = srv.accept()
        with s:
            assert enable_send_timestamps(c)
            c.setblocking(False)
            stamps = SendStamps()
            stamps.sent(8, "small")
            c.send(b"y" * 8)
            big = b"z" * (16 << 20)  # far beyond the socket buffers while the peer does not read
            stamps.sent(len(big), "big")
            first = c.send(big)
            assert 0 < first < len(big)
            assert [tok for tok, _ in stamps.collect(c)] == ["small"]
            partly_sent = time.monotonic_ns()
            time.sleep(LATE_S)
            s.setblocking(False)
            left, stamped = big[first:], []
            deadline = time.monotonic() + 10
            while (left or not stamped) and time.monotonic() < deadline:
                with contextlib.suppress(BlockingIOError):
                    while s.recv(1 << 20):
                        pass
                with contextlib.suppress(BlockingIOError):
                    left = left[c.send(left):]
                stamped += stamps.collect(c)
    assert not left and [tok for tok, _ in stamped] == ["big"]
    # its last byte could not leave before the rest was sent, after the pause
    assert stamped[0][1] >= partly_sent + LATE_S * 1e9 - 1_000_000


def test_send_stamp_keys_widen_past_32_bits():
    assert widen_key(9, 0) == 9
    assert widen_key(5, (1 << 32) + 2) == (1 << 32) + 5
    assert widen_key(3, (1 << 32) - 2) == (1 << 32) + 3  # the key wrapped
    assert widen_key(0xFFFFFFFF, (1 << 33) + 7) == (1 << 33) + 0xFFFFFFFF


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
