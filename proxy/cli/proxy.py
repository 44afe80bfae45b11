"""``muxscope proxy``: run the proxy until SIGINT/SIGTERM.

First signal: stop accepting, give open connections ``--grace`` seconds, flush
logs and captures, exit 0. Second signal: exit at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

from codec.schema.versions import SUPPORTED
from proxy.cli.options import add_burst_gap_argument, add_client_model_argument, add_local_echo_argument
from proxy.eventloop import NO_UVLOOP_ENV, EventLoopError, LoopChoice, resolve, running_loop_name
from proxy.eventloop import run as run_loop
from proxy.isolation.runtime import IsolatedRuntime
from proxy.observe import logs
from proxy.relay.endpoints import AddressError, SshAddress, StdioAddress, TlsAddress, parse_listen, parse_upstream
from proxy.relay.errors import ProxyError
from proxy.runtime import RuntimeOptions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "proxy",
        help="relay wezterm-gui <-> mux server, decoding and measuring on the side",
        description="Sit between wezterm-gui and the mux server: every byte is relayed unchanged; on the "
        "side every PDU is decoded, each GetLines is logged with its rows and latency, and metrics are "
        "exported for Prometheus.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="addresses:\n  --listen   unix:PATH | tcp:HOST:PORT | stdio | ssh:HOST:PORT | tls:HOST:PORT\n"
        "  --upstream unix:PATH | tcp:HOST:PORT | exec:COMMAND | ssh://[USER@]HOST[:PORT] | tls://HOST:PORT\n",
    )
    p.add_argument("--listen", required=True, help="where wezterm-gui connects (see below)")
    p.add_argument("--upstream", required=True, help="the real mux server (see below)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --listen/--metrics address (the mux protocol has no auth)")
    add_observability_args(p)
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None,
                   help="force the codec version instead of reading it from GetCodecVersionResponse")
    p.add_argument("--queue-chunks", type=int, default=4096,
                   help="analysis queue size in chunks; when full, analysis drops (never the relay)")
    p.add_argument("--analysis", choices=("process", "thread"), default="process",
                   help="run the analysis in a process of its own, restarted if it fails (default), or on "
                   "threads of the relay's process (for debugging: a hostile frame can then stall the relay)")
    p.add_argument("--analysis-memory", type=int, default=160, metavar="MB",
                   help="resident memory the analysis process may use before it is restarted (default 160)")
    p.add_argument("--grace", type=float, default=2.0,
                   help="seconds open connections get to finish on SIGINT/SIGTERM (default 2)")
    p.add_argument("--event-loop", choices=[c.value for c in LoopChoice], default="auto",
                   help="the relay's event loop: uvloop (pip install 'muxscope[fast]'), asyncio's, or auto "
                   f"(default: uvloop if installed, unless {NO_UVLOOP_ENV}=1; --listen stdio always uses asyncio)")
    p.add_argument("--shape", default=None, metavar="SPEC",
                   help="simulate a slow link on the upstream side, e.g. 'rtt=60ms,bandwidth=20mbit,jitter=2ms'")
    _add_ssh_args(p)
    _add_tls_args(p)
    p.set_defaults(func=run)


def _add_tls_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "tls (--listen tls:HOST:PORT, --upstream tls://HOST:PORT; a TLS domain, see docs/wezterm-config.md)")
    g.add_argument("--tls-dir", metavar="DIR", default=None,
                   help="muxscope's CA and certificates, made once (default $XDG_STATE_HOME/muxscope/tls)")
    g.add_argument("--tls-client-ca", metavar="PATH", action="append", default=None,
                   help="also accept client certificates from this CA (file or directory; repeatable), "
                   "e.g. the one your tls_clients entry's pem_cert comes from")
    g.add_argument("--tls-name", metavar="NAME", action="append", default=None,
                   help="another host name or address for muxscope's server certificate (repeatable)")
    g.add_argument("--tls-bootstrap-ssh", metavar="HOST:PORT", default=None,
                   help="also listen for SSH there and answer `wezterm cli tlscreds` with credentials from "
                   "muxscope's CA, for a tls_clients entry with bootstrap_via_ssh (same --host-key and "
                   "--authorized-keys as --listen ssh:)")
    g.add_argument("--tls-cert", metavar="FILE", default=None,
                   help="client certificate for the upstream: your tls_clients pem_cert (may hold the key)")
    g.add_argument("--tls-key", metavar="FILE", default=None,
                   help="its private key: pem_private_key (default: the --tls-cert file)")
    g.add_argument("--tls-ca", metavar="PATH", action="append", default=None,
                   help="CA that signed the upstream's certificate: pem_root_certs (file or directory; repeatable)")
    g.add_argument("--tls-bootstrap-via-ssh", metavar="USER@HOST[:PORT]", default=None,
                   help="get the upstream's client certificate and CA by running `wezterm cli tlscreds` there "
                   "over SSH, as bootstrap_via_ssh does (again whenever they stop working; uses --ssh-config, "
                   "--known-hosts, --identity)")
    g.add_argument("--tls-creds-command", metavar="CMD", default="wezterm cli tlscreds",
                   help="the command --tls-bootstrap-via-ssh runs (remote_wezterm_path + ' cli tlscreds')")
    g.add_argument("--tls-expected-cn", metavar="NAME", default=None,
                   help="name the upstream's certificate must match instead of HOST (expected_cn)")
    g.add_argument("--tls-accept-invalid-hostnames", action="store_true",
                   help="do not check the upstream's name (accept_invalid_hostnames; weakens TLS)")


def _add_ssh_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ssh (--listen ssh:HOST:PORT, --upstream ssh://[USER@]HOST[:PORT])")
    g.add_argument("--host-key", metavar="FILE", default=None,
                   help="SSH host key (created on first use; default $XDG_STATE_HOME/muxscope/ssh_host_ed25519_key)")
    g.add_argument("--authorized-keys", metavar="FILE", default=None,
                   help="public keys allowed to log in (default ~/.ssh/authorized_keys)")
    g.add_argument("--allow-command", metavar="REGEX", action="append", default=None,
                   help="also accept exec commands fully matching REGEX (default: only `wezterm cli ... proxy`)")
    g.add_argument("--remote-command", metavar="CMD", default=None,
                   help="run CMD on the ssh:// upstream (default: the SSH client's command, "
                   "else 'wezterm cli --prefer-mux proxy')")
    g.add_argument("--ssh-config", metavar="FILE", default=None,
                   help="ssh_config for the upstream (default ~/.ssh/config)")
    g.add_argument("--known-hosts", metavar="FILE", default=None,
                   help="known_hosts for the upstream (default ~/.ssh/known_hosts)")
    g.add_argument("--identity", metavar="FILE", default=None,
                   help="private key for the upstream (default: ssh-agent and IdentityFile/default keys)")


def add_observability_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", metavar="HOST:PORT", default=None,
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (loopback unless --allow-remote)")
    logs.add_arguments(p)
    p.add_argument("--capture", default=None, metavar="FILE",
                   help="record every byte to a new .muxcap capture (replayable, shareable after scrub); "
                   "refuses an existing FILE unless --force")
    p.add_argument("--force", action="store_true",
                   help="let --capture replace an existing regular file (by rename: it is never truncated)")
    p.add_argument("--capture-max-bytes", type=int, default=None,
                   help="rotate the capture after this many compressed bytes (FILE.1, FILE.2, ...)")
    p.add_argument("--capture-max-seconds", type=float, default=None,
                   help="rotate the capture after this many seconds")
    add_burst_gap_argument(p)
    add_client_model_argument(p)
    add_local_echo_argument(p)


def options_from_args(args: argparse.Namespace) -> RuntimeOptions:
    listen = parse_listen(args.listen, args.allow_remote)
    upstream = parse_upstream(args.upstream)
    wrap = None
    if getattr(args, "shape", None):
        from proxy.relay.shaping import LinkShape, shaper_for

        try:
            shape = LinkShape.parse(args.shape)
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith("--shape") else f"--shape {args.shape!r}: {msg}") from None
        wrap = shaper_for(shape)
    ssh_listen = ssh_upstream = None
    if isinstance(listen, SshAddress):
        from proxy.ssh.server import SshListenOptions

        ssh_listen = SshListenOptions(args.host_key, args.authorized_keys, tuple(args.allow_command or ()))
    if isinstance(upstream, SshAddress):
        from proxy.ssh.client import SshUpstreamOptions

        ssh_upstream = SshUpstreamOptions(args.ssh_config, args.known_hosts, args.identity, args.remote_command)
    tls_listen, tls_upstream = _tls_options(args, listen, upstream)
    return RuntimeOptions(
        listen=listen,
        upstream=upstream,
        metrics_addr=args.metrics,
        allow_remote=args.allow_remote,
        codec_version=args.codec_version,
        queue_chunks=args.queue_chunks,
        capture=args.capture,
        capture_max_bytes=args.capture_max_bytes,
        capture_max_seconds=args.capture_max_seconds,
        capture_force=args.force,
        burst_gap_s=args.burst_gap,
        client_model=args.client_model,
        local_echo=args.local_echo,
        prefetch_rate=args.prefetch_rate,
        wrap_side=wrap,
        ssh_listen=ssh_listen,
        ssh_upstream=ssh_upstream,
        tls_listen=tls_listen,
        tls_upstream=tls_upstream,
    )


def _tls_options(args: argparse.Namespace, listen: object, upstream: object) -> tuple[object, object]:
    tls_listen = tls_upstream = None
    if isinstance(listen, TlsAddress):
        from proxy.tls.contexts import TlsListenOptions  # cryptography: imported only for a TLS address

        bootstrap = ssh = None
        if args.tls_bootstrap_ssh:
            from proxy.ssh.server import SshListenOptions

            try:
                bootstrap = parse_listen(f"ssh:{args.tls_bootstrap_ssh}", args.allow_remote)
            except AddressError as exc:
                msg = str(exc).replace(f"--listen 'ssh:{args.tls_bootstrap_ssh}'", "--tls-bootstrap-ssh "
                                       f"{args.tls_bootstrap_ssh!r}")
                raise AddressError(msg) from None
            ssh = SshListenOptions(args.host_key, args.authorized_keys, tuple(args.allow_command or ()))
        tls_listen = TlsListenOptions(args.tls_dir, tuple(args.tls_client_ca or ()), tuple(args.tls_name or ()),
                                      bootstrap, ssh)
    elif args.tls_bootstrap_ssh:
        raise ValueError("--tls-bootstrap-ssh goes with --listen tls:HOST:PORT")
    if isinstance(upstream, TlsAddress):
        from proxy.tls.contexts import TlsUpstreamOptions

        tls_upstream = TlsUpstreamOptions(args.tls_cert, args.tls_key, tuple(args.tls_ca or ()),
                                          args.tls_expected_cn, args.tls_accept_invalid_hostnames,
                                          _bootstrap_options(args))
    elif args.tls_cert or args.tls_ca:
        raise ValueError("--tls-cert/--tls-ca are for an --upstream tls://HOST:PORT")
    return tls_listen, tls_upstream


def _runtime(opts: RuntimeOptions, args: argparse.Namespace | None) -> Any:
    """The relay and the analysis in two processes (what users run), or on threads of one."""
    if args is None or getattr(args, "analysis", "process") == "thread":
        from proxy.runtime import ProxyRuntime

        return ProxyRuntime(opts)
    log_config = {"fmt": args.log_format, "level": args.log_level, "file": args.log_file,
                  "log_content": args.log_content}
    return IsolatedRuntime(opts, log_config, rss_limit=args.analysis_memory * 1024 * 1024)


async def _main(opts: RuntimeOptions, grace: float, args: argparse.Namespace | None = None) -> int:
    rt = _runtime(opts, args)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            logs.flush()
            os._exit(128 + signum)
        rt.log.info("shutting_down", signal=signal.Signals(signum).name, grace_s=grace)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await rt.start()
        rt.log.info("event_loop", loop=running_loop_name())
        _tell_tls_setup(rt)
    except BaseException:
        with contextlib.suppress(Exception):
            await rt.stop(0)  # a metrics server already listening, a capture already open...
        raise
    serve: asyncio.Task[None] | None = None
    if isinstance(opts.listen, StdioAddress):
        serve = asyncio.create_task(rt.server.serve_stdio())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({serve, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    else:
        await stop.wait()
    await rt.stop(grace)
    rt.log.info("stopped")
    logs.flush()
    if serve is not None and serve.done() and not serve.cancelled():
        serve.result()  # the one stdio connection failed (ProxyError): a failed run
    return 0


def _bootstrap_options(args: argparse.Namespace) -> object:
    """``--tls-bootstrap-via-ssh USER@HOST[:PORT]``: the upstream's credentials over SSH (bootstrap_via_ssh)."""
    if not args.tls_bootstrap_via_ssh:
        return None
    from proxy.ssh.client import SshUpstreamOptions
    from proxy.tls.bootstrap import BootstrapOptions

    if args.tls_cert:
        raise ValueError("--tls-bootstrap-via-ssh fetches the client certificate: leave out --tls-cert")
    ssh = parse_upstream("ssh://" + args.tls_bootstrap_via_ssh.removeprefix("ssh://"))
    return BootstrapOptions(ssh, SshUpstreamOptions(args.ssh_config, args.known_hosts, args.identity),
                            args.tls_creds_command)


def _tell_tls_setup(rt: Any) -> None:
    """``--listen tls:``: the CA path and the wezterm.lua lines, on stderr (stdout may carry the protocol)."""
    setup = rt.server.tls_setup
    if setup is None:
        return
    print(f"muxscope: TLS listener on {rt.server.bound}; CA: {setup.ca}\n"
          "muxscope: add this TLS domain to wezterm.lua (then: wezterm connect muxscope):\n"
          + setup.tls_clients_lua(), file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    # (logs go to stderr or --log-file, never stdout: with --listen stdio it carries the protocol)
    try:
        logs.configure_from_args(args)
        opts = options_from_args(args)
        choice = resolve(getattr(args, "event_loop", "auto"), stdio=isinstance(opts.listen, StdioAddress))
        return run_loop(_main(opts, args.grace, args), choice)
    except (AddressError, ProxyError, ValueError, EventLoopError) as exc:
        print(f"muxscope proxy: {exc}", file=sys.stderr)
        return 2
