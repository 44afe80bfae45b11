"""``--listen ssh:HOST:PORT``: muxscope as the SSH server an SSH domain connects to.

wezterm-gui's SSH domain opens SSH to a host and runs ``wezterm cli
--prefer-mux proxy`` there; to measure exactly that path muxscope has to be the
SSH server wezterm-gui talks to. This module is that server, kept deliberately
narrow because it is reachable by anything that can open a TCP connection:

* the host key is generated on first use and kept (0600) in the user's state
  directory, so a known_hosts entry stays valid across restarts;
* public-key authentication only, against an authorized_keys file re-read on
  every connection (password and keyboard-interactive are not offered);
* only ``exec`` of the wezterm mux proxy is run; shells, subsystems, ptys,
  port and agent forwarding are refused, with a message where SSH lets us send
  one (stderr + exit status, or the channel-open failure text).

Each accepted exec channel becomes the client :class:`~proxy.relay.relay.Side` of a
relay (:class:`SshChannelSide`), handed to :meth:`ProxyServer._accepted` like a
socket. While the upstream is being opened, :data:`CURRENT_CHANNEL` names that
channel so an ``ssh://`` upstream can run the same command and pass stderr and
the exit status back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import re
import shlex
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncssh

from proxy.observe import logs
from proxy.relay.endpoints import SshAddress
from proxy.relay.errors import ProxyError
from proxy.ssh.channel import CURRENT_CHANNEL, ChannelSide

if TYPE_CHECKING:
    from proxy.relay.server import ProxyServer

#: How long a client channel waits for the upstream's exit status before closing without it.
EXIT_STATUS_WAIT_S = 2.0


ONLY_PROXY = "this SSH server (muxscope) only runs `wezterm cli [--prefer-mux] [--no-auto-start] proxy`"
SHELL_REFUSED = f"muxscope: interactive shells are refused; {ONLY_PROXY}\n"
FORWARD_REFUSED = f"muxscope: port forwarding is refused; {ONLY_PROXY}"
UPSTREAM_FAILED = "muxscope: could not connect to the upstream mux server; see the muxscope log\n"


# -- options and host key -----------------------------------------------------------------------


def state_dir() -> Path:
    """$XDG_STATE_HOME/muxscope, else ~/.local/state/muxscope: state that must survive restarts."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "muxscope"


