"""TLS domains, against real OpenSSL: ``openssl s_client`` as wezterm-gui's TLS client and
``openssl s_server -Verify`` as the mux server's TLS listener.

muxscope's listener is checked the way WezTerm's server checks (a client certificate from a
trusted CA whose CN is the login name); its upstream side verifies the server as WezTerm's client
does (trusted CA, host name or ``expected_cn``). Each refusal must leave one clear log line and
relay nothing: no upstream is opened for a refused client, and no byte reaches a refused server.
The test certificates other than muxscope's own are made here with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import os
import random
import ssl
import stat
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codec import PduStream, encode_pdu
from codec.pdu import Pdu
from proxy.relay.endpoints import AddressError, TlsAddress, UnixAddress, parse_listen, parse_upstream
from proxy.relay.errors import ProxyError
from proxy.runtime import ProxyRuntime, RuntimeOptions
from proxy.tls import pki
from proxy.tls.contexts import TlsListenOptions, TlsUpstreamOptions
from tests.integration import free_port, require_binary, wait_port
from tests.support import LogCapture, ScriptedMux
from tests.test_ssh import Keys, keys  # noqa: F401  (the fixture)

TIMEOUT = 20.0


# -- test certificates -------------------------------------------------------------------------------


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
        pki.write_private(key_path, pki._key_pem(leaf_key))
        return cert_path, key_path


@pytest.fixture
def certs(tmp_path: Path) -> CertFactory:
    d = tmp_path / "certs"
    d.mkdir()
    ca, ca_key = pki.make_ca("test mux server CA")
    other, other_key = pki.make_ca("some other CA")
    (d / "ca.pem").write_bytes(pki.cert_pem(ca))
    return CertFactory(d, ca, ca_key, other, other_key)


@contextlib.asynccontextmanager
async def _proxy(opts: RuntimeOptions) -> AsyncIterator[ProxyRuntime]:
    rt = ProxyRuntime(opts)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop(grace=1.0)


# -- pure checks --------------------------------------------------------------------------------------


def test_addresses() -> None:
    assert parse_listen("tls:127.0.0.1:8443") == TlsAddress("127.0.0.1", 8443)
    assert parse_upstream("tls://realhost:8080") == TlsAddress("realhost", 8080)
    assert parse_listen("tls:0.0.0.0:8443", allow_remote=True) == TlsAddress("0.0.0.0", 8443)
    with pytest.raises(AddressError, match="not a loopback address"):
        parse_listen("tls:0.0.0.0:8443")
    with pytest.raises(AddressError, match="expected HOST:PORT"):
        parse_upstream("tls://realhost")


def test_ca_is_made_once_with_private_keys_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "alice")
    first = pki.Pki(tmp_path / "tls")
    first.server_files([])
    first.client_files()
    assert {p.name for p in first.created} == {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem",
                                               "client.pem", "client-key.pem"}
    for key in ("ca-key.pem", "server-key.pem", "client-key.pem"):
        assert stat.S_IMODE(os.stat(tmp_path / "tls" / key).st_mode) == 0o600
    ca_before = (tmp_path / "tls" / "ca.pem").read_bytes()
    again = pki.Pki(tmp_path / "tls")
    again.server_files([])
    again.client_files()
    assert again.created == [] and (tmp_path / "tls" / "ca.pem").read_bytes() == ca_before
    # a name the certificate lacks: re-issued by the same CA
    again.server_files(["muxhost.example"])
    assert [p.name for p in again.created] == ["server.pem", "server-key.pem"]
    # the client certificate names the login name, as WezTerm's server wants
    from cryptography import x509

    client = x509.load_pem_x509_certificate((tmp_path / "tls" / "client.pem").read_bytes())
    assert client.subject.rfc4514_string() == "CN=alice"
    os.chmod(tmp_path / "tls" / "ca-key.pem", 0o644)
    with pytest.raises(pki.PkiError, match="chmod 600"):
        pki.Pki(tmp_path / "tls")


# -- the listener: openssl s_client as wezterm-gui ------------------------------------------------------


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


def _listen_opts(tmp_path: Path, upstream: str, **kw: Any) -> RuntimeOptions:
    return RuntimeOptions(listen=TlsAddress("127.0.0.1", 0), upstream=UnixAddress(upstream),
                          tls_listen=TlsListenOptions(str(tmp_path / "state"), **kw))


def _client_stream(seed: int, n: int = 80) -> bytes:
    """GetLines and Pings, then garbage (relayed too), as tests/test_ssh.py's, shorter."""
    rnd = random.Random(seed)
    out = bytearray(encode_pdu("GetCodecVersion", {}, 1))
    for serial in range(2, n):
        if rnd.random() < 0.7:
            out += encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": rnd.randint(1, 200)}]}, serial)
        else:
            out += encode_pdu("Ping", {}, serial)
    return bytes(out + rnd.randbytes(40))


