"""muxscope's own certificate authority, for ``--listen tls:`` and for answering ``tlscreds``.

wezterm-gui's TLS domain verifies the server it connects to against the CAs its
``tls_clients`` entry trusts (``pem_root_certs``, plus the ``ca.pem`` that
``bootstrap_via_ssh`` saved), and the host name of ``remote_address`` (or
``expected_cn``); WezTerm's server in turn demands a client certificate from a
CA it trusts whose CN is the user's login name (wezterm-mux-server/src/ossl.rs).
To stand in the middle, muxscope presents a server certificate signed by a CA
of its own, and issues the client certificate that the GUI presents to it.

The CA is made once and kept, so the ``tls_clients`` lines a user added stay
valid across restarts (WezTerm's own server makes a new CA on every start,
which is why its clients re-bootstrap); private keys are written 0600 and
refused when others can read them, as the SSH host key is.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from proxy.ssh.server import state_dir

#: How long the CA and the certificates it issues are valid. WezTerm's (rcgen's defaults) never
#: expire; a long life keeps the printed config valid while still being a real bound.
CA_DAYS = 3650
LEAF_DAYS = 825
#: credentials handed out to ``tlscreds`` (bootstrap_via_ssh) are short-lived: the GUI keeps them in
#: its pki dir and, when they stop working, bootstraps again (client.rs ``tls_connect``)
TLSCREDS_DAYS = 7
#: Names the server certificate always carries: what a loopback ``remote_address`` names.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class PkiError(Exception):
    """The state directory's TLS files cannot be used; the message says why and what to do."""


def login_name() -> str:
    """The name WezTerm's server compares a client certificate's CN with: ``$USER``
    (wezterm-mux-server/src/ossl.rs; config::username_from_env also tries LOGNAME and USERNAME)."""
    for var in ("USER", "LOGNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    import getpass

    return getpass.getuser()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for n in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(entries)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # what rcgen (WezTerm's PKI) uses by default


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def issue(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cn: str, names: list[str],
          client: bool, days: int = LEAF_DAYS, not_before: datetime.datetime | None = None,
          key: ec.EllipticCurvePrivateKey | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf certificate signed by the CA: for a server (``names`` as SANs) or a client (CN ``cn``)."""
    key = key or _new_key()
    start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(_san(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_ca(cn: str = "muxscope CA") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner may read (created 0600, never widened by the umask)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_private(path: Path) -> bytes:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise PkiError(f"private key {path} is accessible by others (mode {mode:04o}); run: chmod 600 {path}")
        return path.read_bytes()
    except OSError as exc:
        raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class PkiPaths:
    """The files in ``<state dir>/tls``: what the printed ``tls_clients`` lines point at."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca-key.pem"

    @property
    def server(self) -> Path:
        return self.dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server-key.pem"

    @property
    def client(self) -> Path:
        return self.dir / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.dir / "client-key.pem"


def default_dir() -> Path:
    return state_dir() / "tls"


class Pki:
    """The CA and the certificates issued from it, loaded from (or first made in) ``directory``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.paths = PkiPaths(directory or default_dir())
        self.created: list[Path] = []  # what this run made (reported to the user)
        self.ca_cert, self.ca_key = self._load_or_make_ca()

    def _load_or_make_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        p = self.paths
        if not p.ca.exists() or not p.ca_key.exists():
            cert, key = make_ca()
            write_private(p.ca_key, key_pem(key))
            p.ca.write_bytes(cert_pem(cert))
            self.created += [p.ca, p.ca_key]
            return cert, key
        try:
            cert = x509.load_pem_x509_certificate(p.ca.read_bytes())
            key = serialization.load_pem_private_key(read_private(p.ca_key), None)
        except ValueError as exc:
            raise PkiError(f"{p.ca} or {p.ca_key} is not a PEM certificate/key ({exc}); "
                           f"remove both to make a new CA") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{p.ca_key} is not an EC key; remove {p.ca} and {p.ca_key} to make a new CA")
        return cert, key

    def server_files(self, names: list[str]) -> tuple[Path, Path]:
        """The server certificate and key, (re)issued when missing, expiring, or lacking one of ``names``."""
        p = self.paths
        wanted = list(dict.fromkeys([*LOOPBACK_NAMES, socket.gethostname(), *names]))
        if p.server.exists() and p.server_key.exists() and self._still_good(p.server, wanted):
            read_private(p.server_key)  # refuse a key others can read even when it is reused
            return p.server, p.server_key
        cert, key = issue(self.ca_cert, self.ca_key, wanted[0], wanted, client=False)
        write_private(p.server_key, key_pem(key))
        p.server.write_bytes(cert_pem(cert))
        self.created += [p.server, p.server_key]
        return p.server, p.server_key

    def client_files(self) -> tuple[Path, Path]:
        """The client certificate (CN: the login name, as WezTerm's server requires) and key for the GUI."""
        p = self.paths
        if p.client.exists() and p.client_key.exists() and self._still_good(p.client, []):
            read_private(p.client_key)
            return p.client, p.client_key
        cert, key = issue(self.ca_cert, self.ca_key, login_name(), [login_name()], client=True)
        write_private(p.client_key, key_pem(key))
        p.client.write_bytes(cert_pem(cert))
        self.created += [p.client, p.client_key]
        return p.client, p.client_key

    def tls_creds(self) -> tuple[str, str]:
        """(ca_cert_pem, client_cert_pem) as GetTlsCredsResponse carries them: a fresh client
        certificate with its key appended, as WezTerm's Pki::generate_client_cert does."""
        cert, key = issue(self.ca_cert, self.ca_key, login_name(), [login_name()], client=True, days=TLSCREDS_DAYS)
        return cert_pem(self.ca_cert).decode(), (cert_pem(cert) + key_pem(key)).decode()

    def _still_good(self, path: Path, names: list[str]) -> bool:
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            return False
        if cert.issuer != self.ca_cert.subject:
            return False
        try:
            cert.verify_directly_issued_by(self.ca_cert)
        except Exception:  # noqa: BLE001 - whatever is wrong with it, issue a new one
            return False
        if cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7):
            return False
        if not names:
            return True
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        have = set(san.get_values_for_type(x509.DNSName)) | {str(a) for a in san.get_values_for_type(x509.IPAddress)}
        return {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in names} <= have


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
