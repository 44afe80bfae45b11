"""SSH on both sides, against real OpenSSH: sshd as the upstream host, ssh as the client.

The upstream sshd (tests/components.py:Sshd) runs the emulated mux server for
``wezterm cli ... proxy``; the OpenSSH client stands in for wezterm-gui's SSH
domain. Everything listens on loopback high ports with keys made in tmp_path.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import os
import random
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codec import PduStream, encode_pdu
from codec.pdu import Pdu
from proxy.relay.endpoints import AddressError, SshAddress, UnixAddress, parse_listen
from proxy.relay.errors import ProxyError
from proxy.runtime import ProxyRuntime, RuntimeOptions
from proxy.ssh.client import SshUpstreamOptions
from proxy.ssh.server import SshListenOptions, is_mux_proxy_command
from tests.components import (
    REPO,
    Sshd,
    clean_env,
    emulated_server_argv,
    free_port,
    keygen,
    require_binary,
    ssh_argv,
    stop_process,
    wait_port,
)
from tests.support import LogCapture, ScriptedMux

TIMEOUT = 30.0
PROXY_COMMAND = ("wezterm", "cli", "--prefer-mux", "proxy")


@dataclass
class Keys:
    user: Path  # private key the OpenSSH client / asyncssh client use
    user_pub: str
    other: Path  # a key nobody authorized
    authorized: Path  # authorized_keys for muxscope's listener (holds `user`)
    ssh_config: Path  # an empty ssh_config: the tests must not depend on ~/.ssh/config


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keys:
    require_binary("ssh-keygen")
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # only the keys a test names
    user_pub = keygen(tmp_path / "id_user")
    keygen(tmp_path / "id_other")
    (tmp_path / "authorized_keys").write_text(user_pub + "\n")
    (tmp_path / "ssh_config").write_text("")
    return Keys(tmp_path / "id_user", user_pub, tmp_path / "id_other", tmp_path / "authorized_keys",
                tmp_path / "ssh_config")


@pytest.fixture
def sshd(tmp_path: Path, keys: Keys) -> Any:
    require_binary("ssh")
    with Sshd(tmp_path, keys.user_pub) as server:
        yield server


def _upstream_opts(keys: Keys, known_hosts: Path, **kw: Any) -> SshUpstreamOptions:
    return SshUpstreamOptions(config=str(keys.ssh_config), known_hosts=str(known_hosts), identity=str(keys.user), **kw)


def _handshake() -> tuple[bytes, int]:
    """What a GUI sends first: codec version, the pane list, then the visible lines of pane 0."""
    reqs = (encode_pdu("GetCodecVersion", {}, 1) + encode_pdu("ListPanes", {}, 2)
            + encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 680, "end": 712}]}, 3))
    return reqs, 3


def _answers(pdus: Sequence[Pdu]) -> list[tuple[str, int, Any]]:
    return [(p.name, p.serial, p.body) for p in pdus]


async def _read_pdus(reader: asyncio.StreamReader, n: int) -> tuple[list[Pdu], bytes]:
    stream, pdus, raw = PduStream(), [], bytearray()
    while len(pdus) < n:
        chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
        if not chunk:
            raise EOFError(f"stream ended after {len(pdus)} of {n} PDUs")
        raw += chunk
        pdus += [p for p in stream.feed(chunk) if isinstance(p, Pdu)]
    return pdus, bytes(raw)


@dataclass
class ProcResult:
    rc: int | None
    pdus: list[Pdu]
    stdout: bytes
    stderr: str


async def _mux_over_process(argv: Sequence[str], requests: bytes, n: int, cwd: Path | None = None) -> ProcResult:
    """Speak the mux protocol over a process's stdin/stdout (ssh, or the emulated server itself)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, env=clean_env(), cwd=cwd)
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        err_task = asyncio.ensure_future(proc.stderr.read())
        proc.stdin.write(requests)
        await proc.stdin.drain()
        pdus: list[Pdu] = []
        raw = b""
        with contextlib.suppress(EOFError):
            pdus, raw = await _read_pdus(proc.stdout, n)
        proc.stdin.close()
        raw += await asyncio.wait_for(proc.stdout.read(), TIMEOUT)
        rc = await asyncio.wait_for(proc.wait(), TIMEOUT)
        return ProcResult(rc, pdus, raw, (await err_task).decode(errors="replace"))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _run(argv: Sequence[str], stdin: bytes = b"") -> tuple[int, bytes, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, env=clean_env())
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out, err.decode(errors="replace")