def test_s_client_through_the_listener_is_byte_exact(tmp_path: Path) -> None:
    """With the client certificate muxscope printed, every byte goes through both ways unchanged."""
    logs = LogCapture()
    data = _client_stream(11)

    async def main() -> tuple[SClient, ScriptedMux, Any]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        try:
            async with _proxy(_listen_opts(tmp_path, str(tmp_path / "mux.sock"))) as rt:
                setup = rt.server.tls_setup
                res = await s_client(rt.server.port, setup.ca, data, cert=setup.client_cert, key=setup.client_key,
                                     expect=_expected_len(mux, data))
                await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
                return res, mux, setup
        finally:
            await mux.stop()

    res, mux, setup = asyncio.run(main())
    assert len(mux.sent) > 30_000
    assert hashlib.sha256(bytes(mux.received)).hexdigest() == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(res.out).hexdigest() == hashlib.sha256(bytes(mux.sent)).hexdigest(), res.err
    (closed,) = logs.events("connection_closed")
    assert closed["bytes_client_to_server"] == len(data) and closed["bytes_server_to_client"] == len(res.out)
    (listening,) = logs.events("tls_listening")
    assert listening["ca"] == str(setup.ca) and listening["remote_address"].startswith("127.0.0.1:")
    lua = setup.tls_clients_lua()
    assert f'pem_root_certs = {{ "{setup.ca}" }}' in lua and f'pem_cert = "{setup.client_cert}"' in lua


def _expected_len(mux: ScriptedMux, data: bytes) -> int:
    """How many bytes ScriptedMux answers ``data`` with (it is deterministic): found by asking it."""
    replies = 0
    stream = PduStream()
    for pdu in stream.feed(data):
        if isinstance(pdu, Pdu):
            for name, body, serial in mux.default(pdu):
                replies += len(encode_pdu(name, body, pdu.serial if serial is None else serial))
    return replies


def test_s_client_pings_the_emulated_mux_server(tmp_path: Path) -> None:
    from muxscope_emulator.server import EmulatedMuxServer, ServerOptions

    logs = LogCapture()
    requests = encode_pdu("GetCodecVersion", {}, 1) + encode_pdu("Ping", {}, 2)

    async def main() -> SClient:
        server = EmulatedMuxServer(ServerOptions())
        await server.start(UnixAddress(str(tmp_path / "emu.sock")))
        try:
            async with _proxy(_listen_opts(tmp_path, str(tmp_path / "emu.sock"))) as rt:
                setup = rt.server.tls_setup
                probe = await s_client(rt.server.port, setup.ca, requests, cert=setup.client_cert,
                                       key=setup.client_key, pdus=2)
                await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
                return probe
        finally:
            await server.stop()

    res = asyncio.run(main())
    pdus = [p for p in PduStream().feed(res.out) if isinstance(p, Pdu)]
    assert [(p.name, p.serial) for p in pdus] == [("GetCodecVersionResponse", 1), ("Pong", 2)], res.err
    assert not logs.events("tls_client_refused")


