"""TLS domains end to end: kernel receive stamps through TLS, a resize drag with TLS on both sides
checked against the emulated client's truth, and ``bootstrap_via_ssh`` with OpenSSH and OpenSSL in
wezterm's place (tests/integration/test_tls.py has the listener's and the upstream's checks one by one)."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import ssl
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from codec import PduStream, encode_pdu
from codec.pdu import Pdu
from proxy.relay.endpoints import TlsAddress, UnixAddress, parse_listen
from proxy.runtime import RuntimeOptions
from proxy.tls import pki
from proxy.tls.contexts import TlsListenOptions, TlsUpstreamOptions
from tests.components import free_port, require_binary, wait_port
from tests.integration.test_ssh import Keys, keys, sshd  # noqa: F401  (the fixtures)
from tests.support import LogCapture, ScriptedMux
from tests.tls_support import (
    TIMEOUT,
    CertFactory,
    SClient,
    listen_opts,
    make_certs,
    proxy,
    s_client,
)


@pytest.fixture
def certs(tmp_path: Path) -> CertFactory:
    return make_certs(tmp_path)


# -- stamps ---------------------------------------------------------------------------------------------


def test_kernel_receive_stamps_survive_tls(tmp_path: Path) -> None:
    """A request read late (the loop busy) is stamped when its record arrived, as on plain TCP."""
    from tests.integration.test_stamped import LATE_S, _Recorder

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


def _drag_over_tls(tmp_path: Path, certs: CertFactory) -> tuple[subprocess.CompletedProcess[bytes], str, str]:
    """Run the emulated server, muxscope and the emulated client (a resize drag), all over TLS, each a
    process of its own; returns the client's run, the capture and the client's truth file."""
    from tests.integration.test_truth import PY, _wait_for

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
    return client, capture, truth_file


def test_resize_drag_over_tls_on_both_sides_holds_the_truth(tmp_path: Path, certs: CertFactory) -> None:
    """emulated client (TLS, muxscope's client certificate) -> muxscope's TLS listener -> muxscope's
    TLS upstream -> emulated mux server (TLS, client certificate required), each a process of its own
    as in tests/integration/test_truth.py, whose checks are run on the capture.

    (With socat in between as the TLS ends instead, the check fails even over plain TCP: a hop
    between client and proxy hides crossings the analysis reads from the wire's order, so the
    emulated ends speak TLS themselves, as wezterm-gui and wezterm-mux-server do.)"""
    from tests.integration.test_truth import (
        _check_outcomes,
        _check_what_ifs,
        _crossing_rows,
        _excused_causes,
        analyse_session,
    )

    client, capture, truth_file = _drag_over_tls(tmp_path, certs)
    assert client.returncode == 0, client.stderr.decode(errors="replace")[-2000:]
    truth, attribution = analyse_session(capture, truth_file, "wezterm")
    assert truth["rows_detail"], "the drag fetched no rows"
    assert all(r["pdu"] != "GetLines" or r["latency_ms"] > 0 for r in truth["rpcs"])
    # latencies: the client's (kernel send stamp of its record -> receive stamp of the reply's) and the
    # proxy's (receive stamp of the request's record -> reply relayed) agree as over TCP (test_truth.py)
    client_ms = {r["serial"]: r["latency_ms"] for r in truth["rpcs"] if r["pdu"] == "GetLines"}
    mine = {f.serial: (f.t_response_ns - f.t_request_ns) / 1e6 for f in attribution.fetches}
    assert mine.keys() == client_ms.keys() and len(mine) > 10
    gaps = sorted(client_ms[s] - mine[s] for s in mine)
    print(f"client minus proxy latency over TLS, ms: min {gaps[0]:.3f}, p50 {gaps[len(gaps) // 2]:.3f}, "
          f"max {gaps[-1]:.3f}")
    assert gaps[0] >= -0.5, "the proxy measured more than the client: it sits inside the round trip"
    assert gaps[len(gaps) // 2] <= 0.5
    slack = _check_outcomes("resize-drag", "wezterm", truth, attribution)
    _check_what_ifs(json.loads(client.stdout), attribution,
                    _crossing_rows(truth, attribution, slack) + _excused_causes(truth, attribution))


# -- bootstrap_via_ssh: muxscope answers `wezterm cli tlscreds` ---------------------------------------------


def test_bootstrap_via_ssh_issues_credentials_the_listener_accepts(tmp_path: Path, keys: Keys) -> None:  # noqa: F811
    """What client.rs ``tls_connect`` does, with OpenSSH and OpenSSL in wezterm's place: log in over
    SSH, run ``wezterm cli tlscreds``, decode the GetTlsCredsResponse from stdout, save ca.pem and
    cert.pem (certificate and key in one file), then connect with them over TLS."""
    from proxy.ssh.server import SshListenOptions
    from tests.components import ssh_argv
    from tests.integration.test_ssh import _listener_known_hosts, _run

    require_binary("ssh")
    logs = LogCapture()

    async def main() -> tuple[tuple[int, bytes, str], tuple[int, bytes, str], SClient, Any, tuple[int, bytes, str]]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        ssh_opts = SshListenOptions(host_key=str(tmp_path / "hk"), authorized_keys=str(keys.authorized))
        opts = listen_opts(tmp_path, str(tmp_path / "mux.sock"), bootstrap_ssh=parse_listen("ssh:127.0.0.1:0"),
                            ssh=ssh_opts)
        try:
            async with proxy(opts) as rt:
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


def _new_mux_ca(tmp_path: Path, openssh: Any, user: str, gen: int) -> ssl.SSLContext:
    """A fresh CA and server certificate (a restarted wezterm-mux-server), and the credentials
    ``tlscreds`` hands out for it; returns the server's TLS context."""
    from proxy.ssh.server import tlscreds_output
    from proxy.tls.contexts import server_context

    ca, ca_key = pki.make_ca(f"mux server CA #{gen}")
    srv, srv_key = pki.issue(ca, ca_key, "realhost", ["127.0.0.1"], client=False)
    cli, cli_key = pki.issue(ca, ca_key, user, [user], client=True)
    (tmp_path / f"srv{gen}.pem").write_bytes(pki.cert_pem(srv) + pki.key_pem(srv_key))
    (tmp_path / f"ca{gen}.pem").write_bytes(pki.cert_pem(ca))
    openssh.tlscreds.write_bytes(tlscreds_output(pki.cert_pem(ca).decode(),
                                                 (pki.cert_pem(cli) + pki.key_pem(cli_key)).decode(), pem=False))
    return server_context(str(tmp_path / f"srv{gen}.pem"), None, [str(tmp_path / f"ca{gen}.pem")])


async def _ping(path: str) -> list[str]:
    """A Ping through the proxy's unix listener: the names of the PDUs that came back."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(encode_pdu("Ping", {}, 1))
    await writer.drain()
    stream, pdus = PduStream(), []
    while not pdus:
        chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
        if not chunk:
            break
        pdus += [p.name for p in stream.feed(chunk) if isinstance(p, Pdu)]
    writer.close()
    return pdus


def test_upstream_bootstraps_credentials_over_ssh_and_again_after_a_server_restart(
        tmp_path: Path, keys: Keys, sshd: Any) -> None:  # noqa: F811
    """client.rs ``tls_connect`` with muxscope as the client and real OpenSSH serving ``tlscreds``:
    credentials fetched once and reused; when the server restarts with a new CA (as
    wezterm-mux-server does on every start), the handshake fails and they are fetched again."""
    from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
    from proxy.relay.endpoints import SshAddress
    from proxy.tls.bootstrap import BootstrapOptions
    from tests.integration.test_ssh import _upstream_opts

    logs = LogCapture()
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line() + "\n")
    port = free_port()
    user = pki.login_name()
    sock = str(tmp_path / "p.sock")

    async def main() -> list[list[str]]:
        boot = BootstrapOptions(SshAddress("127.0.0.1", sshd.port, getpass.getuser()), _upstream_opts(keys, kh),
                                directory=str(tmp_path / "up"))
        opts = RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")), upstream=TlsAddress("127.0.0.1", port),
                              tls_upstream=TlsUpstreamOptions(bootstrap=boot))
        answers = []
        async with proxy(opts) as rt:
            server = EmulatedMuxServer(ServerOptions())
            await server.start(TlsAddress("127.0.0.1", port), _new_mux_ca(tmp_path, sshd, user, 1))
            answers += [await _ping(sock), await _ping(sock)]  # the second reuses the saved credentials
            await server.stop()
            server = EmulatedMuxServer(ServerOptions())  # "restarted": a new CA
            await server.start(TlsAddress("127.0.0.1", port), _new_mux_ca(tmp_path, sshd, user, 2))
            answers.append(await _ping(sock))
            await server.stop()
            await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
        return answers

    assert asyncio.run(main()) == [["Pong"], ["Pong"], ["Pong"]]
    assert sshd.commands() == ["wezterm cli tlscreds", "wezterm cli tlscreds"]
    assert len(logs.events("tls_bootstrapped")) == 2
    saved = tmp_path / "up" / f"127.0.0.1_{port}"
    assert {stat.S_IMODE(os.stat(f).st_mode) for f in saved.iterdir()} == {0o600}
    assert not logs.events("upstream_connect_failed")