async def _mux_over_unix(path: str, requests: bytes, n: int) -> list[Pdu]:
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(requests)
        await writer.drain()
        pdus, _ = await _read_pdus(reader, n)
        return pdus
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def _proxy(opts: RuntimeOptions) -> AsyncIterator[ProxyRuntime]:
    rt = ProxyRuntime(opts)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop(grace=1.0)


def _listener_known_hosts(logs: LogCapture, path: Path) -> Path:
    """known_hosts holding exactly the line muxscope logged at start (so that line is tested too)."""
    (ev,) = logs.events("ssh_host_key")[-1:]
    path.write_text(ev["known_hosts"] + "\n")
    return path


# -- pure checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command, ok", [
    ("wezterm cli --prefer-mux proxy", True),
    ("wezterm cli --prefer-mux --no-auto-start proxy", True),
    ("wezterm cli proxy", True),
    ("/opt/WezTerm/bin/wezterm cli --prefer-mux proxy", True),
    ("'/path with space/wezterm' cli --no-auto-start proxy", True),
    ("wezterm cli --prefer-mux proxy; rm -rf /", False),
    ("wezterm cli --prefer-mux proxy && sh", False),
    ("wezterm cli spawn", False),
    ("sh -c 'wezterm cli proxy'", False),
    ("bash", False),
    ("", False),
])
def test_which_commands_are_the_mux_proxy(command: str, ok: bool) -> None:
    assert is_mux_proxy_command(command) is ok


def test_allow_command_regex() -> None:
    opts = SshListenOptions(allow_commands=(r"/usr/local/bin/muxproxy( --debug)?",))
    assert opts.command_allowed("/usr/local/bin/muxproxy --debug")
    assert not opts.command_allowed("/usr/local/bin/muxproxy --debug; id")
    with pytest.raises(ValueError, match="--allow-command"):
        SshListenOptions(allow_commands=("(",))


def test_ssh_listen_is_loopback_unless_allowed() -> None:
    with pytest.raises(AddressError, match="allow-remote"):
        parse_listen("ssh:0.0.0.0:2222")
    assert parse_listen("ssh:0.0.0.0:2222", allow_remote=True) == SshAddress("0.0.0.0", 2222)


# -- the host key ---------------------------------------------------------------------------------