def _refusal_cases(setup: Any, certs: CertFactory, state: Path) -> dict[str, dict[str, Any]]:
    ours = pki.Pki(state)  # muxscope's CA, to issue an expired and a wrongly named certificate from it
    for name, cn, expired in (("expired", pki.login_name(), True), ("other_user", "mallory", False)):
        cert, key = pki.issue(ours.ca_cert, ours.ca_key, cn, [cn], client=True, days=2 if expired else 30,
                              not_before=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
                              if expired else None)
        (certs.dir / f"{name}.pem").write_bytes(pki.cert_pem(cert))
        pki.write_private(certs.dir / f"{name}-key.pem", pki._key_pem(key))
    foreign = certs.issue("foreign", pki.login_name(), [], client=True, other_ca=True)
    good = {"cert": setup.client_cert, "key": setup.client_key}
    return {
        "no_cert": {"kw": {}, "reason": "no client certificate was sent"},
        "other_ca": {"kw": {"cert": foreign[0], "key": foreign[1]}, "reason": "not signed by a trusted CA"},
        "expired": {"kw": {"cert": certs.dir / "expired.pem", "key": certs.dir / "expired-key.pem"},
                    "reason": "has expired"},
        "not_the_login_name": {"kw": {"cert": certs.dir / "other_user.pem", "key": certs.dir / "other_user-key.pem"},
                               "reason": "CN 'mallory' is not the login name"},
        "wrong_hostname": {"kw": {**good, "name": ("-verify_hostname", "elsewhere.example")},
                           "reason": "the client refused muxscope's certificate"},
    }


def test_refused_clients_get_nothing_and_open_no_upstream(tmp_path: Path, certs: CertFactory) -> None:
    require_binary("openssl")
    logs = LogCapture()
    request = encode_pdu("Ping", {}, 1)

    async def main() -> tuple[dict[str, SClient], ScriptedMux, SClient]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        results: dict[str, SClient] = {}
        try:
            async with _proxy(_listen_opts(tmp_path, str(tmp_path / "mux.sock"))) as rt:
                setup = rt.server.tls_setup
                cases = _refusal_cases(setup, certs, tmp_path / "state")
                for name, case in cases.items():
                    results[name] = await s_client(rt.server.port, setup.ca, request, **case["kw"])
                    assert mux.connections == 0, f"{name}: an upstream was opened"
                refused = logs.events("tls_client_refused")
                for (name, case), event in zip(cases.items(), refused, strict=True):
                    assert case["reason"] in event["reason"], (name, event)
                # the listener keeps serving (WezTerm's stops accepting after one bad CN)
                good = await s_client(rt.server.port, setup.ca, request, cert=setup.client_cert,
                                      key=setup.client_key, expect=len(encode_pdu("Pong", {}, 1)))
                await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
        finally:
            await mux.stop()
        return results, mux, good

    results, mux, good = asyncio.run(main())
    for name, res in results.items():
        assert res.out == b"", name
    assert "alert certificate required" in results["no_cert"].err
    assert "hostname mismatch" in results["wrong_hostname"].err
    assert [p.name for p in PduStream().feed(good.out) if isinstance(p, Pdu)] == ["Pong"]
    assert mux.connections == 1 and bytes(mux.received) == request
    assert len(logs.events("tls_client_refused")) == 5
    assert not logs.events("connection_opened")[:-1]  # only the good client's connection was opened


# -- the upstream: openssl s_server -Verify as the mux server ----------------------------------------------


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


def _upstream_opts(tmp_path: Path, port: int, cert: Path, key: Path, ca: Path, **kw: Any) -> RuntimeOptions:
    return RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")), upstream=TlsAddress("127.0.0.1", port),
                          tls_upstream=TlsUpstreamOptions(str(cert), str(key), (str(ca),), **kw))


def test_upstream_s_server_verifies_our_certificate_and_bytes_pass(tmp_path: Path, certs: CertFactory) -> None:
    logs = LogCapture()
    srv = certs.issue("server", "realhost", ["localhost", "127.0.0.1"], client=False)
    cli = certs.issue("client", pki.login_name(), [pki.login_name()], client=True)
    request, reply = encode_pdu("Ping", {}, 1), encode_pdu("Pong", {}, 1)

    with SServer(*srv, certs.ca_pem) as server:
        async def main() -> tuple[bytes, bytes]:
            async with _proxy(_upstream_opts(tmp_path, server.port, *cli, certs.ca_pem)) as rt:
                reader, writer = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
                writer.write(request)
                await writer.drain()
                loop = asyncio.get_running_loop()
                got = await loop.run_in_executor(None, server.read_stdout, len(request))
                server.send(reply)
                back = await asyncio.wait_for(reader.readexactly(len(reply)), TIMEOUT)
                writer.close()
                await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
                return got, back

        got, back = asyncio.run(main())
    assert got == request and back == reply
    assert f"CN = {pki.login_name()}" in server.stderr  # s_server verified muxscope's client certificate
    assert not logs.events("upstream_connect_failed")
    (rpc,) = [e for e in logs.events() if e.get("event") == "connection_summary"]
    assert rpc["rpcs"] == 1 and rpc["unanswered_requests"] == 0


