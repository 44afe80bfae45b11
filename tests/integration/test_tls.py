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
import datetime
import hashlib
import os
import random
import stat
from pathlib import Path
from typing import Any

import pytest

from codec import PduStream, encode_pdu
from codec.pdu import Pdu
from proxy.relay.endpoints import AddressError, TlsAddress, UnixAddress, parse_listen, parse_upstream
from proxy.relay.errors import ProxyError
from proxy.runtime import RuntimeOptions
from proxy.tls import pki
from proxy.tls.contexts import TlsListenOptions, TlsUpstreamOptions
from tests.components import require_binary
from tests.support import LogCapture, ScriptedMux
from tests.tls_support import (
    TIMEOUT,
    CertFactory,
    SClient,
    SServer,
    listen_opts,
    make_certs,
    proxy,
    s_client,
    upstream_opts,
)


@pytest.fixture
def certs(tmp_path: Path) -> CertFactory:
    return make_certs(tmp_path)


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


def _client_stream(seed: int, n: int = 80) -> bytes:
    """GetLines and Pings, then garbage (relayed too), as tests/integration/test_ssh.py's, shorter."""
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
            async with proxy(listen_opts(tmp_path, str(tmp_path / "mux.sock"))) as rt:
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
            async with proxy(listen_opts(tmp_path, str(tmp_path / "emu.sock"))) as rt:
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
        pki.write_private(certs.dir / f"{name}-key.pem", pki.key_pem(key))
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
            async with proxy(listen_opts(tmp_path, str(tmp_path / "mux.sock"))) as rt:
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


def test_upstream_s_server_verifies_our_certificate_and_bytes_pass(tmp_path: Path, certs: CertFactory) -> None:
    logs = LogCapture()
    srv = certs.issue("server", "realhost", ["localhost", "127.0.0.1"], client=False)
    cli = certs.issue("client", pki.login_name(), [pki.login_name()], client=True)
    request, reply = encode_pdu("Ping", {}, 1), encode_pdu("Pong", {}, 1)

    with SServer(*srv, certs.ca_pem) as server:
        async def main() -> tuple[bytes, bytes]:
            async with proxy(upstream_opts(tmp_path, server.port, *cli, certs.ca_pem)) as rt:
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
            async with proxy(upstream_opts(tmp_path, server.port, *cli, certs.ca_pem)) as rt:
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
        async with proxy(opts):
            pass

    with pytest.raises(ProxyError, match="needs --tls-cert"):
        asyncio.run(main())
    opts.tls_upstream = TlsUpstreamOptions(str(tmp_path / "missing.pem"))
    with pytest.raises(ProxyError, match=r"missing\.pem does not exist"):
        asyncio.run(main())




def test_cli_tls_options_are_checked_early() -> None:
    from proxy.cli.main import build_parser
    from proxy.cli.proxy import options_from_args

    def opts(*argv: str) -> RuntimeOptions:
        return options_from_args(build_parser().parse_args(["proxy", *argv]))

    with pytest.raises(AddressError, match=r"--tls-bootstrap-ssh '0\.0\.0\.0:2222' is not a loopback address"):
        opts("--listen", "tls:127.0.0.1:8443", "--upstream", "unix:/x", "--tls-bootstrap-ssh", "0.0.0.0:2222")
    with pytest.raises(ValueError, match="--tls-cert/--tls-ca are for an --upstream tls://"):
        opts("--listen", "unix:/p", "--upstream", "unix:/x", "--tls-cert", "c.pem")
    with pytest.raises(ValueError, match="leave out --tls-cert"):
        opts("--listen", "unix:/p", "--upstream", "tls://h:1", "--tls-cert", "c.pem", "--tls-bootstrap-via-ssh", "me@h")
    o = opts("--listen", "tls:127.0.0.1:8443", "--upstream", "tls://realhost:8080", "--tls-cert", "c.pem",
             "--tls-ca", "ca.pem", "--tls-expected-cn", "realhost.example", "--tls-dir", "/d")
    assert o.tls_listen == TlsListenOptions("/d") and o.tls_upstream == TlsUpstreamOptions(
        "c.pem", None, ("ca.pem",), "realhost.example")
