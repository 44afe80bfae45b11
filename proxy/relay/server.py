"""The proxy: accept clients, open one upstream per client, relay, tap.

:class:`ProxyServer` owns the listening socket and the live relays. Each
accepted client gets its own upstream connection (unix, TCP, a spawned
command, SSH); a failure on one connection is logged and closes that client
only. Shutdown stops accepting, gives open connections a grace period, then
closes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from typing import Any

from proxy.observe import logs
from proxy.observe.metrics import Metrics
from proxy.relay.endpoints import (
    ExecAddress,
    ListenAddress,
    SshAddress,
    StdioAddress,
    TcpAddress,
    TlsAddress,
    UnixAddress,
    UpstreamAddress,
)
from proxy.relay.errors import ProxyError
from proxy.relay.refusal import refuse
from proxy.relay.relay import Relay, Side, SocketSide
from proxy.relay.sides.process import ExecSide, StdioSide, connect_tcp, connect_unix
from proxy.relay.stamped import StampedListener
from proxy.relay.tap import Tap

#: A hook that wraps a freshly made side (link shaping uses it).
SideWrapper = Callable[[Side, str], Side]
UpstreamOpener = Callable[[UpstreamAddress, int], Awaitable[Side]]




class _AcceptedSide(SocketSide):
    def __init__(self, on_accept: Callable[[SocketSide], None]) -> None:
        super().__init__()
        self._on_accept = on_accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._on_accept(self)


class ProxyServer:
    def __init__(
        self,
        listen: ListenAddress,
        upstream: UpstreamAddress,
        *,
        tap: Tap | None = None,
        metrics: Metrics | None = None,
        wrap_side: SideWrapper | None = None,
        open_upstream: UpstreamOpener | None = None,
        connect_timeout: float = 15.0,
        ssh_listen: Any = None,
        ssh_upstream: Any = None,
        tls_listen: Any = None,
        tls_upstream: Any = None,
        explain_failures: bool = False,
    ) -> None:
        self.listen = listen
        self.upstream = upstream
        self.tap = tap
        self.metrics = metrics
        self.wrap_side = wrap_side
        self.connect_timeout = connect_timeout
        #: answer a client whose upstream failed with an ErrorResponse (proxy/relay/refusal.py)
        #: rather than a bare close; ``muxscope proxy`` sets it
        self.explain_failures = explain_failures
        self._open_upstream_override = open_upstream
        self.ssh_listen = ssh_listen  # ssh_server.SshListenOptions (None: defaults)
        self.ssh_upstream = ssh_upstream  # ssh_client.SshUpstreamOptions (None: defaults)
        self.tls_listen = tls_listen  # tls.contexts.TlsListenOptions (None: defaults)
        self.tls_upstream = tls_upstream  # tls.contexts.TlsUpstreamOptions
        self.tls_setup: Any = None  # tls.setup.TlsListenSetup once listening: what to tell the user
        self._tls_upstream_ctx: Any = None
        self._bootstrap: Any = None  # the SSH listener answering tlscreds (--tls-bootstrap-ssh)
        self._tls_bootstrap: Any = None  # tls.bootstrap.UpstreamBootstrap (--tls-bootstrap-via-ssh)
        self.log = logs.get_logger()
        self._ids = itertools.count(1)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.relays: dict[int, Relay] = {}
        self.bound: str | None = None

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        if isinstance(self.upstream, TlsAddress):
            from proxy.tls.setup import upstream_setup

            self._tls_upstream_ctx = upstream_setup(self.tls_upstream)  # bad files: fail now, not per connection
            if self.tls_upstream is not None and self.tls_upstream.bootstrap is not None:
                from proxy.tls.bootstrap import UpstreamBootstrap

                self._tls_bootstrap = UpstreamBootstrap(self.upstream, self.tls_upstream.bootstrap,
                                                        self.tls_upstream, self.log)
        loop = asyncio.get_running_loop()
        addr = self.listen
        factory = lambda: _AcceptedSide(self._accepted)  # noqa: E731
        if isinstance(addr, UnixAddress):
            _prepare_unix_path(addr.path)
            old_umask = os.umask(0o177)
            try:
                self._server = await loop.create_unix_server(factory, addr.path)
            except OSError as exc:
                hint = " (use a shorter path: at most 107 bytes)" if "too long" in str(exc) else ""
                raise ProxyError(f"cannot listen on {addr}: {exc.strerror or exc}{hint}") from None
            finally:
                os.umask(old_umask)
            os.chmod(addr.path, 0o600)
            self.bound = str(addr)
        elif isinstance(addr, TcpAddress):
            try:
                # accepted connections are read with the kernel's receive timestamps (proxy.relay.stamped)
                self._server = await StampedListener.listen(addr.host, addr.port, self._accepted)  # type: ignore[assignment]
            except OSError as exc:
                in_use = exc.errno == errno.EADDRINUSE
                hint = " (is another muxscope running? pick another port)" if in_use else ""
                raise ProxyError(f"cannot listen on {addr}: {exc.strerror or exc}{hint}") from None
            sock = self._server.sockets[0].getsockname()
            self.bound = str(TcpAddress(sock[0], sock[1]))
        elif isinstance(addr, StdioAddress):
            self.bound = "stdio"
        elif isinstance(addr, TlsAddress):
            from proxy.tls.setup import start_tls_listener

            self._server, self.tls_setup = await start_tls_listener(addr, self.tls_listen, self._accepted, self.log)
            sock = self._server.sockets[0].getsockname()
            self.bound = "tls:" + str(TcpAddress(sock[0], sock[1])).removeprefix("tcp:")
            if self.tls_listen is not None and self.tls_listen.bootstrap_ssh is not None:
                from dataclasses import replace

                from proxy.tls.setup import start_bootstrap_listener

                self._bootstrap, user_host = await start_bootstrap_listener(self, self.tls_listen, self.tls_setup)
                self.tls_setup = replace(self.tls_setup, bootstrap_via_ssh=user_host)
        elif isinstance(addr, SshAddress):
            from proxy.ssh.server import start_listener  # asyncssh and cryptography: only when SSH is used

            self._server = await start_listener(self, addr, self.ssh_listen)  # type: ignore[assignment]
            sock = self._server.sockets[0].getsockname()
            self.bound = "ssh:" + str(TcpAddress(sock[0], sock[1])).removeprefix("tcp:")
        else:
            raise ProxyError(f"listening on {addr} is not supported by this server class")
        self.log.info("listening", listen=self.bound, upstream=str(self.upstream))

    @property
    def port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        name = self._server.sockets[0].getsockname()
        return name[1] if isinstance(name, tuple) else None

    async def serve_stdio(self) -> None:
        """One connection on our own stdin/stdout (``--listen stdio``).

        Raises :class:`ProxyError` if stdin/stdout cannot carry it or the
        upstream cannot be reached: with one connection, that is the run failing.
        """
        try:
            client = await StdioSide.open()
        except (ValueError, OSError) as exc:
            raise ProxyError(
                f"--listen stdio: cannot use stdin/stdout ({exc}); they must be pipes or sockets, "
                "as when wezterm runs the proxy as a proxy_command"
            ) from None
        # a connection like any other: stop() gives it the grace period
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            failure = await self._handle(client, {"client": "stdio"})
            await client.wait_closed()  # flush what is left for stdout before we exit
        finally:
            self._tasks.discard(task)
        if failure is not None:
            raise ProxyError(f"cannot connect to upstream {self.upstream}: {failure}")

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, let open connections finish for ``grace`` seconds, close the rest."""
        if self._bootstrap is not None:
            self._bootstrap.close()
            with contextlib.suppress(Exception):
                await self._bootstrap.wait_closed()
            self._bootstrap = None
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            if isinstance(self.listen, UnixAddress):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.listen.path)
            self._server = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for relay in list(self.relays.values()):
                relay.abort("proxy shutting down")
            if pending:
                await asyncio.wait(pending, timeout=2.0)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- connections ---------------------------------------------------------------
    def _accepted(self, side: Side) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(side, side.describe()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, client: Side, client_info: dict[str, Any]) -> str | None:
        """Relay one client until it ends; returns why the upstream could not be opened, if so."""
        conn_id = next(self._ids)
        log = self.log.bind(conn=conn_id)
        totals = self.metrics.relay if self.metrics is not None else None
        if totals is not None:
            totals.connections_opened += 1
        try:
            upstream = await asyncio.wait_for(self._open_upstream(conn_id), self.connect_timeout)
        except (TimeoutError, OSError, ProxyError) as exc:
            reason = _describe_connect_error(exc, self.upstream)
            log.error("upstream_connect_failed", upstream=str(self.upstream), reason=reason)
            if totals is not None:
                totals.upstream_connect_failures += 1
            if not self.explain_failures or getattr(client, "explains_upstream_failure", False):
                client.close()  # (an SSH channel tells the user itself, on stderr)
            elif await refuse(client, reason):
                log.info("client_told", reason=reason, answer="ErrorResponse")
            return reason
        if self.wrap_side is not None:
            client = self.wrap_side(client, "client")
            upstream = self.wrap_side(upstream, "upstream")
        relay = Relay(conn_id, client, upstream, self.tap)
        self.relays[conn_id] = relay
        info = {"client": client_info.get("peer") or client_info.get("client") or "?",
                "listen": self.bound, "upstream": str(self.upstream)}
        if self.tap is not None:
            self.tap.open(conn_id, info)
        if totals is not None:
            totals.started(relay.stats)
        log.info("connection_opened", **info)
        relay.start()
        try:
            stats = await relay.done
        finally:
            self.relays.pop(conn_id, None)
            if totals is not None:
                totals.ended(relay.stats)
        close_info = {
            "closed_by": stats.closed_by,
            "reason": stats.close_reason,
            "bytes_client_to_server": stats.bytes_client_to_server,
            "bytes_server_to_client": stats.bytes_server_to_client,
            "duration_s": round(stats.duration_s, 3),
        }
        if self.tap is not None:
            self.tap.close(conn_id, close_info)
        log.info("connection_closed", **close_info)
        return None

    async def _open_upstream(self, conn_id: int) -> Side:
        if self._open_upstream_override is not None:
            return await self._open_upstream_override(self.upstream, conn_id)
        up = self.upstream
        if isinstance(up, UnixAddress):
            return await connect_unix(up.path)
        if isinstance(up, TcpAddress):
            return await connect_tcp(up.host, up.port)
        if isinstance(up, ExecAddress):
            log = self.log.bind(conn=conn_id, command=up.argv[0])
            return await ExecSide.spawn(
                up.argv,
                on_stderr=lambda line: log.info("upstream_stderr", line=line),
                on_exit=lambda code: log.info("upstream_exited", status=code),
            )
        if isinstance(up, SshAddress):
            from proxy.ssh.client import open_ssh_upstream  # (imported here: asyncssh is ~17 MB of the relay's RSS)

            return await open_ssh_upstream(up, self.ssh_upstream, self.log.bind(conn=conn_id))
        if isinstance(up, TlsAddress):
            from proxy.relay.sides.tls import connect_tls

            ctx, name, hint = self._tls_upstream_ctx
            if self._tls_bootstrap is not None:
                from proxy.tls.bootstrap import connect_bootstrapped

                return await connect_bootstrapped(self._tls_bootstrap, up, name(up.host), hint)
            return await connect_tls(up.host, up.port, ctx, name(up.host), hint)
        raise ProxyError(f"unsupported upstream {up}")


