"""docs/wezterm-config.md: every snippet uses real WezTerm options and its endpoints work.

The Lua snippets are parsed (a small reader for table constructors, string
concatenation, ``local`` names and the two environment lookups the doc uses,
enough for configuration files) and every domain key is checked against
WezTerm's config structs as recorded in ``tests/wezterm_facts.py`` (no WezTerm
source needed). Then each way in is run as far as this machine allows: the
``proxy_command`` argv and the ``remote_wezterm_path`` wrapper are spawned and
spoken to over stdio, the ``socket_path`` proxy over its socket, the
``override_proxy_command`` through ``sh -c`` as sshd would, the SSH domain
with the OpenSSH client standing in for wezterm's, and the TLS domain with
``openssl s_client`` using the files muxscope prints.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codec import PduStream, encode_pdu
from codec.pdu import Pdu
from tests import wezterm_facts as facts
from tests.components import (
    REPO,
    clean_env,
    emulated_server_argv,
    free_port,
    keygen,
    require_binary,
    ssh_argv,
    stop_process,
    wait_port,
)
from tests.support import ScriptedMux

DOC = REPO / "docs" / "wezterm-config.md"
TIMEOUT = 30.0
READ_TIMEOUT = 10.0  # for an answer that normally takes well under a second
#: What the reader gives for the environment the snippets read (expanded by :func:`expand`).
LUA_ENV = {"os.getenv('XDG_RUNTIME_DIR')": "$XDG_RUNTIME_DIR", "wezterm.home_dir": "$HOME"}


# -- reading the doc -------------------------------------------------------------------------------


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


_TOKEN = re.compile(
    r"""\s+|--[^\n]*|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\[\[.*?\]\]"""  # space, comments, strings
    r"""|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*|-?\d+(?:\.\d+)?|\.\.|==|[{}=,;()]""",  # names, numbers, punctuation
    re.S,
)


def lua_tokens(src: str) -> list[str]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise ValueError(f"cannot read Lua at {src[pos:pos + 30]!r}")
        pos = m.end()
        tok = m.group()
        if not tok.isspace() and not tok.startswith("--"):
            out.append(tok)
    return out


class _Reader:
    """Values of a snippet's expressions; ``local`` names are remembered as they are assigned."""

    def __init__(self, toks: list[str]) -> None:
        self.toks = toks
        self.names: dict[str, Any] = {}

    def expr(self, i: int) -> tuple[Any, int]:
        value, i = self._primary(i)
        while i < len(self.toks) and self.toks[i] == "..":
            right, i = self._primary(i + 1)
            value = f"{value}{right}"
        return value, i

    def _primary(self, i: int) -> tuple[Any, int]:
        tok = self.toks[i]
        if tok == "{":
            return self._table(i + 1)
        if tok[0] in "'\"":
            return bytes(tok[1:-1], "utf-8").decode("unicode_escape"), i + 1
        if tok.startswith("[["):
            return tok[2:-2], i + 1
        if tok in ("true", "false"):
            return tok == "true", i + 1
        if re.fullmatch(r"-?\d+(\.\d+)?", tok):
            return float(tok) if "." in tok else int(tok), i + 1
        if tok == "os.getenv" and self.toks[i + 1] == "(" and self.toks[i + 3] == ")":
            call = f"os.getenv({self.toks[i + 2]})"
            if call in LUA_ENV:
                return LUA_ENV[call], i + 4
        if tok in LUA_ENV:
            return LUA_ENV[tok], i + 1
        if tok in self.names:
            return self.names[tok], i + 1
        raise ValueError(f"unsupported Lua value {tok!r}")

    def _table(self, i: int) -> tuple[Any, int]:
        """A table constructor after its ``{``: a list, or a dict (mixing both is not needed in configs)."""
        items: list[Any] = []
        fields: dict[str, Any] = {}
        toks = self.toks
        while toks[i] != "}":
            if re.fullmatch(r"[A-Za-z_]\w*", toks[i]) and toks[i + 1] == "=":
                fields[toks[i]], i = self.expr(i + 2)
            else:
                value, i = self.expr(i)
                items.append(value)
            if toks[i] in (",", ";"):
                i += 1
        assert not (items and fields), "mixed tables are not used in these snippets"
        return (fields if fields or not items else items), i + 1


