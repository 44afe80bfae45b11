"""Helpers for tests that run real external programs (OpenSSH's sshd and ssh).

A missing program skips the test with the reason, unless
``MUXSCOPE_REQUIRE_INTEGRATION=1``: then it fails, so a CI machine that is
supposed to have everything cannot silently skip the integration tests.
Every process started here has a bounded wait and is always cleaned up.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REQUIRE = os.environ.get("MUXSCOPE_REQUIRE_INTEGRATION") == "1"


def missing(reason: str) -> None:
    """Skip (or, under MUXSCOPE_REQUIRE_INTEGRATION=1, fail) because a component is missing."""
    if REQUIRE:
        pytest.fail(f"MUXSCOPE_REQUIRE_INTEGRATION=1 but {reason}")
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """The path of ``name`` (a command on PATH or an absolute path), or skip/fail saying it is missing."""
    path = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (needed for this integration test)")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until 127.0.0.1:port accepts, at most ``timeout`` seconds (fail early if ``proc`` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def keygen(path: Path, comment: str = "muxscope-test") -> str:
    """An ed25519 key pair at ``path`` / ``path.pub``; returns the public key line."""
    subprocess.run([require_binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, timeout=30)
    return (path.with_name(path.name + ".pub")).read_text().strip()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for ssh: no agent (only the keys a test names), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env.update(extra)
    return env


def ssh_argv(port: int, key: Path | None, known_hosts: Path, *command: str, options: tuple[str, ...] = (),
             host: str = "127.0.0.1") -> list[str]:
    """``ssh [options] host command...`` with no user config, strict host key checking and no prompts."""
    argv = [require_binary("ssh"), "-F", "/dev/null", "-p", str(port),
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-o", "IdentitiesOnly=yes"]
    if key is not None:
        argv += ["-i", str(key)]
    return [*argv, *options, host, *command]


def emulated_server_argv() -> list[str]:
    """The emulated mux server on stdio (what the fake remote ``wezterm cli proxy`` runs)."""
    try:
        from proxy.cli.main import build_parser

        build_parser().parse_args(["emulate", "server", "--listen", "stdio"])
        return [sys.executable, "-m", "proxy.cli", "emulate", "server", "--listen", "stdio"]
    except SystemExit:  # the `emulate` sub-command is not registered (yet): run the server directly
        code = (f"import asyncio, sys; sys.path.insert(0, {str(REPO)!r}); "
                "from muxscope_emulator.server import EmulatedMuxServer, ServerOptions; "
                "asyncio.run(EmulatedMuxServer(ServerOptions()).serve_stdio())")
        return [sys.executable, "-c", code]


class Sshd:
    """A private OpenSSH server on a loopback port: its own config, host key and authorized_keys.

    Every session runs ``forced`` (ForceCommand), a script that records the
    command the client asked for and runs the emulated mux server for
    ``... wezterm cli ... proxy``, prints :attr:`tlscreds` for ``... wezterm cli
    tlscreds``, or fails with status 7 and a line on stderr for ``fail-with-7``.
    """

    def __init__(self, tmp: Path, authorized_keys: str) -> None:
        self.sshd = require_binary("/usr/sbin/sshd")
        self.dir = tmp / "sshd"
        self.dir.mkdir()
        self.port = free_port()
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.host_pub = keygen(self.host_key, "test-sshd")
        self.commands_log = self.dir / "commands.log"
        #: what ``wezterm cli tlscreds`` prints here (a test writes the GetTlsCredsResponse in it)
        self.tlscreds = self.dir / "tlscreds.out"
        (self.dir / "authorized_keys").write_text(authorized_keys + "\n")
        emu = " ".join(f"'{a}'" for a in emulated_server_argv())
        forced = self.dir / "forced"
        forced.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" >> '{self.commands_log}'\n"
            f"cd '{REPO}' || exit 1\n"
            'case "$SSH_ORIGINAL_COMMAND" in\n'
            f"  *wezterm*cli*proxy) exec {emu} ;;\n"
            f"  *wezterm*cli*tlscreds) exec cat '{self.tlscreds}' ;;\n"
            "  fail-with-7) echo 'remote says: failing on purpose' >&2; exit 7 ;;\n"
            '  *) echo "test sshd: unexpected command: $SSH_ORIGINAL_COMMAND" >&2; exit 3 ;;\n'
            "esac\n"
        )
        forced.chmod(0o755)
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\nAuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPrintMotd no\nPrintLastLog no\n"
            f"ForceCommand {forced}\nLogLevel VERBOSE\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def known_hosts_line(self) -> str:
        alg, blob = self.host_pub.split()[:2]
        return f"[127.0.0.1]:{self.port} {alg} {blob}"

    def start(self) -> Sshd:
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            # sshd as root insists on its privilege-separation directory (normally made by the service unit)
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen([self.sshd, "-f", str(self.config), "-D", "-e"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(self.port, 10, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            if self.proc.stderr is not None:
                self.proc.stderr.close()

    def commands(self) -> list[str]:
        return self.commands_log.read_text().splitlines() if self.commands_log.exists() else []

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
