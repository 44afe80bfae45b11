"""``--tls-bootstrap-via-ssh``: muxscope's upstream gets its TLS credentials as wezterm-gui does.

A ``tls_clients`` entry with ``bootstrap_via_ssh`` has no certificate files:
client.rs ``tls_connect`` logs in over SSH, runs ``wezterm cli tlscreds`` (which
starts the mux server if needed), decodes the GetTlsCredsResponse PDU it
prints, saves the CA and the client certificate (with its key) in its pki
directory, and connects over TLS with them. It reuses saved credentials first
and bootstraps again when they fail, which they do every time the server
restarts, since wezterm-mux-server makes a new CA on each start (pki.rs).

:class:`UpstreamBootstrap` does the same for muxscope's upstream, keeping the
credentials in ``<state dir>/tls/upstream/HOST_PORT`` (0600), so a TLS domain
that bootstraps needs no files of the user's to be measured.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from codec import PduStream
from codec.pdu import Pdu
from proxy.relay.endpoints import SshAddress, TlsAddress
from proxy.relay.errors import ProxyError
from proxy.tls.contexts import TlsSetupError, TlsUpstreamOptions, upstream_context
from proxy.tls.pki import default_dir, write_private

DEFAULT_TLSCREDS_COMMAND = "wezterm cli tlscreds"
#: ceiling on what `tlscreds` may print (two PEM certificates and a key are a few KiB)
MAX_CREDS_BYTES = 1 << 20
TLSCREDS_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class BootstrapOptions:
    ssh: SshAddress  # bootstrap_via_ssh: USER@HOST:PORT
    ssh_options: Any = None  # ssh.client.SshUpstreamOptions (ssh_config, known_hosts, identity)
    command: str = DEFAULT_TLSCREDS_COMMAND  # remote_wezterm_path + " cli tlscreds"
    directory: str | None = None  # None: <state dir>/tls/upstream


def parse_creds(stdout: bytes) -> tuple[str, str]:
    """(ca_cert_pem, client_cert_pem) from what ``wezterm cli tlscreds`` printed."""
    for item in PduStream().feed(stdout[:MAX_CREDS_BYTES]):
        if isinstance(item, Pdu):
            if item.name != "GetTlsCredsResponse":
                raise ProxyError(f"tlscreds printed a {item.name}, not a GetTlsCredsResponse")
            return item.body["ca_cert_pem"], item.body["client_cert_pem"]
    raise ProxyError("tlscreds printed no GetTlsCredsResponse (is the remote wezterm too old, or not wezterm?)")


async def fetch_creds(opts: BootstrapOptions) -> tuple[str, str]:
    """Run the tlscreds command over SSH, as client.rs does; errors are one-line ProxyErrors."""
    from proxy.ssh.client import SshUpstreamOptions, UpstreamSshError, connect

    try:
        conn = await connect(opts.ssh, opts.ssh_options or SshUpstreamOptions())
    except UpstreamSshError as exc:
        raise ProxyError(f"bootstrap via ssh {opts.ssh}: {exc}") from None
    try:
        result = await asyncio.wait_for(conn.run(opts.command, stdin=b"", check=False), TLSCREDS_TIMEOUT_S)
    except TimeoutError:
        raise ProxyError(f"bootstrap via ssh {opts.ssh}: `{opts.command}` did not finish") from None
    finally:
        conn.close()
    if result.exit_status != 0:
        err = bytes(result.stderr or b"").decode(errors="replace").strip().splitlines()
        raise ProxyError(f"bootstrap via ssh {opts.ssh}: `{opts.command}` failed (status {result.exit_status})"
                         + (f": {err[-1]}" if err else ""))
    return parse_creds(bytes(result.stdout or b""))


class UpstreamBootstrap:
    """Credentials for one TLS upstream, fetched over SSH when there are none or they stop working."""

    def __init__(self, upstream: TlsAddress, opts: BootstrapOptions, tls: TlsUpstreamOptions, log: Any) -> None:
        self.opts = opts
        self.tls = tls
        self.log = log
        base = Path(opts.directory) if opts.directory else default_dir() / "upstream"
        self.dir = base / f"{upstream.host}_{upstream.port}"
        self._lock = asyncio.Lock()
        self.fetched = 0

    @property
    def _ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def _cert(self) -> Path:
        return self.dir / "cert.pem"  # the client certificate and its key, as client.rs keeps them

    def context(self) -> Any:
        """The upstream context with the saved credentials (None if there are none yet)."""
        if not self._cert.exists():
            return None
        opts = replace(self.tls, cert=str(self._cert), key=None, root_certs=(str(self._ca), *self.tls.root_certs))
        try:
            return upstream_context(opts)
        except TlsSetupError:
            return None  # unusable: bootstrap again

    async def refresh(self, generation: int) -> Any:
        """Fetch new credentials, unless another connection did since ``generation`` (``fetched``
        when this one's attempt began)."""
        async with self._lock:
            if self.fetched != generation and (current := self.context()) is not None:
                return current
            ca, cert = await fetch_creds(self.opts)
            write_private(self._cert, cert.encode())
            write_private(self._ca, ca.encode())
            self.fetched += 1
            self.log.info("tls_bootstrapped", ssh=str(self.opts.ssh), command=self.opts.command, dir=str(self.dir))
            ctx = self.context()
            if ctx is None:
                raise ProxyError(f"bootstrap via ssh {self.opts.ssh}: the credentials it printed are not usable")
            return ctx


async def connect_bootstrapped(boot: UpstreamBootstrap, up: TlsAddress, name: str | None, hint: str) -> Any:
    """client.rs ``tls_connect``: try the saved credentials; when the handshake fails on a certificate,
    or nothing listens yet (``tlscreds`` starts the server), bootstrap and try once more."""
    from proxy.relay.sides.tls import TlsHandshakeError, connect_tls

    generation = boot.fetched
    ctx = boot.context()
    if ctx is not None:
        with contextlib.suppress(TlsHandshakeError, ConnectionRefusedError):
            return await connect_tls(up.host, up.port, ctx, name, hint)
    ctx = await boot.refresh(generation)
    return await connect_tls(up.host, up.port, ctx, name, hint)
