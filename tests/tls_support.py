"""Helpers for the TLS tests: certificates of the tests' own, the proxy in-process, and the real
OpenSSL peers (``openssl s_client`` as wezterm-gui, ``openssl s_server -Verify`` as the mux server)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codec import PduStream
from codec.pdu import Pdu
from proxy.relay.endpoints import TlsAddress, UnixAddress
from proxy.runtime import ProxyRuntime, RuntimeOptions
from proxy.tls import pki
from proxy.tls.contexts import TlsListenOptions, TlsUpstreamOptions
from tests.components import free_port, require_binary, wait_port

TIMEOUT = 20.0


@dataclass
class CertFactory:
    """A CA of the tests' own (the 'real' mux server's), another one nobody trusts, and files."""

    dir: Path
    ca: Any
    ca_key: Any
    other: Any
    other_key: Any

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.pem"

    def issue(self, name: str, cn: str, names: list[str], *, client: bool, other_ca: bool = False,
              expired: bool = False) -> tuple[Path, Path]:
        ca, key = (self.other, self.other_key) if other_ca else (self.ca, self.ca_key)
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30) if expired else None
        cert, leaf_key = pki.issue(ca, key, cn, names, client=client, days=2 if expired else 30, not_before=start)
        cert_path, key_path = self.dir / f"{name}.pem", self.dir / f"{name}-key.pem"
        cert_path.write_bytes(pki.cert_pem(cert))
        pki.write_private(key_path, pki.key_pem(leaf_key))
        return cert_path, key_path


def make_certs(tmp_path: Path) -> CertFactory:
    d = tmp_path / "certs"
    d.mkdir()
    ca, ca_key = pki.make_ca("test mux server CA")
    other, other_key = pki.make_ca("some other CA")
    (d / "ca.pem").write_bytes(pki.cert_pem(ca))
    return CertFactory(d, ca, ca_key, other, other_key)


@contextlib.asynccontextmanager
async def proxy(opts: RuntimeOptions) -> AsyncIterator[ProxyRuntime]:
    rt = ProxyRuntime(opts)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop(grace=1.0)


@dataclass
class SClient:
    rc: int | None
    out: bytes
    err: str


async def s_client(port: int, ca: Path, data: bytes, *, cert: Path | None = None, key: Path | None = None,
                   expect: int | None = None, pdus: int | None = None,
                   name: tuple[str, str] = ("-verify_ip", "127.0.0.1")) -> SClient:
    """Connect as wezterm-gui does: verify the server (CA and name), present ``cert``; send
    ``data``; read until ``expect`` bytes or ``pdus`` PDUs came back (neither: until the server closes)."""
    argv = [require_binary("openssl"), "s_client", "-quiet", "-connect", f"127.0.0.1:{port}",
            "-CAfile", str(ca), "-verify_return_error", *name]
    if cert is not None:
        argv += ["-cert", str(cert), "-key", str(key or cert)]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
    assert proc.stdin and proc.stdout and proc.stderr
    out = bytearray()
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(data)
            await proc.stdin.drain()
        deadline = time.monotonic() + TIMEOUT
        stream, seen = PduStream(), 0
        while (expect is None or len(out) < expect) and (pdus is None or seen < pdus):
            try:
                chunk = await asyncio.wait_for(proc.stdout.read(65536), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
            seen += sum(isinstance(p, Pdu) for p in stream.feed(chunk))
        proc.stdin.close()
        if expect is not None or pdus is not None:
            proc.terminate()  # got what was asked for (-quiet ignores the end of stdin: it would wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return SClient(proc.returncode, bytes(out), (await proc.stderr.read()).decode(errors="replace"))


def listen_opts(tmp_path: Path, upstream: str, **kw: Any) -> RuntimeOptions:
    return RuntimeOptions(listen=TlsAddress("127.0.0.1", 0), upstream=UnixAddress(upstream),
                          tls_listen=TlsListenOptions(str(tmp_path / "state"), **kw))




class SServer:
    """``openssl s_server -Verify 1``: demands a client certificate from the tests' CA; prints what
    it receives on stdout and sends what is written to its stdin."""

    def __init__(self, cert: Path, key: Path, ca: Path) -> None:
        self.port = free_port()
        self.argv = [require_binary("openssl"), "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", str(cert),
                     "-key", str(key), "-CAfile", str(ca), "-Verify", "1", "-verify_return_error", "-quiet"]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SServer:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        wait_port(self.port, 10, self.proc)  # (a bare TCP probe: s_server logs it and accepts the next)
        return self

    def send(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_stdout(self, n: int, timeout: float = 10.0) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        out = bytearray()
        os.set_blocking(self.proc.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.stderr = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                f and f.close()


def upstream_opts(tmp_path: Path, port: int, cert: Path, key: Path, ca: Path, **kw: Any) -> RuntimeOptions:
    return RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")), upstream=TlsAddress("127.0.0.1", port),
                          tls_upstream=TlsUpstreamOptions(str(cert), str(key), (str(ca),), **kw))


