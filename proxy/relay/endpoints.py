"""Addresses the proxy listens on and connects to, parsed once and validated early.

Listen:   ``unix:PATH``, ``tcp:HOST:PORT``, ``stdio``, ``ssh:HOST:PORT``, ``tls:HOST:PORT``
Upstream: ``unix:PATH``, ``tcp:HOST:PORT``, ``exec:COMMAND``, ``ssh://[USER@]HOST[:PORT]``, ``tls://HOST:PORT``

Every parse error is a :class:`AddressError` whose message names the problem
and the fix, because these strings come straight from a user's command line.
"""

from __future__ import annotations

import errno
import ipaddress
import shlex
from dataclasses import dataclass


class AddressError(ValueError):
    """A listen or upstream address that cannot be used, with the fix in the message."""


def listen_error(option: str, address: object, exc: OSError) -> AddressError:
    """The one line for a bind that failed (a port in use, a path not allowed), with the fix."""
    hint = "; pick another port (or port 0 for any free one)" if exc.errno == errno.EADDRINUSE else ""
    return AddressError(f"{option} {address}: cannot listen: {exc.strerror or exc}{hint}")


@dataclass(frozen=True)
class UnixAddress:
    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@dataclass(frozen=True)
class TcpAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


@dataclass(frozen=True)
class StdioAddress:
    def __str__(self) -> str:
        return "stdio"


@dataclass(frozen=True)
class ExecAddress:
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return "exec:" + shlex.join(self.argv)


@dataclass(frozen=True)
class SshAddress:
    host: str
    port: int | None = None
    user: str | None = None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{user}{host}{port}"


@dataclass(frozen=True)
class TlsAddress:
    """A TLS domain's address: ``tls:HOST:PORT`` to listen on, ``tls://HOST:PORT`` upstream
    (a ``tls_clients`` entry's ``remote_address``)."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tls://{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


ListenAddress = UnixAddress | TcpAddress | StdioAddress | SshAddress | TlsAddress
UpstreamAddress = UnixAddress | TcpAddress | ExecAddress | SshAddress | TlsAddress

LISTEN_FORMS = "unix:PATH, tcp:HOST:PORT, stdio, ssh:HOST:PORT or tls:HOST:PORT"
UPSTREAM_FORMS = "unix:PATH, tcp:HOST:PORT, exec:COMMAND, ssh://[USER@]HOST[:PORT] or tls://HOST:PORT"


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(spec: str, what: str, example: str = "127.0.0.1:7000") -> tuple[str, int]:
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise AddressError(f"{what}: expected [IPV6]:PORT, got {spec!r}")
        port_s = rest[1:]
    else:
        host, sep, port_s = spec.rpartition(":")
        if not sep or not host:
            raise AddressError(f"{what}: expected HOST:PORT (for example {example}), got {spec!r}")
    try:
        port = int(port_s)
    except ValueError:
        raise AddressError(f"{what}: port {port_s!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise AddressError(f"{what}: port {port} is out of range 0-65535")
    return host, port


def parse_metrics_addr(spec: str, allow_remote: bool) -> tuple[str, int]:
    """Parse ``--metrics HOST:PORT``: the same host/port rules, loopback unless ``allow_remote``."""
    host, port = _host_port(spec, f"--metrics {spec!r}", example="127.0.0.1:9464")
    if not allow_remote and not is_loopback_host(host):
        raise AddressError(f"--metrics {spec!r} is not loopback; add --allow-remote to expose it")
    return host, port


def parse_listen(spec: str, allow_remote: bool = False) -> ListenAddress:
    """Parse ``--listen``. Non-loopback TCP/SSH needs ``allow_remote``: the mux
    protocol has no authentication of its own, and this proxy would expose a
    user's terminals to the network."""
    if spec == "stdio":
        return StdioAddress()
    kind, sep, rest = spec.partition(":")
    if not sep:
        raise AddressError(f"--listen {spec!r}: expected {LISTEN_FORMS}")
    if kind == "unix":
        if not rest:
            raise AddressError("--listen unix:PATH needs a path, e.g. unix:/tmp/muxscope.sock")
        return UnixAddress(rest)
    if kind in ("tcp", "ssh", "tls"):
        host, port = _host_port(rest, f"--listen {spec!r}")
        if not allow_remote and not is_loopback_host(host):
            raise AddressError(
                f"--listen {spec!r} is not a loopback address; the mux protocol is unauthenticated. "
                "Use 127.0.0.1, or add --allow-remote if you really mean it"
            )
        if kind == "tls":
            return TlsAddress(host, port)
        return TcpAddress(host, port) if kind == "tcp" else SshAddress(host, port)
    raise AddressError(f"--listen {spec!r}: unknown kind {kind!r}; expected {LISTEN_FORMS}")


def parse_upstream(spec: str) -> UpstreamAddress:
    if spec.startswith("tls://") or spec.startswith("tls:"):
        rest = spec.removeprefix("tls://").removeprefix("tls:")
        return TlsAddress(*_host_port(rest, f"--upstream {spec!r}", example="myhost:8080"))
    if spec.startswith("ssh://"):
        rest = spec[len("ssh://") :]
        user = None
        if "@" in rest:
            user, _, rest = rest.rpartition("@")
        if not rest:
            raise AddressError(f"--upstream {spec!r}: expected ssh://[USER@]HOST[:PORT]")
        if rest.startswith("[") or rest.count(":") == 1:
            host, port = _host_port(rest, f"--upstream {spec!r}")
            return SshAddress(host, port, user or None)
        return SshAddress(rest, None, user or None)
    kind, sep, rest = spec.partition(":")
    if not sep:
        raise AddressError(f"--upstream {spec!r}: expected {UPSTREAM_FORMS}")
    if kind == "unix":
        if not rest:
            raise AddressError("--upstream unix:PATH needs the mux server's socket path")
        return UnixAddress(rest)
    if kind == "tcp":
        return TcpAddress(*_host_port(rest, f"--upstream {spec!r}"))
    if kind == "exec":
        try:
            argv = tuple(shlex.split(rest))
        except ValueError as exc:
            raise AddressError(f"--upstream {spec!r}: cannot split the command: {exc}") from None
        if not argv:
            raise AddressError(
                "--upstream exec:COMMAND needs a command, e.g. exec:ssh host wezterm cli proxy"
            )
        return ExecAddress(argv)
    raise AddressError(f"--upstream {spec!r}: unknown kind {kind!r}; expected {UPSTREAM_FORMS}")