def config_assignments(src: str) -> dict[str, Any]:
    """``config.X = <table>`` statements of a snippet, as Python values (``local`` names resolved)."""
    toks = lua_tokens(src)
    reader = _Reader(toks)
    out: dict[str, Any] = {}
    for i, tok in enumerate(toks):
        if tok == "local" and toks[i + 2] == "=" and toks[i + 3] not in ("require", "wezterm.config_builder"):
            reader.names[toks[i + 1]], _ = reader.expr(i + 3)
        if tok.startswith("config.") and toks[i + 1] == "=" and toks[i + 2] == "{":
            out[tok.removeprefix("config.")], _ = reader._table(i + 3)
    return out


def expand(value: str, env: dict[str, str]) -> str:
    """A snippet's value as wezterm would see it with ``env`` as its environment."""
    return re.sub(r"\$([A-Z_]+)", lambda m: env[m.group(1)], value)


def domains(kind: str) -> dict[str, dict[str, Any]]:
    """Every ``kind`` domain of the doc by name (kind: ssh_domains or unix_domains)."""
    found: dict[str, dict[str, Any]] = {}
    for src in blocks("lua"):
        for d in config_assignments(src).get(kind, []):
            found[d.get("name") or d["bind_address"]] = d  # (a tls_servers entry has no name)
    return found


def doc_commands() -> list[list[str]]:
    import shlex

    return [shlex.split(line) for b in blocks("sh") for line in b.splitlines() if line.startswith("muxscope ")]


# -- WezTerm's config structs (tests/wezterm_facts.py) ------------------------------------------------


def test_the_doc_has_a_snippet_for_each_way_in() -> None:
    ssh, unix = domains("ssh_domains"), domains("unix_domains")
    assert any(d.get("remote_address") == "127.0.0.1:2222" for d in ssh.values())
    assert any("proxy_command" in d for d in unix.values())
    assert any("socket_path" in d for d in unix.values())
    assert any("override_proxy_command" in d for d in ssh.values())
    assert any("remote_wezterm_path" in d for d in ssh.values())
    tls = domains("tls_clients")
    assert any("pem_root_certs" in d and "pem_cert" in d for d in tls.values())
    assert any("bootstrap_via_ssh" in d for d in tls.values())
    assert domains("tls_servers")


def test_every_key_is_a_wezterm_option() -> None:
    """Every key exists in WezTerm main; one the last stable release lacks is said so next to its snippet."""
    paragraphs = DOC.read_text().split("\n\n")
    for src in blocks("lua"):
        assert "wezterm.config_builder()" in src and src.rstrip().endswith("return config")
        for kind, entries in config_assignments(src).items():
            fields = facts.DOMAIN_FIELDS[kind]
            for entry in entries:
                assert set(entry) <= fields[facts.MAIN], (kind, set(entry) - fields[facts.MAIN])
                for newer in set(entry) - fields[facts.STABLE]:
                    assert any(f"`{newer}`" in p and facts.STABLE in p for p in paragraphs), newer
                assert entry.get("multiplexing", "WezTerm") in facts.SSH_MULTIPLEXING
                assert all(isinstance(v, str) for v in entry.get("proxy_command", []))
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in entry.get("ssh_option", {}).items())


def test_paths_are_absolute_and_for_any_user() -> None:
    """A desktop-launched wezterm has a short PATH; and no snippet may assume one user id's runtime dir."""
    text = DOC.read_text()
    assert "/run/user/" not in text
    env = {"HOME": "/home/someone", "XDG_RUNTIME_DIR": "/run/user/4242"}
    (entry,) = [d for d in domains("unix_domains").values() if "proxy_command" in d]
    assert os.path.isabs(expand(entry["proxy_command"][0], env))
    upstream = entry["proxy_command"][entry["proxy_command"].index("--upstream") + 1]
    assert expand(upstream, env) == "unix:" + expand(facts.DEFAULT_MUX_SOCKET, env)


def test_doc_commands_match_the_snippets() -> None:
    """The muxscope command lines shown listen where the Lua snippets connect, and parse as CLI args."""
    from proxy.cli.main import build_parser

    cmds = doc_commands()
    for argv in cmds:
        build_parser().parse_args(argv[1:])
    listens = {argv[argv.index("--listen") + 1] for argv in cmds}
    for d in domains("unix_domains").values():
        if "socket_path" in d:
            assert f"unix:{d['socket_path']}" in listens
    for d in domains("ssh_domains").values():
        if d["remote_address"].startswith("127.0.0.1:"):
            assert f"ssh:{d['remote_address']}" in listens
    for d in domains("tls_clients").values():
        assert f"tls:{d['remote_address']}" in listens
        if "bootstrap_via_ssh" in d:
            bootstraps = {argv[argv.index("--tls-bootstrap-ssh") + 1] for argv in cmds if "--tls-bootstrap-ssh" in argv}
            assert d["bootstrap_via_ssh"].split("@", 1)[1] in bootstraps