def test_host_key_is_created_once_and_kept(tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    require_binary("ssh")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    logs = LogCapture()

    async def once(port: int) -> tuple[dict[str, Any], int]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        opts = RuntimeOptions(listen=SshAddress("127.0.0.1", port), upstream=UnixAddress(str(tmp_path / "mux.sock")),
                              ssh_listen=SshListenOptions(authorized_keys=str(keys.authorized)))
        try:
            async with _proxy(opts) as rt:
                kh = _listener_known_hosts(logs, tmp_path / "known_hosts")
                res = await _mux_over_process(ssh_argv(rt.server.port, keys.user, kh, *PROXY_COMMAND),
                                              encode_pdu("Ping", {}, 1), 1)
                return logs.events("ssh_host_key")[-1], res.rc if res.pdus[0].name == "Pong" else -1
        finally:
            await mux.stop()

    port = free_port()
    first, rc1 = asyncio.run(once(port))
    key_path = tmp_path / "state" / "muxscope" / "ssh_host_ed25519_key"
    assert first["path"] == str(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    second, rc2 = asyncio.run(once(port))
    assert (rc1, rc2) == (0, 0)
    assert first["fingerprint"] == second["fingerprint"] and first["fingerprint"].startswith("SHA256:")
    assert second["known_hosts"].startswith(f"[127.0.0.1]:{port} ssh-ed25519 AAAA")

    key_path.chmod(0o644)

    async def loose() -> None:
        rt = ProxyRuntime(RuntimeOptions(listen=SshAddress("127.0.0.1", 0), upstream=UnixAddress("/nonexistent"),
                                         ssh_listen=SshListenOptions(authorized_keys=str(keys.authorized))))
        try:
            await rt.start()
        finally:
            await rt.stop()

    with pytest.raises(ProxyError, match="chmod 600"):
        asyncio.run(loose())


# -- listen: the real OpenSSH client connects to muxscope --------------------------------------------


def _client_stream(seed: int) -> bytes:
    rnd = random.Random(seed)
    out = bytearray(encode_pdu("GetCodecVersion", {}, 1))
    for serial in range(2, 400):
        if rnd.random() < 0.7:
            out += encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": rnd.randint(1, 200)}]}, serial)
        else:
            out += encode_pdu("Ping", {}, serial)
    return bytes(out + rnd.randbytes(40))  # garbage is relayed too (last: it derails the peer's framing)


def test_openssh_client_through_listener_is_byte_exact(tmp_path: Path, keys: Keys) -> None:
    require_binary("ssh")
    logs = LogCapture()
    data = _client_stream(7)

    async def main() -> tuple[int, bytes, str, ScriptedMux]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        opts = RuntimeOptions(
            listen=SshAddress("127.0.0.1", 0), upstream=UnixAddress(str(tmp_path / "mux.sock")),
            ssh_listen=SshListenOptions(host_key=str(tmp_path / "hk"), authorized_keys=str(keys.authorized)))
        try:
            async with _proxy(opts) as rt:
                kh = _listener_known_hosts(logs, tmp_path / "known_hosts")
                rc, out, err = await _run(ssh_argv(rt.server.port, keys.user, kh, *PROXY_COMMAND), data)
                await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
                return rc, out, err, mux
        finally:
            await mux.stop()

    rc, out, err, mux = asyncio.run(main())
    assert rc == 0, err
    assert len(mux.sent) > 100_000
    assert hashlib.sha256(bytes(mux.received)).hexdigest() == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(bytes(mux.sent)).hexdigest()
    (opened,) = logs.events("connection_opened")
    assert opened["client"].startswith("127.0.0.1:")
    (closed,) = logs.events("connection_closed")
    assert closed["bytes_client_to_server"] == len(data) and closed["bytes_server_to_client"] == len(out)
    assert logs.events("ssh_login")[0]["ssh_user"] == getpass.getuser()


def test_refusals_leave_the_listener_serving(tmp_path: Path, keys: Keys) -> None:
    require_binary("ssh")
    logs = LogCapture()

    async def main() -> dict[str, tuple[int, str]]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        opts = RuntimeOptions(
            listen=SshAddress("127.0.0.1", 0), upstream=UnixAddress(str(tmp_path / "mux.sock")),
            ssh_listen=SshListenOptions(host_key=str(tmp_path / "hk"), authorized_keys=str(keys.authorized)))
        results: dict[str, tuple[int, str]] = {}
        try:
            async with _proxy(opts) as rt:
                kh = _listener_known_hosts(logs, tmp_path / "known_hosts")
                port = rt.server.port
                assert port is not None

                async def attempt(name: str, key: Path, *command: str, options: tuple[str, ...] = ()) -> None:
                    rc, _, err = await _run(ssh_argv(port, key, kh, *command, options=options))
                    results[name] = (rc, err)

                await attempt("wrong_key", keys.other, *PROXY_COMMAND)
                await attempt("password", keys.user, *PROXY_COMMAND,
                              options=("-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"))
                await attempt("shell", keys.user)
                await attempt("shell_tty", keys.user, options=("-tt",))
                await attempt("other_command", keys.user, "cat", "/etc/passwd")
                await attempt("subsystem", keys.user, "sftp", options=("-s",))
                await attempt("forward_W", keys.user, options=("-W", "127.0.0.1:9"))
                await attempt("forward_R", keys.user, *PROXY_COMMAND,
                              options=("-R", "0:127.0.0.1:9", "-o", "ExitOnForwardFailure=yes"))
                res = await _mux_over_process(ssh_argv(port, keys.user, kh, *PROXY_COMMAND),
                                              encode_pdu("Ping", {}, 5), 1)
                results["still_serving"] = (res.rc or 0, res.pdus[0].name if res.pdus else res.stderr)
        finally:
            await mux.stop()
        return results

    r = asyncio.run(main())
    assert r["wrong_key"][0] == 255 and "Permission denied (publickey)" in r["wrong_key"][1]
    assert r["password"][0] == 255 and "Permission denied (publickey)" in r["password"][1]
    assert r["shell"][0] == 1 and "interactive shells are refused" in r["shell"][1]
    assert r["shell_tty"][0] == 255 and "PTY allocation request failed" in r["shell_tty"][1]  # OpenSSH's words
    assert r["other_command"][0] == 1 and "command refused: 'cat /etc/passwd'" in r["other_command"][1]
    assert r["subsystem"][0] == 1 and "subsystem 'sftp' is refused" in r["subsystem"][1]
    assert r["forward_W"][0] == 255
    assert "administratively prohibited: muxscope: port forwarding is refused" in r["forward_W"][1]
    assert r["forward_R"][0] == 255 and "remote port forwarding failed" in r["forward_R"][1]
    assert r["still_serving"] == (0, "Pong")
    refused = {e["request"] for e in logs.events("ssh_refused")}
    assert {"shell", "exec", "subsystem", "direct-tcpip", "tcpip-forward", "pty"} <= refused


# -- upstream: asyncssh to a real sshd ------------------------------------------------------------------


def test_upstream_ssh_answers_like_a_direct_run(tmp_path: Path, keys: Keys, sshd: Sshd) -> None:
    logs = LogCapture()
    requests, n = _handshake()
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line() + "\n")

    async def main() -> tuple[ProcResult, list[Pdu]]:
        direct = await _mux_over_process(emulated_server_argv(), requests, n, cwd=REPO)
        up = SshAddress("127.0.0.1", sshd.port, getpass.getuser())
        opts = RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")), upstream=up,
                              ssh_upstream=_upstream_opts(keys, kh))
        async with _proxy(opts) as rt:
            proxied = await _mux_over_unix(str(tmp_path / "p.sock"), requests, n)
            await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
        return direct, proxied

    direct, proxied = asyncio.run(main())
    assert direct.rc == 0 and len(direct.pdus) == n
    assert [p.name for p in proxied] == ["GetCodecVersionResponse", "ListPanesResponse", "GetLinesResponse"]
    assert _answers(proxied) == _answers(direct.pdus)
    assert sshd.commands() == [" ".join(PROXY_COMMAND)]
    assert [e["status"] for e in logs.events("upstream_exited")] == [0]
    assert any("emulated wezterm-mux-server" in e["line"] for e in logs.events("upstream_stderr"))
    (getlines,) = logs.events("getlines")
    assert getlines["rows_requested"] == 32


