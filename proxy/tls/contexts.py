"""The ``ssl`` contexts of muxscope's two TLS roles, set up to check what WezTerm checks.

As the server wezterm-gui connects to (wezterm-mux-server/src/ossl.rs): TLS 1.2
or newer (``SslAcceptor::mozilla_modern``), a client certificate required and
verified against the trusted CAs (``PEER | FAIL_IF_NO_PEER_CERT``), and then
its CN must be the login name, or start with ``user:NAME/``.

As the client of a real mux server (wezterm-client/src/client.rs,
``try_connect``): the system's CAs plus ``pem_root_certs``, our certificate and
key, and the server's certificate checked against the host of
``remote_address`` or ``expected_cn`` unless ``accept_invalid_hostnames``.

Errors become one line that names the cause and the fix (:func:`describe`).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from proxy.tls.pki import Pki, login_name


class TlsSetupError(ValueError):
    """A certificate or key file cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TlsListenOptions:
    """``--listen tls:``: muxscope's CA directory, and other CAs whose client certificates it accepts."""

    state_dir: str | None = None  # None: <state dir>/tls
    client_cas: tuple[str, ...] = ()  # files or directories, as pem_root_certs
    names: tuple[str, ...] = ()  # extra names for the server certificate
    bootstrap_ssh: Any = None  # SshAddress: also answer `wezterm cli tlscreds` over SSH there
    ssh: Any = None  # its ssh.server.SshListenOptions (host key, authorized_keys)


@dataclass(frozen=True)
class TlsUpstreamOptions:
    """``--upstream tls://``: what a ``tls_clients`` entry holds."""

    cert: str | None = None  # pem_cert (may hold the key too, as tlscreds' cert.pem does)
    key: str | None = None  # pem_private_key (default: the cert file)
    root_certs: tuple[str, ...] = field(default_factory=tuple)  # pem_root_certs
    expected_cn: str | None = None
    accept_invalid_hostnames: bool = False
    bootstrap: Any = None  # tls.bootstrap.BootstrapOptions: credentials fetched over SSH instead


def _add_roots(ctx: ssl.SSLContext, roots: Iterable[str], flag: str) -> None:
    """Trust each file, or each certificate file in each directory (bad ones skipped, as WezTerm does)."""
    for root in roots:
        path = Path(root)
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                try:
                    ctx.load_verify_locations(cafile=str(entry))
                except (ssl.SSLError, OSError, ValueError):
                    continue
            continue
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (ssl.SSLError, OSError) as exc:
            raise TlsSetupError(f"{flag} {root}: cannot load it as PEM certificates "
                                f"({getattr(exc, 'strerror', None) or exc})") from None


def _load_chain(ctx: ssl.SSLContext, cert: str, key: str | None, what: str) -> None:
    for path in (cert, key):
        if path is not None and not os.path.exists(path):
            raise TlsSetupError(f"{what}: {path} does not exist")
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsSetupError(f"{what}: cannot use {cert}{' with ' + key if key else ''}: {exc.reason or exc} "
                            "(is it a PEM certificate, and the key that goes with it?)") from None
    except OSError as exc:
        raise TlsSetupError(f"{what}: cannot read {cert}: {exc.strerror or exc}") from None


def server_context(cert: str, key: str | None, client_cas: Iterable[str], what: str = "--tls-cert/--tls-key",
                   ca_flag: str = "--tls-ca") -> ssl.SSLContext:
    """A TLS server as wezterm-mux-server's: TLS 1.2+, a client certificate required from ``client_cas``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, cert, key, what)
    _add_roots(ctx, client_cas, ca_flag)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def listener_context(pki: Pki, names: list[str], client_cas: Iterable[str] = ()) -> ssl.SSLContext:
    cert, key = pki.server_files(names)
    return server_context(str(cert), str(key), [str(pki.paths.ca), *client_cas],
                          "muxscope's server certificate", "--tls-client-ca")


def upstream_context(opts: TlsUpstreamOptions) -> ssl.SSLContext:
    if not opts.cert:
        raise TlsSetupError("--upstream tls:// needs --tls-cert (the pem_cert of your tls_clients entry; "
                            "a mux server requires a client certificate)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    ctx.load_default_certs()  # SslConnector::builder: the system's trust store
    _add_roots(ctx, opts.root_certs, "--tls-ca")
    _load_chain(ctx, opts.cert, opts.key, "--tls-cert/--tls-key")
    if opts.accept_invalid_hostnames:
        ctx.check_hostname = False
    return ctx


def check_client_name(der: bytes | None, user: str | None = None) -> str | None:
    """Why WezTerm's server would turn this (verified) client certificate away, or None: it wants
    a CN that is the login name, or ``user:NAME/...``."""
    if der is None:
        return "the client sent no certificate"
    user = user or login_name()
    cns = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns:
        return "the client certificate has no CN (WezTerm's server wants the login name there)"
    cn = cns[0].value if isinstance(cns[0].value, str) else cns[0].value.decode(errors="replace")
    if cn == user or cn.startswith(f"user:{user}/"):
        return None
    return f"the client certificate's CN {cn!r} is not the login name {user!r} (WezTerm's server refuses it too)"


#: OpenSSL verify codes (x509_vfy.h) and what to do about them
_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH = {62, 64}  # host name, IP address
_UNTRUSTED = {2, 18, 19, 20, 21}


def describe(exc: BaseException, role: str, ca_hint: str = "") -> str:
    """One line for a failed handshake. ``role``: ``upstream`` (we verified the server) or
    ``client`` (we verified wezterm-gui's certificate)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, msg = exc.verify_code, exc.verify_message
        whose = "the upstream's certificate" if role == "upstream" else "the client certificate"
        if code in _NAME_MISMATCH:
            return (f"{whose} does not match the host name: {msg} "
                    "(WezTerm refuses it too; --tls-expected-cn NAME is its expected_cn)")
        if code == _EXPIRED:
            return f"{whose} has expired"
        if code == _NOT_YET_VALID:
            return f"{whose} is not valid yet (check the clocks)"
        if code in _UNTRUSTED:
            hint = (" (wezterm-mux-server makes a new CA each time it starts: fetch the new ca.pem)"
                    if role == "upstream" else "")
            return f"{whose} is not signed by a trusted CA ({msg}){ca_hint}{hint}"
        return f"{whose} was refused: {msg}"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).upper()
        if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in reason or "CERTIFICATE_REQUIRED" in reason:
            return ("no client certificate was sent (the tls_clients entry needs pem_cert and pem_private_key)"
                    if role == "client" else
                    "the upstream wants a client certificate it did not get (check --tls-cert/--tls-key)")
        if "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason or "CERTIFICATE_UNKNOWN" in reason:
            return ("the client refused muxscope's certificate (does its pem_root_certs hold muxscope's ca.pem, "
                    "and is the host of its remote_address one the certificate names?)"
                    if role == "client" else
                    "the upstream refused our client certificate (is --tls-cert from the CA the server trusts?)")
        if "EXPIRED" in reason:
            return ("the peer says a certificate has expired" if role == "upstream" else
                    "the client says muxscope's certificate has expired (remove server.pem to re-issue it)")
        if "WRONG_VERSION_NUMBER" in reason or "HTTP_REQUEST" in reason:
            return "the peer does not speak TLS (is it a tcp: address?)"
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "the TLS handshake timed out"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__