async def close_listener(
    server: asyncio.AbstractServer | None, tasks: set[asyncio.Task[Any]] | list[asyncio.Task[Any]], address: Any
) -> None:
    """Stop an asyncio server, cancel its connection tasks, remove its unix socket file.

    Shared by the servers that are not the relay (the emulated mux server, the
    replay server): their connections end at once, no grace period.
    """
    if server is not None:
        server.close()
    for t in list(tasks):
        t.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    if server is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
    if isinstance(address, UnixAddress):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address.path)


def _describe_connect_error(exc: BaseException, upstream: UpstreamAddress | None = None) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out (is the host reachable? check the address)"
    if isinstance(upstream, ExecAddress) and isinstance(exc, OSError):
        cmd = upstream.argv[0]
        if isinstance(exc, FileNotFoundError):
            return f"command not found: {cmd} (check the exec: command and PATH)"
        if isinstance(exc, PermissionError):
            return f"cannot run {cmd}: permission denied (is it an executable file?)"
        return f"cannot run {cmd}: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return "no such socket (is the mux server running? check the path)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the mux server running and listening there?)"
    if isinstance(exc, PermissionError):
        return "permission denied (check the socket's owner and mode)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _prepare_unix_path(path: str) -> None:
    """Replace a stale socket left by a dead process; refuse a live one or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ProxyError(
                f"cannot listen on unix:{path}: directory {parent} does not exist; create it or pick another path"
            ) from None
        return
    except OSError as exc:  # ENOTDIR, EACCES, ENAMETOOLONG...
        raise ProxyError(f"cannot listen on unix:{path}: {exc.strerror or exc}; pick another path") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise ProxyError(
            f"cannot listen on unix:{path}: it exists and is not a socket; remove it or pick another path"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)  # stale: nobody is listening
        return
    except OSError as exc:
        raise ProxyError(f"cannot listen on unix:{path}: {exc.strerror or exc}; pick another path") from None
    finally:
        probe.close()
    raise ProxyError(
        f"cannot listen on unix:{path}: a live process is already listening there; "
        "stop it or pick another path"
    )