# -- running the endpoints -------------------------------------------------------------------------------


def _shims(tmp: Path) -> dict[str, str]:
    """A PATH where ``muxscope`` is this checkout and ``wezterm cli ... proxy`` the emulated mux server."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "muxscope").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m proxy.cli "$@"\n')
    emu = " ".join(f"'{a}'" for a in emulated_server_argv())
    (bin_dir / "wezterm").write_text(
        '#!/bin/sh\ncase "$*" in\n'
        f'  "cli --prefer-mux proxy"|"cli --prefer-mux --no-auto-start proxy") exec {emu} ;;\n'
        '  *) echo "fake wezterm: unexpected args: $*" >&2; exit 3 ;;\nesac\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return clean_env(PATH=f"{bin_dir}:{os.environ.get('PATH', '')}", PYTHONPATH=str(REPO))


def _with(argv: list[str], option: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(option) + 1] = value
    return out


async def _over_stdio(argv: list[str], env: dict[str, str], requests: bytes, n: int) -> tuple[list[Pdu], int, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, env=env, cwd=REPO)
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        proc.stdin.write(requests)
        await proc.stdin.drain()
        stream, pdus = PduStream(), []
        while len(pdus) < n:
            try:
                chunk = await asyncio.wait_for(proc.stdout.read(65536), READ_TIMEOUT)
            except TimeoutError:
                break
            if not chunk:
                break
            pdus += [p for p in stream.feed(chunk) if isinstance(p, Pdu)]
        proc.stdin.close()
        await asyncio.wait_for(proc.stdout.read(), TIMEOUT)
        err = (await asyncio.wait_for(proc.stderr.read(), TIMEOUT)).decode(errors="replace")
        rc = await asyncio.wait_for(proc.wait(), TIMEOUT)
        return pdus, rc, err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _ping_requests() -> tuple[bytes, int]:
    return encode_pdu("GetCodecVersion", {}, 1) + encode_pdu("Ping", {}, 2), 2


def test_proxy_command_snippet_runs(tmp_path: Path) -> None:
    """The argv as wezterm would run it for a user whose home and runtime dir are under ``tmp_path``."""
    (entry,) = [d for d in domains("unix_domains").values() if "proxy_command" in d]
    env = _shims(tmp_path)
    home, runtime = tmp_path / "home", tmp_path / "run"
    argv = [expand(a, {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}) for a in entry["proxy_command"]]
    (home / ".local" / "bin").mkdir(parents=True)
    (runtime / "wezterm").mkdir(parents=True)
    Path(argv[0]).symlink_to(tmp_path / "bin" / "muxscope")
    requests, n = _ping_requests()

    async def main() -> tuple[list[Pdu], int, str, ScriptedMux]:
        mux = ScriptedMux()
        await mux.start_unix(str(runtime / "wezterm" / "sock"))
        try:
            return (*await _over_stdio(argv, env, requests, n), mux)
        finally:
            await mux.stop()

    pdus, rc, err, mux = asyncio.run(main())
    assert [p.name for p in pdus] == ["GetCodecVersionResponse", "Pong"], err
    assert rc == 0, err
    assert hashlib.sha256(bytes(mux.received)).digest() == hashlib.sha256(requests).digest()
    assert '"getlines"' not in err and "connection_closed" in (runtime / "muxscope.log").read_text()


def test_socket_path_snippet_runs(tmp_path: Path) -> None:
    (entry,) = [d for d in domains("unix_domains").values() if "socket_path" in d]
    (cmd,) = [c for c in doc_commands() if c[c.index("--listen") + 1] == f"unix:{entry['socket_path']}"]
    sock = tmp_path / "muxscope.sock"
    argv = [sys.executable, "-m", "proxy.cli",
            *_with(_with(_with(cmd[1:], "--listen", f"unix:{sock}"), "--upstream", f"unix:{tmp_path / 'mux.sock'}"),
                   "--metrics", "127.0.0.1:0")]
    requests, n = _ping_requests()

    async def main() -> list[Pdu]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        proc = await asyncio.create_subprocess_exec(*argv, cwd=REPO, env=clean_env(), stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                if sock.exists():
                    break
                await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(requests)
            await writer.drain()
            stream, pdus = PduStream(), []
            while len(pdus) < n:
                chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
                assert chunk
                pdus += [p for p in stream.feed(chunk) if isinstance(p, Pdu)]
            writer.close()
            return pdus
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), TIMEOUT)
            await mux.stop()

    assert [p.name for p in asyncio.run(main())] == ["GetCodecVersionResponse", "Pong"]


def test_override_proxy_command_snippet_runs(tmp_path: Path) -> None:
    """As sshd runs it: ``$SHELL -c COMMAND`` on the remote host (here: muxscope -> fake wezterm -> emulator)."""
    (entry,) = [d for d in domains("ssh_domains").values() if "override_proxy_command" in d]
    command = entry["override_proxy_command"].replace("/tmp/muxscope.log", str(tmp_path / "muxscope.log"))
    requests, n = _ping_requests()
    pdus, rc, err = asyncio.run(_over_stdio(["/bin/sh", "-c", command], _shims(tmp_path), requests, n))
    assert [p.name for p in pdus] == ["GetCodecVersionResponse", "Pong"], err
    assert rc == 0, err
    assert "upstream_exited" in (tmp_path / "muxscope.log").read_text()


def test_remote_wezterm_path_wrapper_runs(tmp_path: Path) -> None:
    (script,) = [b for b in blocks("sh") if b.startswith("#!/bin/sh")]
    (entry,) = [d for d in domains("ssh_domains").values() if "remote_wezterm_path" in d]
    assert Path(entry["remote_wezterm_path"]).name in script  # the wrapper the snippet points at
    wrapper = tmp_path / "wezterm-muxscope"
    wrapper.write_text(script)
    wrapper.chmod(0o755)
    env = _shims(tmp_path)
    env["TMPDIR"] = str(tmp_path)
    requests, n = _ping_requests()
    for args in (["cli", "--prefer-mux", "proxy"], ["cli", "--prefer-mux", "--no-auto-start", "proxy"]):
        pdus, rc, err = asyncio.run(_over_stdio([str(wrapper), *args], env, requests, n))
        assert [p.name for p in pdus] == ["GetCodecVersionResponse", "Pong"], err
        assert rc == 0, err
    assert (tmp_path / "muxscope.log").read_text().count("connection_closed") == 2


def test_ssh_domain_snippet_runs(tmp_path: Path) -> None:
    """The SSH domain's connection, made by OpenSSH with the snippet's settings, to the doc's command."""
    require_binary("ssh")
    (entry,) = [d for d in domains("ssh_domains").values() if d["remote_address"] == "127.0.0.1:2222"]
    (cmd,) = [c for c in doc_commands() if c[c.index("--listen") + 1] == f"ssh:{entry['remote_address']}"]
    pub = keygen(tmp_path / "id_ed25519")
    (tmp_path / "authorized_keys").write_text(pub + "\n")
    port = free_port()
    log = tmp_path / "muxscope.log"
    argv = [sys.executable, "-m", "proxy.cli",
            *_with(_with(_with(cmd[1:], "--listen", f"ssh:127.0.0.1:{port}"),
                         "--upstream", f"unix:{tmp_path / 'mux.sock'}"), "--metrics", "127.0.0.1:0"),
            "--host-key", str(tmp_path / "hk"), "--authorized-keys", str(tmp_path / "authorized_keys"),
            "--log-format", "json", "--log-file", str(log)]
    options: list[str] = ["-l", entry["username"]]
    for key, value in entry.get("ssh_option", {}).items():
        options += ["-o", f"{key}={tmp_path / 'id_ed25519' if key == 'identityfile' else value}"]
    requests, n = _ping_requests()

    async def main() -> tuple[list[Pdu], int, str]:
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "mux.sock"))
        proc = subprocess.Popen(argv, cwd=REPO, env=clean_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.get_running_loop().run_in_executor(None, wait_port, port, 15.0, proc)
            import json

            (hk,) = [json.loads(x) for x in log.read_text().splitlines() if '"ssh_host_key"' in x]
            (tmp_path / "known_hosts").write_text(hk["known_hosts"] + "\n")
            wezterm = entry.get("remote_wezterm_path", "wezterm")
            ssh = ssh_argv(port, None, tmp_path / "known_hosts", wezterm, "cli", "--prefer-mux", "proxy",
                           options=tuple(options))
            return await _over_stdio(ssh, clean_env(), requests, n)
        finally:
            stop_process(proc)
            await mux.stop()

    pdus, rc, err = asyncio.run(main())
    assert [p.name for p in pdus] == ["GetCodecVersionResponse", "Pong"], err
    assert rc == 0, err


@pytest.mark.parametrize("src, expect", [
    ("config.unix_domains = { { name = 'a', proxy_command = { 'x', \"y\" } } }",
     {"unix_domains": [{"name": "a", "proxy_command": ["x", "y"]}]}),
    ("config.ssh_domains = { -- c\n { name = 'b', ssh_option = { identityfile = '/k' }, timeout = 5 }, }",
     {"ssh_domains": [{"name": "b", "ssh_option": {"identityfile": "/k"}, "timeout": 5}]}),
])
def test_lua_reader(src: str, expect: dict[str, Any]) -> None:
    assert config_assignments(src) == expect


def _real_server_files(tmp_path: Path) -> Path:
    """A mux server's certificate (srv.pem, with its key) and CA (ca.pem), and the client's credentials
    as `wezterm cli tlscreds --pem` prints them (client certificate, its key, the CA), which it returns."""
    from proxy.ssh.server import tlscreds_output
    from proxy.tls import pki

    ca, ca_key = pki.make_ca("the real mux server's CA")
    srv, srv_key = pki.issue(ca, ca_key, "realhost", ["127.0.0.1"], client=False)
    cli, cli_key = pki.issue(ca, ca_key, pki.login_name(), [pki.login_name()], client=True)
    (tmp_path / "srv.pem").write_bytes(pki.cert_pem(srv) + pki.key_pem(srv_key))
    (tmp_path / "ca.pem").write_bytes(pki.cert_pem(ca))
    creds = tmp_path / "realhost.pem"
    creds.write_bytes(tlscreds_output(pki.cert_pem(ca).decode(), (pki.cert_pem(cli) + pki.key_pem(cli_key)).decode(),
                                      pem=True))
    return creds


def test_tls_domain_snippet_runs(tmp_path: Path) -> None:
    """The doc's TLS command with its upstream a TLS mux server (the emulated one, requiring a client
    certificate) and credentials in the ``tlscreds --pem`` form the doc says to fetch; muxscope prints
    the entry the doc shows (the same keys), and ``openssl s_client`` with those files gets a Pong."""
    from muxscope_emulator.server import EmulatedMuxServer, ServerOptions
    from proxy.relay.endpoints import TlsAddress
    from proxy.tls.contexts import server_context

    openssl = require_binary("openssl")
    (entry,) = [d for d in domains("tls_clients").values() if "pem_cert" in d]
    (cmd,) = [c for c in doc_commands() if c[c.index("--listen") + 1] == f"tls:{entry['remote_address']}"
              and "--tls-bootstrap-ssh" not in c]
    creds = _real_server_files(tmp_path)
    port = free_port()

    async def main() -> tuple[str, bytes]:
        server = EmulatedMuxServer(ServerOptions())
        up = await server.start(TlsAddress("127.0.0.1", 0),
                                server_context(str(tmp_path / "srv.pem"), None, [str(tmp_path / "ca.pem")]))
        argv = [sys.executable, "-m", "proxy.cli", *cmd[1:]]
        argv = _with(_with(_with(_with(_with(argv, "--listen", f"tls:127.0.0.1:{port}"), "--upstream", str(up)),
                                   "--tls-cert", str(creds)), "--tls-ca", str(creds)), "--metrics", "127.0.0.1:0")
        proc = await asyncio.create_subprocess_exec(*argv, "--tls-dir", str(tmp_path / "state"), cwd=REPO,
                                                    env=clean_env(), stderr=subprocess.PIPE)
        assert proc.stderr is not None
        try:
            printed = ""
            while not printed.endswith("\n}\n"):  # the entry's closing brace
                line = await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)
                assert line, printed
                printed += line.decode()
            lua = config_assignments(printed[printed.index("config.tls_clients"):])["tls_clients"][0]
            s_client = await asyncio.create_subprocess_exec(
                openssl, "s_client", "-quiet", "-connect", lua["remote_address"], "-CAfile", lua["pem_root_certs"][0],
                "-verify_return_error", "-verify_ip", "127.0.0.1", "-cert", lua["pem_cert"],
                "-key", lua["pem_private_key"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
            assert s_client.stdin and s_client.stdout
            requests, n = _ping_requests()
            s_client.stdin.write(requests)
            stream, pdus = PduStream(), []
            while len(pdus) < n:
                chunk = await asyncio.wait_for(s_client.stdout.read(65536), READ_TIMEOUT)
                assert chunk
                pdus += [p for p in stream.feed(chunk) if isinstance(p, Pdu)]
            s_client.kill()
            await s_client.wait()
            return printed, b" ".join(p.name.encode() for p in pdus)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), TIMEOUT)
            await server.stop()

    printed, names = asyncio.run(main())
    assert names == b"GetCodecVersionResponse Pong"
    lua = config_assignments(printed[printed.index("config.tls_clients"):])["tls_clients"][0]
    assert set(lua) == set(entry) and lua["remote_address"] == f"127.0.0.1:{port}"
    assert "CA: " + lua["pem_root_certs"][0] in printed
