"""``--upstream ssh://[USER@]HOST[:PORT]``: reach the real host with asyncssh, as an SSH domain would.

One SSH connection per client connection: simple, and it keeps each relay's
fate (and its measurements) independent of the others; the cost is one SSH
handshake per wezterm-gui connection, which is what an SSH domain pays anyway.

The user's OpenSSH setup applies: ``~/.ssh/config`` (HostName, User, Port,
IdentityFile, ProxyJump... as far as asyncssh supports them), ssh-agent and the
default keys, and ``~/.ssh/known_hosts``. Host keys are verified and an unknown
or changed key fails closed with a message saying what to do: a proxy that
silently trusted any key would defeat the point of SSH.

The remote command is the one the client asked for when muxscope listens on
SSH (so ``remote_wezterm_path``/``override_proxy_command`` keep working), else
``--remote-command`` (default ``wezterm cli --prefer-mux proxy``). Its stdout
and stdin are the relay's upstream side; its stderr goes to the log and, when
the client is an SSH channel, to that channel's stderr, as does its exit status.

``--upstream 'exec:ssh HOST wezterm cli --prefer-mux proxy'`` remains the way to
use the system OpenSSH client instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncssh

from proxy.relay.endpoints import SshAddress
from proxy.relay.errors import ProxyError
from proxy.ssh.channel import CURRENT_CHANNEL, ChannelSide

if TYPE_CHECKING:
    from proxy.ssh.server import SshChannelSide

DEFAULT_REMOTE_COMMAND = "wezterm cli --prefer-mux proxy"

#: How long closing the upstream channel waits for the remote exit status.
EXIT_STATUS_WAIT_S = 2.0


@dataclass(frozen=True)
class SshUpstreamOptions:
    config: str | None = None  # None: ~/.ssh/config (asyncssh's default)
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    identity: str | None = None  # None: agent + IdentityFile/default keys
    remote_command: str | None = None  # None: the SSH client's command, else DEFAULT_REMOTE_COMMAND

    def connect_kwargs(self, addr: SshAddress) -> dict[str, Any]:
        """asyncssh.connect options; unset ones are left out so asyncssh applies ssh_config/defaults."""
        kw: dict[str, Any] = {"encoding": None}
        if addr.port:
            kw["port"] = addr.port
        if addr.user:
            kw["username"] = addr.user
        if self.config:
            kw["config"] = [self.config]
        if self.known_hosts:
            kw["known_hosts"] = self.known_hosts
        if self.identity:
            kw["client_keys"] = [self.identity]
        return kw


class UpstreamSshError(Exception):
    """The SSH upstream could not be reached or refused us; the message says what to do."""


class SshUpstreamSide(ChannelSide, asyncssh.SSHClientSession):  # type: ignore[misc]
    """The remote ``wezterm cli proxy`` process: its stdin/stdout are the relay's upstream side."""

    def __init__(self, conn: asyncssh.SSHClientConnection, client: SshChannelSide | None, log: Any) -> None:
        super().__init__()
        self.conn = conn
        self.client = client
        self.log = log
        self._stderr_buf = b""
        self._closing = False
        self._exited = asyncio.Event()

    # asyncssh.SSHClientSession
    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def data_received(self, data: bytes, datatype: Any) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self._stderr(data)
        else:
            self._on_data(data)

    def eof_received(self) -> bool:
        self._on_eof()
        return True

    def exit_status_received(self, status: int) -> None:
        self.log.info("upstream_exited", status=status)
        if self.client is not None:
            self.client.set_exit_status(status)
        self._exited.set()

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.log.info("upstream_exited", signal=signal, core_dumped=core_dumped, message=msg)
        if self.client is not None:
            self.client.set_exit_signal(signal, core_dumped, msg)
        self._exited.set()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._stderr_buf:
            self._log_stderr(self._stderr_buf)
            self._stderr_buf = b""
        if self.client is not None and not self._exited.is_set():
            self.client.set_exit_status(255)  # like ssh(1) when the remote gave no status
        self._on_lost(exc)
        self.conn.close()

    def _stderr(self, data: bytes) -> None:
        if self.client is not None:
            self.client.write_stderr(data)
        self._stderr_buf += data
        *lines, self._stderr_buf = self._stderr_buf.split(b"\n")
        for line in lines:
            self._log_stderr(line)
        if len(self._stderr_buf) > 8192:
            self._log_stderr(self._stderr_buf)
            self._stderr_buf = b""

    def _log_stderr(self, line: bytes) -> None:
        with contextlib.suppress(Exception):
            self.log.info("upstream_stderr", line=line.decode("utf-8", "replace").rstrip("\r"))

    # Side
    def close(self) -> None:
        """Close once the remote's exit status is in (or after a short wait), so it can be passed on."""
        if self._closing or self.chan is None:
            return
        self._closing = True
        if self._exited.is_set() or self._lost:
            self.chan.close()
        else:
            asyncio.get_running_loop().create_task(self._close_when_exited())

    async def _close_when_exited(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._exited.wait(), EXIT_STATUS_WAIT_S)
        self.chan.close()

    def describe(self) -> dict[str, Any]:
        peer = self.conn.get_extra_info("peername")
        return {"peer": f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)}