@pytest.mark.parametrize("case", ["wrong_hostname", "changed_certificate", "expired", "our_cert_refused"])
def test_upstream_refusals_fail_closed(tmp_path: Path, certs: CertFactory, case: str) -> None:
    logs = LogCapture()
    user = pki.login_name()
    cli = certs.issue("client", user, [user], client=True)
    if case == "wrong_hostname":
        srv = certs.issue("server", "elsewhere", ["elsewhere.example"], client=False)
        reason = "does not match the host name"
    elif case == "changed_certificate":  # what a restarted wezterm-mux-server presents: a new CA
        srv = certs.issue("server", "realhost", ["127.0.0.1"], client=False, other_ca=True)
        reason = "not signed by a trusted CA"
    elif case == "expired":
        srv = certs.issue("server", "realhost", ["127.0.0.1"], client=False, expired=True)
        reason = "has expired"
    else:  # the server does not trust the CA our client certificate is from
        srv = certs.issue("server", "realhost", ["127.0.0.1"], client=False)
        cli = certs.issue("client", user, [user], client=True, other_ca=True)
        reason = "refused our client certificate"

    with SServer(*srv, certs.ca_pem) as server:
        async def main() -> bytes:
            async with _proxy(_upstream_opts(tmp_path, server.port, *cli, certs.ca_pem)) as rt:
                reader, writer = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
                writer.write(encode_pdu("Ping", {}, 1))
                await writer.drain()
                try:
                    back = await asyncio.wait_for(reader.read(), TIMEOUT)
                except ConnectionResetError:  # closed with our request unread: the kernel resets
                    back = b""
                writer.close()
                await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
                return back

        back = asyncio.run(main())
        leaked = server.read_stdout(1, timeout=0.3)
    assert back == b"" and leaked == b""
    (failed,) = logs.events("upstream_connect_failed")
    assert reason in failed["reason"], failed
    assert "\n" not in failed["reason"]
    assert not logs.events("connection_opened")


def test_upstream_needs_a_client_certificate_at_start(tmp_path: Path) -> None:
    opts = RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")), upstream=TlsAddress("127.0.0.1", 9),
                          tls_upstream=TlsUpstreamOptions(None))

    async def main() -> None:
        async with _proxy(opts):
            pass

    with pytest.raises(ProxyError, match="needs --tls-cert"):
        asyncio.run(main())
    opts.tls_upstream = TlsUpstreamOptions(str(tmp_path / "missing.pem"))
    with pytest.raises(ProxyError, match=r"missing\.pem does not exist"):
        asyncio.run(main())


# -- stamps ---------------------------------------------------------------------------------------------


def test_kernel_receive_stamps_survive_tls(tmp_path: Path) -> None:
    """A request read late (the loop busy) is stamped when its record arrived, as on plain TCP."""
    from tests.test_stamped import LATE_S, _Recorder

    async def main() -> tuple[int, int, int, list[tuple[str, int, bytes]]]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        tap = _Recorder()
        from proxy.relay.server import ProxyServer

        server = ProxyServer(TlsAddress("127.0.0.1", 0), UnixAddress(str(tmp_path / "mux.sock")), tap=tap,
                             tls_listen=TlsListenOptions(str(tmp_path / "state")))
        await server.start()
        setup = server.tls_setup
        ctx = ssl.create_default_context(cafile=str(setup.ca))
        ctx.load_cert_chain(str(setup.client_cert), str(setup.client_key))
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx)
            writer.write(encode_pdu("Ping", {}, 1))
            await writer.drain()
            await asyncio.wait_for(reader.readexactly(len(encode_pdu("Pong", {}, 1))), 5)
            await asyncio.sleep(0.1)
            second = encode_pdu("Ping", {}, 2)
            before = time.monotonic_ns()
            writer.write(second)
            sent = time.monotonic_ns()
            time.sleep(LATE_S)
            busy_until = time.monotonic_ns()
            await asyncio.wait_for(reader.readexactly(len(encode_pdu("Pong", {}, 2))), 5)
            writer.close()
            await server.wait_idle()
        finally:
            await server.stop()
            await mux.stop()
        return before, sent, busy_until, [c for c in tap.chunks if c[2] == second]

    before, sent, busy_until, chunks = asyncio.run(main())
    assert chunks, "the second request never reached the tap whole"
    t = chunks[-1][1]
    assert t < busy_until - LATE_S * 1e9 * 0.8, "stamped when read, not when it arrived"
    assert before - 1_000_000 <= t <= sent + 1_000_000


