"""``muxscope proxy --event-loop``: the relay is byte-exact on uvloop and on asyncio's loop, and keeps
the bytes a client sends before the upstream is connected, in a relay process that stays small.

The regression: under uvloop an accepted socket can report data before its relay exists (pausing in
``connection_made`` does not hold there); the side dropped it, and a client that wrote at once then
waited for an answer that never came.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from pathlib import Path

import pytest

from proxy import eventloop
from tests.components import missing
from tests.integration.test_proxy_cli import ProxyProc

pytestmark = pytest.mark.integration

LOOPS = ["asyncio", "uvloop"]


def _echo_server(path: Path) -> socket.socket:
    """Echoes every byte back; ends its half when the client ends its own."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(16)

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv


def _round_trip(path: Path, data: bytes, chunked: bool) -> bytes:
    """Connect, write ``data`` at once (before the proxy can have an upstream), half-close, read all."""
    got = bytearray()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        reader = threading.Thread(target=lambda: _read_all(s, got))
        reader.start()
        rnd = random.Random(len(data))
        pos = 0
        while pos < len(data):
            n = rnd.choice((1, 100, 4096, 65536, 1 << 20)) if chunked else len(data)
            s.sendall(data[pos : pos + n])
            pos += n
        s.shutdown(socket.SHUT_WR)
        reader.join(15)
    return bytes(got)


def _read_all(s: socket.socket, out: bytearray) -> None:
    while chunk := s.recv(1 << 16):
        out += chunk


@pytest.mark.parametrize("loop", LOOPS)
def test_relays_byte_exact_and_keeps_early_bytes(tmp_path, loop):
    if loop == "uvloop" and not eventloop.uvloop_available():
        missing("uvloop is not installed (pip install 'muxscope[fast]'; the test extra installs it)")
    srv = _echo_server(tmp_path / "echo.sock")
    listen = tmp_path / "p.sock"
    p = ProxyProc(tmp_path, "--listen", f"unix:{listen}", "--upstream", f"unix:{tmp_path / 'echo.sock'}",
                  "--event-loop", loop)
    try:
        asyncio.run(p.started())
        assert p.events("event_loop")[0]["loop"] == loop
        rnd = random.Random(3)
        small = rnd.randbytes(300)  # arrives with the connect: before the upstream exists
        assert _round_trip(listen, small, chunked=False) == small
        for _ in range(5):  # several, since the race is a race
            assert _round_trip(listen, b"\x03\x01\x01", chunked=False) == b"\x03\x01\x01"
        big = rnd.randbytes(3 << 20)
        assert _round_trip(listen, big, chunked=True) == big
        # the relay's process stays small (#13: under 60 MB): it imports no SSH, TLS-PKI or emulator code
        status = Path(f"/proc/{p.pid}/status").read_text()
        peak_kb = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM:")).split()[1])
        assert peak_kb < 60 * 1024, peak_kb
        maps = Path(f"/proc/{p.pid}/maps").read_text()
        assert "cryptography" not in maps and "asyncssh" not in maps
    finally:
        p.kill()
        srv.close()