def test_upstream_ssh_resize_drag_like_direct(tmp_path: Path, keys: Keys, sshd: Sshd) -> None:
    from muxscope_emulator.client import ClientOptions, EmulatedClient
    from muxscope_emulator.server import EmulatedMuxServer, ServerOptions

    logs = LogCapture()
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line() + "\n")

    clients: list[EmulatedClient] = []

    def client() -> EmulatedClient:
        clients.append(EmulatedClient(ClientOptions(scenario="resize-drag", resizes=6, drag_seconds=0.3, timeout=15)))
        return clients[-1]

    async def main() -> tuple[Any, Any]:
        server = EmulatedMuxServer(ServerOptions())
        await server.start(UnixAddress(str(tmp_path / "emu.sock")))
        try:
            direct = await client().run(UnixAddress(str(tmp_path / "emu.sock")))
        finally:
            await server.stop()
        opts = RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")),
                              upstream=SshAddress("127.0.0.1", sshd.port, getpass.getuser()),
                              ssh_upstream=_upstream_opts(keys, kh))
        async with _proxy(opts) as rt:
            proxied = await client().run(UnixAddress(str(tmp_path / "p.sock")))
            await asyncio.wait_for(rt.server.wait_idle(), TIMEOUT)
        return direct, proxied

    direct, proxied = asyncio.run(main())
    assert direct.settled and proxied.settled, (direct.errors, proxied.errors)
    # The drag's steps are seeded, so both end at the same window size. How many Resize/GetLines it
    # took, and the exact settled screen (rows fetched mid-drag keep the width they were fetched at),
    # depend on timing even between two direct runs, so those are not compared row for row; what
    # must hold is that the drag completes and settles through SSH as it does directly, and that
    # the proxy measured every GetLines the client sent.
    assert clients[0].window_rows_cols() == clients[1].window_rows_cols()
    assert proxied.resizes_sent >= 6 and direct.resizes_sent >= 6
    assert proxied.rows_fetched_scenario > 0 and direct.rows_fetched_scenario > 0
    assert len(logs.events("getlines")) == proxied.rpcs["GetLines"]
    assert proxied.resizes_sent >= 6 and direct.resizes_sent >= 6
    assert proxied.rows_fetched_scenario > 0 and direct.rows_fetched_scenario > 0
    assert not proxied.errors