# -- a resize drag over TLS on both sides, checked against the emulated client's truth --------------------


def test_resize_drag_over_tls_on_both_sides_holds_the_truth(tmp_path: Path, certs: CertFactory) -> None:
    """emulated client (TLS, muxscope's client certificate) -> muxscope's TLS listener -> muxscope's
    TLS upstream -> emulated mux server (TLS, client certificate required), each a process of its own
    as in tests/test_truth.py, whose checks are run on the capture.

    (With socat in between as the TLS ends instead, the check fails even over plain TCP: a hop
    between client and proxy hides crossings the analysis reads from the wire's order, so the
    emulated ends speak TLS themselves, as wezterm-gui and wezterm-mux-server do.)"""
    from tests.test_truth import PY, _check_outcomes, _check_what_ifs, _crossing_rows, _excused_causes, _wait_for

    user = pki.login_name()
    srv = certs.issue("server", "realhost", ["127.0.0.1"], client=False)
    cli = certs.issue("client", user, [user], client=True)
    up_port, tls_port = free_port(), free_port()
    state = tmp_path / "state"
    capture, truth_file = str(tmp_path / "c.muxcap"), str(tmp_path / "truth.json")
    server = subprocess.Popen([*PY, "emulate", "server", "--listen", f"tls:127.0.0.1:{up_port}", "--tls-cert",
                               str(srv[0]), "--tls-key", str(srv[1]), "--tls-ca", str(certs.ca_pem)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proxy = None
    try:
        wait_port(up_port, 15, server)
        proxy = subprocess.Popen([*PY, "proxy", "--listen", f"tls:127.0.0.1:{tls_port}",
                                  "--upstream", f"tls://127.0.0.1:{up_port}", "--tls-dir", str(state),
                                  "--tls-cert", str(cli[0]), "--tls-key", str(cli[1]), "--tls-ca", str(certs.ca_pem),
                                  "--capture", capture, "--log-level", "warning"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(tls_port, 15, proxy)
        _wait_for(str(state / "client-key.pem"))
        client = subprocess.run([*PY, "emulate", "client", "--connect", f"tls://127.0.0.1:{tls_port}",
                                 "--tls-cert", str(state / "client.pem"), "--tls-key", str(state / "client-key.pem"),
                                 "--tls-ca", str(state / "ca.pem"), "--scenario", "resize-drag", "--policy", "wezterm",
                                 "--truth-file", truth_file, "--truth-detail", "--json"],
                                capture_output=True, timeout=90, check=False)
    finally:
        for proc in (proxy, server):
            if proc is not None:
                proc.send_signal(2)  # SIGINT: muxscope flushes its capture
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    assert client.returncode == 0, client.stderr.decode(errors="replace")[-2000:]
    truth, attribution = _analyse(capture, truth_file)
    assert truth["rows_detail"], "the drag fetched no rows"
    assert all(r["pdu"] != "GetLines" or r["latency_ms"] > 0 for r in truth["rpcs"])
    slack = _check_outcomes("resize-drag", "wezterm", truth, attribution)
    _check_what_ifs(json.loads(client.stdout), attribution,
                    _crossing_rows(truth, attribution, slack) + _excused_causes(truth, attribution))


def _analyse(capture: str, truth_file: str) -> tuple[dict, Any]:
    """The capture's analysis and the client's truth, joined as tests/test_truth.py's run_session does."""
    from proxy.analysis.analyzer import Analyzer
    from proxy.analysis.attribution import AttributionAddon
    from proxy.capture.format import open_capture
    from proxy.capture.offline import replay_records
    from tests.test_truth import _Quiet, _WireTimes, crossed_pushes, crossing_invalidations

    truth = json.loads(Path(truth_file).read_text())
    reader = open_capture(capture)
    attribution = AttributionAddon(None, live=False, logger=_Quiet(), record_rows=True, client_model="wezterm")
    wire = _WireTimes(reader.header["t0_monotonic_ns"])
    analyzer = Analyzer(None, [attribution, wire], logger=_Quiet())
    replay_records(reader, analyzer)
    attribution.finish()
    truth["crossed"] = crossed_pushes(truth, wire)
    truth["invalidation_crossed_rows"] = crossing_invalidations(truth, wire)
    return truth, attribution


# -- bootstrap_via_ssh: muxscope answers `wezterm cli tlscreds` ---------------------------------------------


def test_bootstrap_via_ssh_issues_credentials_the_listener_accepts(tmp_path: Path, keys: Keys) -> None:  # noqa: F811
    """What client.rs ``tls_connect`` does, with OpenSSH and OpenSSL in wezterm's place: log in over
    SSH, run ``wezterm cli tlscreds``, decode the GetTlsCredsResponse from stdout, save ca.pem and
    cert.pem (certificate and key in one file), then connect with them over TLS."""
    from proxy.ssh.server import SshListenOptions
    from tests.integration import ssh_argv
    from tests.test_ssh import _listener_known_hosts, _run

    require_binary("ssh")
    logs = LogCapture()

    async def main() -> tuple[tuple[int, bytes, str], tuple[int, bytes, str], SClient, Any, tuple[int, bytes, str]]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        ssh_opts = SshListenOptions(host_key=str(tmp_path / "hk"), authorized_keys=str(keys.authorized))
        opts = _listen_opts(tmp_path, str(tmp_path / "mux.sock"), bootstrap_ssh=parse_listen("ssh:127.0.0.1:0"),
                            ssh=ssh_opts)
        try:
            async with _proxy(opts) as rt:
                setup = rt.server.tls_setup
                ssh_port = int(setup.bootstrap_via_ssh.rsplit(":", 1)[1])
                kh = _listener_known_hosts(logs, tmp_path / "known_hosts")
                creds = await _run(ssh_argv(ssh_port, keys.user, kh, "wezterm", "cli", "tlscreds"))
                pem = await _run(ssh_argv(ssh_port, keys.user, kh, "/opt/wezterm/bin/wezterm", "cli", "tlscreds",
                                          "--pem"))
                refused = await _run(ssh_argv(ssh_port, keys.other, kh, "wezterm", "cli", "tlscreds"))
                (pdu,) = [p for p in PduStream().feed(creds[1]) if isinstance(p, Pdu)]
                pki_dir = tmp_path / "gui-pki" / "muxscope"  # config::pki_dir()/<domain name>
                pki_dir.mkdir(parents=True)
                (pki_dir / "ca.pem").write_text(pdu.body["ca_cert_pem"])
                (pki_dir / "cert.pem").write_text(pdu.body["client_cert_pem"])
                res = await s_client(rt.server.port, pki_dir / "ca.pem", encode_pdu("Ping", {}, 1),
                                     cert=pki_dir / "cert.pem", key=pki_dir / "cert.pem", pdus=1)
                await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
                return creds, pem, res, setup, refused
        finally:
            await mux.stop()

    creds, pem, res, setup, refused = asyncio.run(main())
    assert creds[0] == 0, creds[2]
    assert [(p.name, p.serial) for p in PduStream().feed(res.out) if isinstance(p, Pdu)] == [("Pong", 1)], res.err
    assert pem[0] == 0 and pem[1].count(b"-----BEGIN CERTIFICATE-----") == 2 and b"PRIVATE KEY" in pem[1]
    assert refused[0] == 255 and "Permission denied (publickey)" in refused[2]
    assert len(logs.events("tls_creds_issued")) == 2
    lua = setup.tls_clients_lua()
    assert f'bootstrap_via_ssh = "{pki.login_name()}@127.0.0.1:' in lua and "pem_cert" not in lua
