"""Facts about WezTerm's configuration that the docs rely on, kept here so tests need no WezTerm source.

Read from wezterm/wezterm: ``pub`` fields of ``struct SshDomain`` (config/src/ssh.rs),
``struct UnixDomain`` (config/src/unix.rs), ``struct TlsDomainClient`` and ``struct TlsDomainServer``
(config/src/tls.rs), and the variants of ``enum SshMultiplexing`` (config/src/ssh.rs), at two
points users run:

* ``20240203-110809-5046fc22``: the last stable release (codec 42);
* ``4ff581a8aa3460d04f859fdadb50f29b3c507763`` (main, Feb 2025, codec 44); main at
  ``9161154e60a4fdf86cd759e41ef1118a5732f042`` (codec 45) has the same ``SshDomain``.

When WezTerm adds or removes an option, update these sets with the commit they were read at.
"""

from __future__ import annotations

STABLE = "20240203-110809-5046fc22"
MAIN = "4ff581a8aa3460d04f859fdadb50f29b3c507763"

SSH_DOMAIN_FIELDS = {
    STABLE: frozenset({
        "name", "remote_address", "no_agent_auth", "username", "connect_automatically", "timeout",
        "local_echo_threshold_ms", "overlay_lag_indicator", "remote_wezterm_path", "ssh_backend", "multiplexing",
        "ssh_option", "default_prog", "assume_shell",
    }),
    MAIN: frozenset({
        "name", "remote_address", "no_agent_auth", "username", "connect_automatically", "timeout",
        "local_echo_threshold_ms", "overlay_lag_indicator", "remote_wezterm_path", "override_proxy_command",
        "ssh_backend", "multiplexing", "ssh_option", "default_prog", "assume_shell",
    }),
}

UNIX_DOMAIN_FIELDS = {
    version: frozenset({
        "name", "socket_path", "connect_automatically", "no_serve_automatically", "serve_command", "proxy_command",
        "skip_permissions_check", "read_timeout", "write_timeout", "local_echo_threshold_ms", "overlay_lag_indicator",
    })
    for version in (STABLE, MAIN)
}

TLS_CLIENT_FIELDS = {
    version: frozenset({
        "name", "bootstrap_via_ssh", "remote_address", "pem_private_key", "pem_cert", "pem_ca", "pem_root_certs",
        "accept_invalid_hostnames", "expected_cn", "connect_automatically", "read_timeout", "write_timeout",
        "local_echo_threshold_ms", "remote_wezterm_path", "overlay_lag_indicator",
    })
    for version in (STABLE, MAIN)
}

TLS_SERVER_FIELDS = {
    version: frozenset({"bind_address", "pem_private_key", "pem_cert", "pem_ca", "pem_root_certs"})
    for version in (STABLE, MAIN)
}

SSH_MULTIPLEXING = frozenset({"WezTerm", "None"})

#: ``config/src/config.rs`` (``pub ssh_domains``, ``unix_domains``, ``tls_clients``, ``tls_servers``):
#: the top-level keys the snippets assign, with the struct of each entry.
DOMAIN_FIELDS = {"ssh_domains": SSH_DOMAIN_FIELDS, "unix_domains": UNIX_DOMAIN_FIELDS,
                 "tls_clients": TLS_CLIENT_FIELDS, "tls_servers": TLS_SERVER_FIELDS}

#: Where a unix domain's mux server listens by default: ``UnixDomain::socket_path`` (config/src/unix.rs)
#: is ``RUNTIME_DIR.join("sock")``, and ``compute_runtime_dir`` (config/src/config.rs) is
#: ``dirs_next::runtime_dir()`` (``$XDG_RUNTIME_DIR``) joined with ``wezterm``.
DEFAULT_MUX_SOCKET = "$XDG_RUNTIME_DIR/wezterm/sock"
