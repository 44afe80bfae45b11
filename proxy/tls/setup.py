"""Putting the TLS pieces together for the proxy: the listener (with the lines to tell the user)
and the upstream context, with every file problem turned into a :class:`ProxyError` at start."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.relay.endpoints import TlsAddress
from proxy.relay.errors import ProxyError
from proxy.tls.contexts import (
    TlsListenOptions,
    TlsSetupError,
    TlsUpstreamOptions,
    listener_context,
    upstream_context,
)
from proxy.tls.pki import Pki, PkiError, login_name

WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class TlsListenSetup:
    """What a ``tls_clients`` entry for this listener needs."""

    ca: Path
    client_cert: Path
    client_key: Path
    remote_address: str
    created: tuple[Path, ...]
    #: (ca_cert_pem, client_cert_pem) for `wezterm cli tlscreds`
    issue_creds: Callable[[], tuple[str, str]]
    #: USER@HOST:PORT of the SSH listener answering tlscreds, if there is one
    bootstrap_via_ssh: str | None = None

    def tls_clients_lua(self, name: str = "muxscope") -> str:
        """The exact lines for wezterm.lua. ``pem_root_certs`` (not ``pem_ca``: in a client entry
        that is the chain file presented with its own certificate, client.rs ``try_connect``)
        makes the GUI trust muxscope's CA; the host of ``remote_address`` is in the server
        certificate, so ``expected_cn`` is not needed. With ``bootstrap_via_ssh`` the GUI fetches
        both over SSH instead and keeps them in its own pki directory."""
        if self.bootstrap_via_ssh:
            files = f"    bootstrap_via_ssh = {_lua(self.bootstrap_via_ssh)},\n"
        else:
            files = (f"    pem_root_certs = {{ {_lua(str(self.ca))} }},\n"
                     f"    pem_cert = {_lua(str(self.client_cert))},\n"
                     f"    pem_private_key = {_lua(str(self.client_key))},\n")
        return (
            "config.tls_clients = {\n"
            "  {\n"
            f"    name = {_lua(name)},\n"
            f"    remote_address = {_lua(self.remote_address)},\n"
            f"{files}"
            "  },\n"
            "}\n"
        )


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def start_tls_listener(addr: TlsAddress, opts: TlsListenOptions | None, on_accept: Callable[[Any], None],
                             log: Any) -> tuple[Any, TlsListenSetup]:
    from proxy.relay.sides.tls import TlsListener

    opts = opts or TlsListenOptions()
    names = [n for n in (addr.host, *opts.names) if n not in WILDCARDS]
    try:
        pki = Pki(Path(opts.state_dir) if opts.state_dir else None)
        ctx = listener_context(pki, names, opts.client_cas)
        client_cert, client_key = pki.client_files()
    except (PkiError, TlsSetupError) as exc:
        raise ProxyError(f"--listen {addr}: {exc}") from None
    except OSError as exc:
        raise ProxyError(f"--listen {addr}: cannot write muxscope's TLS files: {exc.strerror or exc}") from None
    try:
        listener = await TlsListener.listen(addr.host, addr.port, on_accept, context=ctx, log=log,
                                            user=login_name())
    except OSError as exc:
        raise ProxyError(f"cannot listen on {addr}: {exc.strerror or exc}") from None
    port = listener.sockets[0].getsockname()[1]
    host = addr.host if addr.host not in WILDCARDS else socket.gethostname()
    setup = TlsListenSetup(pki.paths.ca, client_cert, client_key,
                           f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", tuple(pki.created),
                           pki.tls_creds)
    log.info("tls_listening", ca=str(setup.ca), client_cert=str(client_cert), client_key=str(client_key),
             remote_address=setup.remote_address, created=[str(p) for p in setup.created])
    return listener, setup


async def start_bootstrap_listener(server: Any, opts: TlsListenOptions, setup: TlsListenSetup) -> tuple[Any, str]:
    """The SSH listener ``bootstrap_via_ssh`` logs in to: it answers ``wezterm cli tlscreds`` with
    credentials from muxscope's CA (and relays ``wezterm cli proxy`` like ``--listen ssh:``)."""
    from dataclasses import replace

    from proxy.ssh.server import SshListenOptions, start_listener

    ssh_opts = replace(opts.ssh or SshListenOptions(), tls_creds=setup.issue_creds)
    listener = await start_listener(server, opts.bootstrap_ssh, ssh_opts)
    port = listener.sockets[0].getsockname()[1]
    host = opts.bootstrap_ssh.host if opts.bootstrap_ssh.host not in WILDCARDS else socket.gethostname()
    return listener, f"{login_name()}@{host}:{port}"


def upstream_setup(opts: TlsUpstreamOptions | None) -> tuple[ssl.SSLContext | None, Callable[[str], str | None], str]:
    """(context, host -> the name to verify, hint for an untrusted certificate). The context is None
    with ``bootstrap``: credentials come over SSH (tls.bootstrap)."""
    opts = opts or TlsUpstreamOptions()
    ctx = None
    try:
        if opts.bootstrap is None:
            ctx = upstream_context(opts)
    except TlsSetupError as exc:
        raise ProxyError(str(exc)) from None
    hint = f" (trusted: {', '.join(opts.root_certs)} and the system's CAs)" if opts.root_certs else \
        " (pass the server's CA with --tls-ca, as pem_root_certs)"
    return ctx, lambda host: opts.expected_cn or host, hint