def _host_key_message(addr: SshAddress, opts: SshUpstreamOptions) -> str:
    """Tell an unknown key from a changed one: the fixes differ (add it vs. investigate)."""
    path = opts.known_hosts or os.path.join(os.path.expanduser("~"), ".ssh", "known_hosts")
    name = f"[{addr.host}]:{addr.port}" if addr.port and addr.port != 22 else addr.host
    trusted: list[Any] = []
    with contextlib.suppress(Exception):
        trusted = list(asyncssh.read_known_hosts(path).match(addr.host, "", addr.port)[0])
    if trusted:
        return (f"host key for {name} has CHANGED: it does not match {path} (someone may be intercepting "
                f"the connection); if the change is expected, run: ssh-keygen -f {path} -R '{name}' "
                "and connect once with ssh to add the new key")
    return f"host key for {name} is not in {path}; connect once with ssh to add it"


async def open_ssh_upstream(addr: SshAddress, opts: SshUpstreamOptions | None, log: Any) -> SshUpstreamSide:
    """Connect, run the remote mux proxy command, and return its channel as the upstream side.

    Errors become :class:`ProxyError` (logged by the server as ``upstream_connect_failed``)
    and, when the client is an SSH channel, are also written to its stderr.
    """
    opts = opts or SshUpstreamOptions()
    client = CURRENT_CHANNEL.get()
    command = opts.remote_command or (client.command if client is not None and client.command else None)
    command = command or DEFAULT_REMOTE_COMMAND
    try:
        return await _open(addr, opts, client, command, log)
    except UpstreamSshError as exc:
        if client is not None:
            client.write_stderr(f"muxscope: upstream {addr}: {exc}\n".encode())
            client.set_exit_status(255)
        raise ProxyError(str(exc)) from None


async def connect(addr: SshAddress, opts: SshUpstreamOptions) -> asyncssh.SSHClientConnection:
    """An SSH connection with the user's setup; failures are :class:`UpstreamSshError` saying what to do."""
    try:
        return await asyncssh.connect(addr.host, **opts.connect_kwargs(addr))
    except asyncssh.HostKeyNotVerifiable:
        raise UpstreamSshError(_host_key_message(addr, opts)) from None
    except asyncssh.PermissionDenied as exc:
        raise UpstreamSshError(
            f"authentication failed ({exc.reason}); check ssh-agent, --identity or IdentityFile in ~/.ssh/config"
        ) from None
    except asyncssh.Error as exc:
        raise UpstreamSshError(f"SSH failed: {exc.reason}") from None
    except OSError as exc:
        raise UpstreamSshError(f"cannot connect: {exc.strerror or exc}") from None


async def _open(addr: SshAddress, opts: SshUpstreamOptions, client: SshChannelSide | None,
                command: str, log: Any) -> SshUpstreamSide:
    conn = await connect(addr, opts)
    try:
        _, side = await conn.create_session(lambda: SshUpstreamSide(conn, client, log), command)
    except asyncssh.ChannelOpenError as exc:
        conn.close()
        raise UpstreamSshError(f"cannot run {command!r}: {exc.reason}") from None
    except BaseException:
        conn.close()
        raise
    log.info("upstream_ssh_session", upstream=str(addr), command=command)
    if client is not None:
        client.expect_exit_status()
    return side