def test_upstream_host_key_unknown_or_changed_fails_closed(tmp_path: Path, keys: Keys, sshd: Sshd) -> None:
    """Through muxscope's own SSH listener, so the message is checked where the user sees it."""
    logs = LogCapture()
    up_kh = tmp_path / "upstream_known_hosts"
    up_kh.write_text("")

    async def main() -> list[ProcResult]:
        opts = RuntimeOptions(
            listen=SshAddress("127.0.0.1", 0), upstream=SshAddress("127.0.0.1", sshd.port, getpass.getuser()),
            ssh_listen=SshListenOptions(host_key=str(tmp_path / "hk"), authorized_keys=str(keys.authorized)),
            ssh_upstream=_upstream_opts(keys, up_kh))
        out = []
        async with _proxy(opts) as rt:
            kh = _listener_known_hosts(logs, tmp_path / "known_hosts")
            argv = ssh_argv(rt.server.port, keys.user, kh, *PROXY_COMMAND)
            out.append(await _mux_over_process(argv, encode_pdu("Ping", {}, 1), 1))
            alg, blob = keys.user_pub.split()[:2]  # some other key, recorded for this host
            up_kh.write_text(f"[127.0.0.1]:{sshd.port} {alg} {blob}\n")
            out.append(await _mux_over_process(argv, encode_pdu("Ping", {}, 1), 1))
            up_kh.write_text(sshd.known_hosts_line() + "\n")
            out.append(await _mux_over_process(argv, *_handshake()))
        return out

    unknown, changed, good = asyncio.run(main())
    name = f"[127.0.0.1]:{sshd.port}"
    assert unknown.rc == 255 and not unknown.pdus
    assert f"host key for {name} is not in {up_kh}; connect once with ssh to add it" in unknown.stderr
    assert changed.rc == 255 and not changed.pdus
    assert f"host key for {name} has CHANGED" in changed.stderr and "ssh-keygen" in changed.stderr
    assert good.rc == 0 and good.pdus[0].name == "GetCodecVersionResponse", good.stderr
    reasons = [e["reason"] for e in logs.events("upstream_connect_failed")]
    assert len(reasons) == 2 and "is not in" in reasons[0] and "CHANGED" in reasons[1]
    assert sshd.commands() == [" ".join(PROXY_COMMAND)]  # nothing ran on the host before the key was trusted


# -- the whole SSH-domain path, through the CLI -----------------------------------------------------------