@dataclass
class SshListenOptions:
    host_key: str | None = None  # None: <state dir>/ssh_host_ed25519_key
    authorized_keys: str | None = None  # None: ~/.ssh/authorized_keys
    allow_commands: tuple[str, ...] = ()  # extra exec commands (regexes, full match)
    #: with a TLS listener: issues (ca_cert_pem, client_cert_pem) for ``wezterm cli tlscreds``
    tls_creds: Callable[[], tuple[str, str]] | None = None
    _patterns: list[re.Pattern[str]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        for rx in self.allow_commands:
            try:
                self._patterns.append(re.compile(rx))
            except re.error as exc:
                raise ValueError(f"--allow-command {rx!r} is not a valid regular expression: {exc}") from None

    @property
    def host_key_path(self) -> Path:
        return Path(self.host_key) if self.host_key else state_dir() / "ssh_host_ed25519_key"

    @property
    def authorized_keys_path(self) -> str:
        return self.authorized_keys or os.path.join(os.path.expanduser("~"), ".ssh", "authorized_keys")

    def command_allowed(self, command: str) -> bool:
        return is_mux_proxy_command(command) or any(p.fullmatch(command) for p in self._patterns)


def is_mux_proxy_command(command: str) -> bool:
    """``[PATH/]wezterm cli [--prefer-mux] [--no-auto-start] proxy``: what SSH domains run (client.rs)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return False
    if len(argv) < 3 or os.path.basename(argv[0]) not in ("wezterm", "wezterm.exe"):
        return False
    if argv[1] != "cli" or argv[-1] != "proxy":
        return False
    flags = argv[2:-1]
    return len(set(flags)) == len(flags) and set(flags) <= {"--prefer-mux", "--no-auto-start"}


def check_authorized_keys(path: str) -> int:
    """The number of keys in ``path``; :class:`HostKeyError` when no one could ever log in.

    The file is re-read on every connection (so keys can be added later), but a
    listener started without it would refuse everyone, silently: refuse to start.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise HostKeyError(f"--authorized-keys {path}: cannot read it ({exc.strerror or exc}): no one could log "
                           "in; create it with the public keys allowed to connect, or point --authorized-keys "
                           "at such a file") from None
    entries = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not entries:
        raise HostKeyError(f"--authorized-keys {path}: holds no key, so no one could log in; add the public "
                           "keys allowed to connect")
    try:
        asyncssh.import_authorized_keys(text)
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise HostKeyError(f"--authorized-keys {path}: not an authorized_keys file ({exc}), so no one could "
                           "log in") from None
    return len(entries)


def is_tlscreds_command(command: str) -> bool:
    """``[PATH/]wezterm cli tlscreds [--pem]``: what a TLS domain's ``bootstrap_via_ssh`` runs
    (client.rs ``tls_connect``; ``--pem`` is the form for people)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return False
    return (len(argv) in (3, 4) and os.path.basename(argv[0]) in ("wezterm", "wezterm.exe")
            and argv[1:3] == ["cli", "tlscreds"] and argv[3:] in ([], ["--pem"]))


def tlscreds_output(ca_pem: str, client_pem: str, pem: bool) -> bytes:
    """What ``wezterm cli tlscreds`` prints (wezterm/src/cli/tls_creds.rs): a GetTlsCredsResponse
    PDU (serial 0) that the client decodes from stdout, or with ``--pem`` the two PEM texts."""
    if pem:
        return f"{client_pem}\n{ca_pem}\n".encode()
    from codec import encode_pdu

    return encode_pdu("GetTlsCredsResponse", {"ca_cert_pem": ca_pem, "client_cert_pem": client_pem}, 0)


class HostKeyError(Exception):
    """A key file of the listener (host key, authorized_keys) cannot be used; the message says why and what to do."""


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """Load the host key, creating an ed25519 key (mode 0600) if there is none yet.

    Kept rather than regenerated so that the known_hosts line a user added once
    stays valid; refused when others can read it, as sshd would.
    """
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="muxscope host key")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another muxscope created it meanwhile: use theirs
        except OSError as exc:
            raise HostKeyError(f"cannot create host key {path}: {exc.strerror or exc}") from None
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(key.export_private_key("openssh"))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise HostKeyError(f"host key {path} is accessible by others (mode {mode:04o}); run: chmod 600 {path}")
        return asyncssh.read_private_key(str(path))
    except (OSError, asyncssh.KeyImportError) as exc:
        raise HostKeyError(f"cannot read host key {path}: {getattr(exc, 'strerror', None) or exc}") from None


def known_hosts_line(key: asyncssh.SSHKey, host: str, port: int) -> str:
    """The line a user adds to ~/.ssh/known_hosts: ``[host]:port ssh-ed25519 AAAA...``."""
    name = host if port == 22 else f"[{host}]:{port}"
    alg, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{name} {alg} {blob}"


class SshChannelSide(ChannelSide, asyncssh.SSHServerSession):  # type: ignore[misc]
    """One SSH session channel of a client: the client side of a relay if it asks for the mux proxy."""

    #: an unreachable upstream is explained on the channel's stderr (UPSTREAM_FAILED), not in-band
    explains_upstream_failure = True

    def __init__(self, owner: _ClientConnection) -> None:
        super().__init__()
        self.owner = owner
        self.kind: str | None = None  # "exec", "shell" or "subsystem"
        self.command: str | None = None
        self._closed = False
        self._status: tuple[str, Any] | None = None  # ("status", n) or ("signal", (name, core, msg))
        self._status_expected = False
        self._status_known = asyncio.Event()
        self._told_user = False

    # asyncssh.SSHServerSession
    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: Any, term_modes: Any) -> bool:
        self.owner.log.info("ssh_refused", request="pty")
        return False  # OpenSSH prints "PTY allocation request failed"; the shell request then explains

    def shell_requested(self) -> bool:
        self.kind = "shell"
        return True  # accepted only to tell the user why in session_started

    def exec_requested(self, command: str) -> bool:
        self.kind, self.command = "exec", command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.kind, self.command = "subsystem", subsystem
        return True

    def session_started(self) -> None:
        opts = self.owner.listener.options
        if self.kind == "exec" and self.command is not None and opts.command_allowed(self.command):
            self.owner.listener.accept(self)
            return
        if self.kind == "exec" and opts.tls_creds is not None and is_tlscreds_command(self.command or ""):
            self._answer_tlscreds(opts.tls_creds)
            return
        if self.kind == "shell":
            message = SHELL_REFUSED
        elif self.kind == "subsystem":
            message = f"muxscope: subsystem {self.command!r} is refused; {ONLY_PROXY}\n"
        else:
            message = (f"muxscope: command refused: {self.command!r}; {ONLY_PROXY} "
                       "(start muxscope with --allow-command REGEX to accept other forms)\n")
        self.owner.log.warning("ssh_refused", request=self.kind, command=self.command)
        self.write_stderr(message.encode())
        self._closed = True
        self.chan.exit(1)

    def _answer_tlscreds(self, issue: Callable[[], tuple[str, str]]) -> None:
        """Credentials for muxscope's TLS listener, issued to a user the SSH login authenticated
        (as WezTerm's server issues them to whoever can reach its unix socket)."""
        ca_pem, client_pem = issue()
        self.chan.write(tlscreds_output(ca_pem, client_pem, "--pem" in (self.command or "")))
        self.owner.log.info("tls_creds_issued", peer=self.owner.peer, ssh_user=self.owner.user)
        self._closed = True
        self.chan.exit(0)

    def data_received(self, data: bytes, datatype: Any) -> None:
        if datatype is None:
            self._on_data(data)

    def eof_received(self) -> bool:
        self._on_eof()
        return True  # keep our sending half open: half-close

    def connection_lost(self, exc: BaseException | None) -> None:
        self._on_lost(exc)
        self.owner.channel_ended()

    # what an ssh:// upstream passes back
    def write_stderr(self, data: bytes) -> None:
        if self.chan is not None and not self.chan.is_closing():
            self.chan.write_stderr(data)
            self._told_user = True

    def expect_exit_status(self) -> None:
        """The upstream will report an exit status: ``close`` waits for it (a little)."""
        self._status_expected = True

    def set_exit_status(self, status: int) -> None:
        self._status = ("status", status)
        self._status_known.set()

    def set_exit_signal(self, signal: str, core_dumped: bool, msg: str) -> None:
        self._status = ("signal", (signal, core_dumped, msg))
        self._status_known.set()

    # Side
    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if self._closed or self.chan is None:
            return
        self._closed = True
        if not self._started and not self._told_user:
            self.write_stderr(UPSTREAM_FAILED.encode())
            self._status = self._status or ("status", 255)
        if self._status_expected and not self._status_known.is_set():
            asyncio.get_running_loop().create_task(self._exit_when_known())
        else:
            self._exit()

    async def _exit_when_known(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._status_known.wait(), EXIT_STATUS_WAIT_S)
        self._exit()

    def _exit(self) -> None:
        with contextlib.suppress(OSError):
            if self._status is not None and self._status[0] == "signal":
                name, core, msg = self._status[1]
                self.chan.exit_with_signal(name, core, msg)
            else:
                self.chan.exit(self._status[1] if self._status else 0)

    def describe(self) -> dict[str, Any]:
        return {"peer": self.owner.peer, "ssh_user": self.owner.user, "command": self.command}


# -- the server ---------------------------------------------------------------------------------------


class _ClientConnection(asyncssh.SSHServer):
    """One SSH client connection: authentication policy and what it may open."""

    def __init__(self, listener: SshListener) -> None:
        self.listener = listener
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"
        self.user: str | None = None
        self.channels = 0
        self.log = listener.log

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.listener.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.connections.discard(self)

    def begin_auth(self, username: str) -> bool:
        # Re-read every time: a key added to (or removed from) the file applies without a restart.
        assert self.conn is not None
        self.user = username
        path = self.listener.options.authorized_keys_path
        try:
            self.conn.set_authorized_keys(path)
        except (OSError, ValueError) as exc:
            self.log.error("ssh_authorized_keys_unreadable", path=path, error=str(exc))
            self.conn.set_authorized_keys([])  # type: ignore[arg-type]
        return True

    def auth_completed(self) -> None:
        self.log.info("ssh_login", peer=self.peer, ssh_user=self.user)

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return False  # only keys from the authorized_keys file (checked by asyncssh) are accepted

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def session_requested(self) -> SshChannelSide:
        self.channels += 1
        return SshChannelSide(self)

    def channel_ended(self) -> None:
        self.channels -= 1
        if self.listener.closing and self.channels <= 0 and self.conn is not None:
            self.conn.close()

    def _refuse_forward(self, what: str) -> None:
        self.log.warning("ssh_refused", request=what, peer=self.peer)
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, FORWARD_REFUSED)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        self._refuse_forward("direct-tcpip")
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        self._refuse_forward("direct-streamlocal")
        return False

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        self.log.warning("ssh_refused", request="tcpip-forward", peer=self.peer)
        return False

    def unix_server_requested(self, listen_path: str) -> bool:
        self.log.warning("ssh_refused", request="streamlocal-forward", peer=self.peer)
        return False


class SshListener:
    """The listening SSH server, shaped like the ``asyncio.Server`` ProxyServer keeps."""

    def __init__(self, options: SshListenOptions, on_channel: Callable[[SshChannelSide], None]) -> None:
        self.options = options
        self.on_channel = on_channel
        self.log = logs.get_logger()
        self.acceptor: Any = None
        self.connections: set[_ClientConnection] = set()
        self.closing = False
        self.host_key: asyncssh.SSHKey | None = None

    async def start(self, addr: SshAddress) -> tuple[str, int]:
        check_authorized_keys(self.options.authorized_keys_path)
        self.host_key = load_or_create_host_key(self.options.host_key_path)
        self.acceptor = await asyncssh.create_server(
            lambda: _ClientConnection(self), addr.host, addr.port or 0,
            server_host_keys=[self.host_key], encoding=None,
            password_auth=False, kbdint_auth=False, gss_host=None,
            agent_forwarding=False, x11_forwarding=False,  # ptys: refused (and logged) in pty_requested
            reuse_address=True,
        )
        host, port = self.acceptor.sockets[0].getsockname()[:2]
        return host, port

    def accept(self, side: SshChannelSide) -> None:
        """Hand an accepted mux-proxy channel to the proxy, with :data:`CURRENT_CHANNEL` set for its task."""
        ctx = contextvars.copy_context()
        ctx.run(CURRENT_CHANNEL.set, side)
        ctx.run(self.on_channel, side)

    @property
    def sockets(self) -> Any:
        return self.acceptor.sockets if self.acceptor is not None else ()

    def close(self) -> None:
        """Stop accepting; connections close when their last relayed channel ends."""
        self.closing = True
        if self.acceptor is not None:
            self.acceptor.close()
        for c in list(self.connections):
            if c.channels <= 0 and c.conn is not None:
                c.conn.close()

    async def wait_closed(self) -> None:
        if self.acceptor is not None:
            await self.acceptor.wait_closed()


async def start_listener(server: ProxyServer, addr: SshAddress, options: SshListenOptions | None) -> SshListener:
    """Start the SSH listener for ``server``; log the host key fingerprint and the known_hosts line."""
    listener = SshListener(options or SshListenOptions(), server._accepted)  # type: ignore[arg-type]
    try:
        _host, port = await listener.start(addr)
    except HostKeyError as exc:
        raise ProxyError(str(exc)) from None
    except OSError as exc:
        raise ProxyError(f"cannot listen on {addr}: {exc.strerror or exc}") from None
    assert listener.host_key is not None
    listener.log.info(
        "ssh_host_key",
        path=str(listener.options.host_key_path),
        fingerprint=listener.host_key.get_fingerprint("sha256"),
        known_hosts=known_hosts_line(listener.host_key, addr.host, port),
        authorized_keys=listener.options.authorized_keys_path,
    )
    return listener
