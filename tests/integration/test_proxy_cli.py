"""``muxscope proxy`` as a process: listen forms, exec upstreams, signals, user errors,
half-close and backpressure, all through ``python -m proxy.cli proxy ...``.

Every proxy process is killed in a ``finally``; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from codec import encode_pdu
from tests.components import free_port
from tests.support import ScriptedMux

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

#: A mux peer on stdin/stdout, for ``--upstream exec:``: answers each Ping with a
#: Pong (or, with --after-eof, only once its stdin has ended), writes a line to
#: stderr when it starts and when it ends, and exits with the status given.
PEER = r'''
import os, sys
from codec import PduStream, encode_pdu
from codec.pdu import Pdu

args = sys.argv[1:]
after_eof = "--after-eof" in args
banner = "--banner" in args
status = int([a for a in args if not a.startswith("--")][0]) if any(not a.startswith("--") for a in args) else 0
out = sys.stdout.buffer
print(f"peer {os.getpid()} started", file=sys.stderr, flush=True)
if banner:
    out.write(encode_pdu("Pong", {}, 0))  # unsolicited, before the client has said anything
    out.flush()
stream = PduStream()
held = []
pings = 0
while data := os.read(0, 65536):
    for pdu in stream.feed(data):
        if isinstance(pdu, Pdu) and pdu.name == "Ping":
            pings += 1
            reply = encode_pdu("Pong", {}, pdu.serial)
            if after_eof:
                held.append(reply)
            else:
                out.write(reply)
                out.flush()
for reply in held:
    out.write(reply)
out.flush()
print(f"peer {os.getpid()} done after {pings} pings", file=sys.stderr, flush=True)
sys.exit(status)
'''


def pings(serials: range) -> tuple[bytes, bytes]:
    """(the Ping requests, the Pong answers they should get)."""
    req = b"".join(encode_pdu("Ping", {}, s) for s in serials)
    resp = b"".join(encode_pdu("Pong", {}, s) for s in serials)
    return req, resp


class ProxyProc:
    """``muxscope proxy`` in a child process, JSON logs in a file we can read."""

    _n = 0

    def __init__(self, tmp_path: Path, *args: str, log_file: bool = True, stdio: bool = False) -> None:
        ProxyProc._n += 1
        self.log_path = tmp_path / f"proxy{ProxyProc._n}.log"
        cmd = [sys.executable, "-m", "proxy.cli", "proxy", *args]
        if log_file:
            cmd += ["--log-format", "json", "--log-file", str(self.log_path)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=ENV,
            stdin=subprocess.PIPE if stdio else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdio else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        try:
            text = self.log_path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                ev = json.loads(line)
                if name is None or ev.get("event") == name:
                    out.append(ev)
        return out

    async def wait_event(self, name: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events(name)
            if len(evs) >= count:
                return evs
            if self.proc.poll() is not None:
                raise AssertionError(f"proxy exited ({self.proc.returncode}) before {name!r}: {self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {name!r} event within {timeout}s; log: {self.events()}")
            await asyncio.sleep(0.02)

    async def started(self) -> str:
        """Wait for ``listening``; return the bound address (e.g. ``tcp:127.0.0.1:40123``)."""
        return (await self.wait_event("listening"))[0]["listen"]

    async def wait_exit(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"proxy still running after {timeout}s")
            await asyncio.sleep(0.02)
        return self.proc.returncode

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                with contextlib.suppress(Exception):
                    f.close()


@contextlib.asynccontextmanager
async def proxy_before_mux(tmp_path: Path, *proxy_args: str, mux: ScriptedMux | None = None, tcp: bool = False,
                           stdio: bool = False) -> AsyncIterator[tuple[ProxyProc, ScriptedMux]]:
    """A scripted mux server (on ``mux.sock``, or a TCP port with ``tcp``) and ``muxscope proxy`` in front
    of it with ``--upstream`` set and ``proxy_args``: the set-up the relay, signal and shutdown tests
    share. Both are stopped on the way out, whatever the test did."""
    mux = mux or ScriptedMux()
    if tcp:
        upstream = f"tcp:127.0.0.1:{await mux.start_tcp()}"
    else:
        await mux.start_unix(str(tmp_path / "mux.sock"))
        upstream = f"unix:{tmp_path / 'mux.sock'}"
    p = ProxyProc(tmp_path, *proxy_args, "--upstream", upstream, stdio=stdio)
    try:
        yield p, mux
    finally:
        p.kill()
        await mux.stop()


def run_proxy(tmp_path: Path, *args: str, timeout: float = 10.0, log_file: bool = True) -> tuple[int, str]:
    """Run a proxy that is expected to fail at once; return (status, stderr)."""
    p = ProxyProc(tmp_path, *args, log_file=log_file)
    try:
        _, err = p.proc.communicate(timeout=timeout)
        return p.proc.returncode, err.decode(errors="replace")
    finally:
        p.kill()


def assert_one_line_error(status: int, err: str, *words: str) -> None:
    assert status != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("muxscope proxy: "), err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])


async def read_exactly(reader: asyncio.StreamReader, n: int, timeout: float = 5.0) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), timeout)


def write_peer(tmp_path: Path) -> Path:
    peer = tmp_path / "peer.py"
    peer.write_text(PEER)
    return peer


def exec_spec(peer: Path, *args: str) -> str:
    return "exec:" + shlex.join([sys.executable, str(peer), *args])


# -- listen unix: ------------------------------------------------------------------


def test_unix_listen_is_0600_relays_and_is_removed_on_exit(tmp_path):
    sock = tmp_path / "p.sock"

    async def main():
        async with proxy_before_mux(tmp_path, "--listen", f"unix:{sock}") as (p, mux):
            assert await p.started() == f"unix:{sock}"
            st = os.lstat(sock)
            assert stat.S_ISSOCK(st.st_mode)
            assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
            reader, writer = await asyncio.open_unix_connection(str(sock))
            req, resp = pings(range(1, 6))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            writer.close()
            await p.wait_event("connection_closed")
            p.signal(signal.SIGTERM)
            assert await p.wait_exit() == 0
        assert bytes(mux.received) == req
        assert not sock.exists()  # the socket is removed on a clean exit

    asyncio.run(main())


def _stale_socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # bound, never unlinked: what a killed process leaves behind


def test_stale_unix_socket_is_replaced(tmp_path):
    sock = tmp_path / "p.sock"
    _stale_socket(sock)

    async def main():
        async with proxy_before_mux(tmp_path, "--listen", f"unix:{sock}") as (p, _mux):
            await p.started()
            assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600
            reader, writer = await asyncio.open_unix_connection(str(sock))
            req, resp = pings(range(1, 3))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            writer.close()

    asyncio.run(main())


def test_live_unix_socket_is_an_error(tmp_path):
    sock = tmp_path / "p.sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        live.bind(str(sock))
        live.listen(8)
        status, err = run_proxy(tmp_path, "--listen", f"unix:{sock}", "--upstream", "unix:/nonexistent/mux.sock")
        assert_one_line_error(status, err, str(sock), "already listening")
        # ... and the other process's socket is left alone
        assert stat.S_ISSOCK(os.lstat(sock).st_mode)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(sock))
        c.close()
    finally:
        live.close()


def test_listen_path_that_is_not_a_socket_is_an_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("precious")
    status, err = run_proxy(tmp_path, "--listen", f"unix:{path}", "--upstream", "unix:/nonexistent/mux.sock")
    assert_one_line_error(status, err, str(path), "not a socket", "remove it or pick another path")
    assert path.read_text() == "precious"
    # a directory is not a socket either
    status, err = run_proxy(tmp_path, "--listen", f"unix:{tmp_path}", "--upstream", "unix:/nonexistent/mux.sock")
    assert_one_line_error(status, err, "not a socket")


# -- listen tcp: and stdio -------------------------------------------------------------


def test_tcp_listen_loopback_only_unless_allow_remote(tmp_path):
    status, err = run_proxy(tmp_path, "--listen", "tcp:0.0.0.0:0", "--upstream", "unix:/nonexistent/mux.sock")
    assert_one_line_error(status, err, "not a loopback address", "--allow-remote")

    async def main():
        async with proxy_before_mux(tmp_path, "--listen", "tcp:0.0.0.0:0", "--allow-remote", tcp=True) as (p, _mux):
            bound = await p.started()
            assert bound.startswith("tcp:0.0.0.0:")
            reader, writer = await asyncio.open_connection("127.0.0.1", int(bound.rsplit(":", 1)[1]))
            req, resp = pings(range(1, 4))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            writer.close()

    asyncio.run(main())


def test_stdio_listen_one_connection_then_exit(tmp_path):
    """wezterm runs the proxy as a proxy_command: the protocol is on stdin/stdout."""

    async def main():
        async with proxy_before_mux(tmp_path, "--listen", "stdio", stdio=True) as (p, mux):
            loop = asyncio.get_running_loop()
            assert await p.started() == "stdio"
            req, resp = pings(range(1, 21))
            # write everything, then end our side: the answers still come back
            await loop.run_in_executor(None, p.proc.stdin.write, req)
            await loop.run_in_executor(None, p.proc.stdin.close)
            got = await asyncio.wait_for(loop.run_in_executor(None, p.proc.stdout.read), 10)
            assert got == resp
            assert await p.wait_exit() == 0
        assert bytes(mux.received) == req
        assert mux.connections == 1
        (closed,) = p.events("connection_closed")
        assert closed["bytes_client_to_server"] == len(req)
        assert closed["bytes_server_to_client"] == len(resp)
        assert p.events("stopped")

    asyncio.run(main())


def test_stdio_flushes_its_output_before_exiting(tmp_path):
    """The upstream sends a lot and closes; a slow reader on our stdout still gets all of it."""
    payload = os.urandom(4_000_000)

    async def main():
        async def server(reader, writer):
            await reader.read(5)
            writer.write(payload)
            await writer.drain()
            writer.close()

        srv = await asyncio.start_unix_server(server, str(tmp_path / "mux.sock"))
        p = ProxyProc(tmp_path, "--listen", "stdio", "--upstream", f"unix:{tmp_path / 'mux.sock'}", stdio=True)
        loop = asyncio.get_running_loop()
        try:
            p.proc.stdin.write(b"hello")
            p.proc.stdin.close()

            def slow_read() -> bytes:
                got = bytearray()
                while chunk := os.read(p.proc.stdout.fileno(), 65536):
                    got += chunk
                    time.sleep(0.002)
                return bytes(got)

            got = await asyncio.wait_for(loop.run_in_executor(None, slow_read), 20)
            assert await p.wait_exit() == 0
        finally:
            p.kill()
            srv.close()
        assert len(got) == len(payload) and got == payload

    asyncio.run(main())


def test_stdio_half_close_from_the_server(tmp_path):
    """The server ends its side first: our stdout is closed, our stdin still relayed."""

    async def main():
        received = bytearray()
        done = asyncio.Event()

        async def server(reader, writer):
            await reader.readexactly(3)
            writer.write(b"bye")
            writer.write_eof()  # done talking, still listening
            while chunk := await reader.read(65536):
                received.extend(chunk)
            done.set()
            writer.close()

        srv = await asyncio.start_unix_server(server, str(tmp_path / "mux.sock"))
        p = ProxyProc(tmp_path, "--listen", "stdio", "--upstream", f"unix:{tmp_path / 'mux.sock'}", stdio=True)
        loop = asyncio.get_running_loop()
        try:
            await p.started()
            p.proc.stdin.write(b"hi!")
            p.proc.stdin.flush()
            assert await asyncio.wait_for(loop.run_in_executor(None, p.proc.stdout.read), 5) == b"bye"
            p.proc.stdin.write(b"more after your EOF")
            p.proc.stdin.close()
            await asyncio.wait_for(done.wait(), 5)
            assert await p.wait_exit() == 0
        finally:
            p.kill()
            srv.close()
        assert bytes(received) == b"more after your EOF"
        (closed,) = p.events("connection_closed")
        assert closed["reason"] == "both sides ended"

    asyncio.run(main())


# -- upstream exec: ----------------------------------------------------------------


def test_exec_upstream_per_connection_stderr_and_exit_status_logged(tmp_path):
    peer = write_peer(tmp_path)
    sock = tmp_path / "p.sock"

    async def main():
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", exec_spec(peer, "7"))
        try:
            await p.started()

            async def one(serials: range) -> bytes:
                reader, writer = await asyncio.open_unix_connection(str(sock))
                req, resp = pings(serials)
                for i in range(0, len(req), 5):  # dribble it in small pieces
                    writer.write(req[i : i + 5])
                    await writer.drain()
                got = await read_exactly(reader, len(resp))
                writer.close()
                return got == resp

            assert await one(range(1, 40))
            assert await one(range(100, 110))
            exited = await p.wait_event("upstream_exited", count=2)
            started = [e for e in p.events("upstream_stderr") if e["line"].endswith(" started")]
            done = [e for e in p.events("upstream_stderr") if " done after " in e["line"]]
            await p.wait_event("connection_closed", count=2)
        finally:
            p.kill()
        # one child per connection: two different pids, each logged against its connection
        assert len(started) == 2
        assert len({e["line"].split()[1] for e in started}) == 2
        assert sorted(e["conn"] for e in started) == [1, 2]
        assert sorted(e["line"].split()[-2] for e in done) == ["10", "39"]
        assert [e["status"] for e in exited] == [7, 7]
        closes = p.events("connection_closed")
        assert sorted(c["bytes_server_to_client"] for c in closes) == sorted(
            [len(pings(range(1, 40))[1]), len(pings(range(100, 110))[1])])

    asyncio.run(main())


def test_exec_upstream_bytes_before_the_client_speaks_are_not_lost(tmp_path):
    """A child that writes at once (before the relay is attached) or exits at once."""
    peer = write_peer(tmp_path)
    sock = tmp_path / "p.sock"
    banner = encode_pdu("Pong", {}, 0)

    async def main():
        fast = "exec:sh -c 'printf BANNER; exec cat'"
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", fast)
        try:
            await p.started()
            for _ in range(8):
                reader, writer = await asyncio.open_unix_connection(str(sock))
                assert await read_exactly(reader, 6) == b"BANNER"
                payload = os.urandom(100_000)
                writer.write(payload)
                assert await read_exactly(reader, len(payload)) == payload  # cat: exact echo
                writer.close()
        finally:
            p.kill()
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", exec_spec(peer, "--banner"))
        try:
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            assert await read_exactly(reader, len(banner)) == banner
            req, resp = pings(range(1, 4))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            writer.close()
        finally:
            p.kill()
        # a child that exits at once: the client sees the end, it is not left hanging
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", "exec:sh -c 'echo no route >&2; exit 255'")
        try:
            await p.started()
            for _ in range(8):
                reader, writer = await asyncio.open_unix_connection(str(sock))
                assert await asyncio.wait_for(reader.read(), 5) == b""
                writer.close()
            exited = await p.wait_event("upstream_exited", count=8)
            await p.wait_event("connection_closed", count=8)
        finally:
            p.kill()
        assert {e["status"] for e in exited} == {255}
        assert {e["line"] for e in p.events("upstream_stderr")} == {"no route"}

    asyncio.run(main())


def test_exec_upstream_half_close_reaches_the_child(tmp_path):
    """The client ends its side; the child sees EOF on stdin, answers, exits; the client gets it all."""
    peer = write_peer(tmp_path)
    sock = tmp_path / "p.sock"

    async def main():
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", exec_spec(peer, "--after-eof"))
        try:
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            req, resp = pings(range(1, 300))
            writer.write(req)
            await writer.drain()
            await asyncio.sleep(0.2)
            assert not reader.at_eof() and len(reader._buffer) == 0  # nothing yet: it answers after EOF
            writer.write_eof()
            got = await asyncio.wait_for(reader.read(), 10)  # everything, then EOF
            writer.close()
            (closed,) = await p.wait_event("connection_closed")
            (exited,) = await p.wait_event("upstream_exited")
        finally:
            p.kill()
        assert got == resp
        assert exited["status"] == 0
        assert closed["reason"] == "both sides ended"

    asyncio.run(main())


# -- half-close through sockets ---------------------------------------------------------


def test_half_close_is_passed_on_tcp(tmp_path):
    """The client shuts its write side; the server still answers; the client gets the
    answer and then EOF; then both are closed."""

    async def main():
        got_eof = asyncio.Event()
        sent = b""

        async def server(reader, writer):
            nonlocal sent
            data = await reader.read()  # until the proxy passes the client's EOF on
            got_eof.set()
            await asyncio.sleep(0.1)
            sent = hashlib.sha256(data).digest() * 1000  # answer after EOF
            writer.write(sent)
            await writer.drain()
            writer.close()

        srv = await asyncio.start_server(server, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        p = ProxyProc(tmp_path, "--listen", "tcp:127.0.0.1:0", "--upstream", f"tcp:127.0.0.1:{port}")
        try:
            bound = await p.started()
            reader, writer = await asyncio.open_connection("127.0.0.1", int(bound.rsplit(":", 1)[1]))
            payload = os.urandom(300_000)
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            await asyncio.wait_for(got_eof.wait(), 5)
            got = await asyncio.wait_for(reader.read(), 5)
            assert got == hashlib.sha256(payload).digest() * 1000 == sent
            (closed,) = await p.wait_event("connection_closed")
            assert closed["reason"] == "both sides ended"
            assert closed["bytes_client_to_server"] == len(payload)
            assert closed["bytes_server_to_client"] == len(sent)
            writer.close()
        finally:
            p.kill()
            srv.close()

    asyncio.run(main())


# -- lifecycle: signals --------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_accepting_lets_open_connections_finish(tmp_path, sig):
    sock = tmp_path / "p.sock"

    async def main():
        async with proxy_before_mux(tmp_path, "--listen", f"unix:{sock}", "--grace", "5") as (p, _mux):
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            req, resp = pings(range(1, 3))
            writer.write(req)
            assert await read_exactly(reader, len(resp)) == resp
            p.signal(sig)
            await p.wait_event("shutting_down")
            # no longer accepting ...
            deadline = time.monotonic() + 5
            while sock.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            with pytest.raises(OSError):
                await asyncio.open_unix_connection(str(sock))
            # ... but the open connection still works during the grace period
            req2, resp2 = pings(range(3, 8))
            writer.write(req2)
            assert await read_exactly(reader, len(resp2)) == resp2
            assert p.proc.poll() is None
            t0 = time.monotonic()
            writer.close()  # the last connection ends: exit now, not after --grace
            assert await p.wait_exit(5) == 0
            assert time.monotonic() - t0 < 3
        names = [e["event"] for e in p.events()]
        assert names[-1] == "stopped", names
        (closed,) = p.events("connection_closed")
        assert closed["bytes_server_to_client"] == len(resp) + len(resp2)

    asyncio.run(main())


def test_grace_period_ends_lingering_connections(tmp_path):
    sock = tmp_path / "p.sock"

    async def main():
        async with proxy_before_mux(tmp_path, "--listen", f"unix:{sock}", "--grace", "0.5") as (p, _mux):
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(pings(range(1, 2))[0])
            await read_exactly(reader, len(pings(range(1, 2))[1]))
            t0 = time.monotonic()
            p.signal(signal.SIGTERM)
            assert await p.wait_exit(5) == 0
            elapsed = time.monotonic() - t0
            assert await asyncio.wait_for(reader.read(), 2) == b""  # we were closed
            writer.close()
        assert 0.4 <= elapsed < 4, elapsed
        (closed,) = p.events("connection_closed")
        assert closed["closed_by"] == "proxy" and "shutting down" in closed["reason"]
        assert p.events()[-1]["event"] == "stopped"

    asyncio.run(main())


def test_stdio_connection_gets_the_grace_period_too(tmp_path):
    async def main():
        async with proxy_before_mux(
            tmp_path, "--listen", "stdio", "--grace", "5", mux=ScriptedMux(delay_s={"Ping": 0.6}), stdio=True
        ) as (p, _mux):
            loop = asyncio.get_running_loop()
            await p.started()
            req, resp = pings(range(1, 2))
            await loop.run_in_executor(None, p.proc.stdin.write, req)
            await loop.run_in_executor(None, p.proc.stdin.flush)
            await asyncio.sleep(0.2)  # the Ping is in flight (the server answers after 0.6 s)
            p.signal(signal.SIGTERM)
            got = await asyncio.wait_for(loop.run_in_executor(None, p.proc.stdout.read, len(resp)), 5)
            assert got == resp
            await loop.run_in_executor(None, p.proc.stdin.close)
            assert await p.wait_exit(5) == 0

    asyncio.run(main())


def test_second_signal_exits_at_once(tmp_path):
    sock = tmp_path / "p.sock"

    async def main():
        async with proxy_before_mux(tmp_path, "--listen", f"unix:{sock}", "--grace", "30") as (p, _mux):
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(pings(range(1, 2))[0])
            await read_exactly(reader, len(pings(range(1, 2))[1]))
            p.signal(signal.SIGINT)
            await p.wait_event("shutting_down")
            await asyncio.sleep(0.2)
            assert p.proc.poll() is None  # waiting for our connection
            t0 = time.monotonic()
            p.signal(signal.SIGINT)
            status = await p.wait_exit(3)
            assert time.monotonic() - t0 < 2
            writer.close()
        assert status != 0

    asyncio.run(main())


# -- user errors: one line, the problem and the fix, non-zero, no traceback -----------


def _busy_tcp_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def test_user_errors_are_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    busy, port = _busy_tcp_port()
    up = ["--upstream", "unix:/nonexistent/mux.sock"]
    cases: list[tuple[list[str], list[str]]] = [
        (["--listen", "nonsense", *up], ["--listen", "expected", "unix:PATH"]),
        (["--listen", "tcp:127.0.0.1:99999", *up], ["out of range"]),
        (["--listen", "tcp:127.0.0.1:0", "--upstream", "exec:"], ["needs a command"]),
        (["--listen", f"tcp:127.0.0.1:{port}", *up], ["address already in use", "pick another port"]),
        (["--listen", f"unix:{tmp_path}/nodir/p.sock", *up], ["does not exist"]),
        (["--listen", f"unix:{afile}/p.sock", *up], [f"unix:{afile}/p.sock", "Not a directory"]),
        (["--listen", "unix:" + str(tmp_path / ("x" * 120)), *up], ["too long", "shorter path"]),
        (["--listen", "tcp:127.0.0.1:0", "--metrics", "nonsense", *up], ["--metrics", "127.0.0.1:9464"]),
        (["--listen", "tcp:127.0.0.1:0", "--metrics", "127.0.0.1:99999", *up], ["--metrics", "out of range"]),
        (["--listen", "tcp:127.0.0.1:0", "--metrics", "0.0.0.0:0", *up], ["--metrics", "--allow-remote"]),
        (["--listen", "tcp:127.0.0.1:0", "--metrics", f"127.0.0.1:{port}", *up], ["--metrics", "in use"]),
        (["--listen", "tcp:127.0.0.1:0", "--shape", "nonsense", *up], ["--shape", "rtt=40ms"]),
        (["--listen", "tcp:127.0.0.1:0", "--shape", "rtt=fast", *up], ["--shape", "40ms"]),
        (["--listen", "tcp:127.0.0.1:0", "--shape", "colour=red", *up], ["--shape", "unknown key"]),
    ]
    try:
        for args, words in cases:
            status, err = run_proxy(tmp_path, *args)
            assert_one_line_error(status, err, *words)
            # the same without --log-file: still exactly one line on stderr
            if "--metrics" not in args:
                status, err = run_proxy(tmp_path, *args, log_file=False)
                assert_one_line_error(status, err, *words)
    finally:
        busy.close()


def test_unreachable_upstream_with_stdio_is_one_line_and_non_zero(tmp_path):
    for upstream, words in [
        (f"unix:{tmp_path}/nobody.sock", ["no such socket", "is the mux server running"]),
        ("tcp:127.0.0.1:1", ["connection refused", "is the mux server running"]),
        ("exec:/nonexistent/wezterm cli proxy", ["/nonexistent/wezterm", "not found"]),
    ]:
        p = ProxyProc(tmp_path, "--listen", "stdio", "--upstream", upstream, stdio=True)
        try:
            _, err = p.proc.communicate(timeout=10)
            assert_one_line_error(p.proc.returncode, err.decode(), "upstream", *words)
            assert p.events("upstream_connect_failed")
        finally:
            p.kill()


def test_stdio_on_a_regular_file_is_one_line(tmp_path):
    out = tmp_path / "out.bin"
    with out.open("wb") as f:
        p = subprocess.run(
            [sys.executable, "-m", "proxy.cli", "proxy", "--listen", "stdio", "--upstream", "unix:/x",
             "--log-file", str(tmp_path / "log")],
            cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.PIPE, timeout=10,
        )
    assert_one_line_error(p.returncode, p.stderr.decode(), "--listen stdio", "pipes or sockets", "proxy_command")


def test_unreachable_upstream_when_listening_is_logged_per_connection(tmp_path):
    sock = tmp_path / "p.sock"

    async def main():
        p = ProxyProc(tmp_path, "--listen", f"unix:{sock}", "--upstream", "exec:/nonexistent/peer")
        try:
            await p.started()
            reader, writer = await asyncio.open_unix_connection(str(sock))
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing relayed
            writer.close()
            (ev,) = await p.wait_event("upstream_connect_failed")
            assert p.proc.poll() is None  # one failed connection does not stop the proxy
        finally:
            p.kill()
        assert "not found" in ev["reason"] and "/nonexistent/peer" in ev["reason"]

    asyncio.run(main())


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unreadable_socket_directory_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        status, err = run_proxy(tmp_path, "--listen", f"unix:{locked}/p.sock", "--upstream", "unix:/x")
        assert_one_line_error(status, err, f"unix:{locked}/p.sock", "ermission denied")
    finally:
        locked.chmod(0o700)


# -- backpressure -----------------------------------------------------------------------

FLOOD_BYTES = 200 * 1024 * 1024


def _flood_chunk(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "little")).digest() * 2048  # 64 KiB, distinct per i


class _Flood:
    """An upstream that writes FLOOD_BYTES as fast as its peer takes them, counting what it wrote."""

    def __init__(self) -> None:
        self.written = 0
        self.expected = hashlib.sha256()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        i = 0
        while self.written < FLOOD_BYTES:
            chunk = _flood_chunk(i)
            self.expected.update(chunk)
            writer.write(chunk)
            self.written += len(chunk)
            i += 1
            await writer.drain()
        writer.close()


async def _until_the_flood_stalls(flood: _Flood, p: ProxyProc, base_kb: int) -> int:
    """Let the flood run into the wall: wait (10 s at most) until the upstream has been blocked
    for a second; returns the proxy's peak RSS meanwhile, in kB."""
    peak_kb = base_kb
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        peak_kb = max(peak_kb, p.rss_kb())
        if flood.written != last:
            last, stable_since = flood.written, time.monotonic()
        elif time.monotonic() - stable_since > 1.0:
            break  # the upstream has been blocked for a second
    return peak_kb


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_client_that_does_not_read_stops_the_upstream(tmp_path, transport):
    """Upstream floods 200 MB; the client reads nothing for a while: the proxy must stop
    reading from the upstream, not buffer; then the client gets every byte. (On TCP the
    client's side is proxy.relay.stamped's own socket side, not an asyncio transport.)"""
    sock = tmp_path / "p.sock"
    port = free_port()
    listen = f"unix:{sock}" if transport == "unix" else f"tcp:127.0.0.1:{port}"

    async def main():
        flood = _Flood()
        srv = await asyncio.start_unix_server(flood.serve, str(tmp_path / "mux.sock"))
        p = ProxyProc(tmp_path, "--listen", listen, "--upstream", f"unix:{tmp_path / 'mux.sock'}")
        try:
            await p.started()
            base_kb = p.rss_kb()
            # a raw socket with a small receive buffer that we do not read from
            family = socket.AF_UNIX if transport == "unix" else socket.AF_INET
            client = socket.socket(family, socket.SOCK_STREAM)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            client.setblocking(False)
            target = str(sock) if transport == "unix" else ("127.0.0.1", port)
            await asyncio.get_running_loop().sock_connect(client, target)
            peak_kb = await _until_the_flood_stalls(flood, p, base_kb)
            stalled_at, stall_kb = flood.written, peak_kb
            assert stalled_at < 50 * 1024 * 1024, f"the proxy kept reading: {stalled_at} bytes taken from upstream"
            assert (stall_kb - base_kb) < 100 * 1024, (base_kb, stall_kb)
            # now read everything
            got = hashlib.sha256()
            n = 0
            open_connection = asyncio.open_unix_connection if transport == "unix" else asyncio.open_connection
            reader, writer = await open_connection(sock=client, limit=1 << 20)
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 20):
                got.update(chunk)
                n += len(chunk)
                if n % (16 << 20) < len(chunk):
                    peak_kb = max(peak_kb, p.rss_kb())
            writer.close()
        finally:
            p.kill()
            srv.close()
        assert n == FLOOD_BYTES, (n, stalled_at)
        assert got.hexdigest() == flood.expected.hexdigest()
        print(f"stalled after {stalled_at} bytes; rss {base_kb} kB, stalled {stall_kb} kB, reading {peak_kb} kB")

    asyncio.run(main())