def test_cli_ssh_domain_path_end_to_end(tmp_path: Path, keys: Keys, sshd: Sshd) -> None:
    """ssh (as wezterm-gui) -> muxscope proxy (CLI, subprocess) -> sshd -> emulated `wezterm cli proxy`."""
    up_kh = tmp_path / "upstream_known_hosts"
    up_kh.write_text(sshd.known_hosts_line() + "\n")
    port = free_port()
    log_file = tmp_path / "muxscope.log"
    argv = [sys.executable, "-m", "proxy.cli", "proxy", "--listen", f"ssh:127.0.0.1:{port}",
            "--upstream", f"ssh://{getpass.getuser()}@127.0.0.1:{sshd.port}",
            "--host-key", str(tmp_path / "hk"), "--authorized-keys", str(keys.authorized),
            "--allow-command", "fail-with-[0-9]", "--ssh-config", str(keys.ssh_config),
            "--known-hosts", str(up_kh), "--identity", str(keys.user),
            "--log-format", "json", "--log-file", str(log_file)]
    proc = subprocess.Popen(argv, cwd=REPO, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_port(port, 15, proc)
        import json

        events = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
        (hk,) = [e for e in events if e["event"] == "ssh_host_key"]
        kh = tmp_path / "known_hosts"
        kh.write_text(hk["known_hosts"] + "\n")
        command = ("/opt/wezterm/bin/wezterm", "cli", "--prefer-mux", "--no-auto-start", "proxy")
        requests, n = _handshake()

        async def main() -> tuple[ProcResult, ProcResult, tuple[int, bytes, str]]:
            direct = await _mux_over_process(emulated_server_argv(), requests, n, cwd=REPO)
            via = await _mux_over_process(ssh_argv(port, keys.user, kh, *command), requests, n)
            failing = await _run(ssh_argv(port, keys.user, kh, "fail-with-7"))
            return direct, via, failing

        direct, via, failing = asyncio.run(main())
    finally:
        stop_process(proc, 10)  # SIGTERM: a clean shutdown, exit status 0
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == 0, stderr
    assert via.rc == 0, via.stderr
    assert _answers(via.pdus) == _answers(direct.pdus)
    assert "emulated wezterm-mux-server on stdio" in via.stderr  # remote stderr reaches the client
    rc, _, err = failing
    assert rc == 7 and "remote says: failing on purpose" in err  # exit status and stderr passed back
    assert sshd.commands() == [" ".join(command), "fail-with-7"]  # the client's command, verbatim
    events = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    assert sum(e["event"] == "connection_closed" for e in events) == 2
    assert any(e["event"] == "getlines" and e["rows_requested"] == 32 for e in events), [e["event"] for e in events]


@pytest.mark.skipif(os.name != "posix", reason="unix only")
def test_missing_binary_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """require_binary skips normally and fails under MUXSCOPE_REQUIRE_INTEGRATION=1."""
    import tests.components as integration

    monkeypatch.setattr(integration, "REQUIRE", False)
    with pytest.raises(pytest.skip.Exception):
        integration.require_binary("muxscope-no-such-binary")
    monkeypatch.setattr(integration, "REQUIRE", True)
    with pytest.raises(pytest.fail.Exception, match="MUXSCOPE_REQUIRE_INTEGRATION=1"):
        integration.require_binary("muxscope-no-such-binary")


def test_authorized_keys_reread_and_upstream_failure_reaches_the_user(tmp_path: Path, keys: Keys) -> None:
    """A key added to authorized_keys applies without a restart; an unreachable upstream is explained."""
    require_binary("ssh")
    logs = LogCapture()
    ak = tmp_path / "late_authorized_keys"
    ak.write_text((tmp_path / "id_other.pub").read_text())  # someone else's key: the listener starts

    async def main() -> list[tuple[int, bytes, str]]:
        opts = RuntimeOptions(
            listen=SshAddress("127.0.0.1", 0), upstream=UnixAddress(str(tmp_path / "nobody.sock")),
            ssh_listen=SshListenOptions(host_key=str(tmp_path / "hk"), authorized_keys=str(ak)))
        async with _proxy(opts) as rt:
            kh = _listener_known_hosts(logs, tmp_path / "known_hosts")
            argv = ssh_argv(rt.server.port, keys.user, kh, *PROXY_COMMAND)
            ak.unlink()  # gone after the start: every login is refused, and the log says why
            first = await _run(argv)
            ak.write_text(keys.user_pub + "\n")
            return [first, await _run(argv)]

    (rc1, _, err1), (rc2, _, err2) = asyncio.run(main())
    assert rc1 == 255 and "Permission denied (publickey)" in err1
    assert logs.events("ssh_authorized_keys_unreadable")
    assert rc2 == 255 and "could not connect to the upstream mux server" in err2
    assert "no such socket" in logs.events("upstream_connect_failed")[0]["reason"]


@pytest.mark.parametrize("content", [None, "", "# only a comment\n"])
def test_listen_ssh_refuses_to_start_when_no_one_could_log_in(tmp_path: Path, content: str | None) -> None:
    """A missing or keyless authorized_keys file stops the start with one line and exit 2."""
    ak = tmp_path / "authorized_keys"
    if content is not None:
        ak.write_text(content)
    res = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "proxy", "--listen", "ssh:127.0.0.1:0", "--upstream",
         f"unix:{tmp_path / 'mux.sock'}", "--authorized-keys", str(ak), "--host-key", str(tmp_path / "hk")],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=clean_env())
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("muxscope proxy: --authorized-keys ") and "no one could log in" in line
    assert not (tmp_path / "hk").exists()  # refused before anything was made
