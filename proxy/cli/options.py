"""Options shared by several commands, defined once so their names, choices and help agree."""

from __future__ import annotations

import argparse

from proxy.analysis.bursts import DEFAULT_BURST_GAP_S
from proxy.analysis.fetchlimit import DEFAULT_PREFETCHES_PER_SECOND
from proxy.analysis.vocabulary import CLIENT_MODELS, ClientModel

CLIENT_MODEL_HELP = (
    "the client fetch logic the analysis mirrors: wezterm (default: wezterm-client as released), "
    "selective (a client that on a resize stales only the rows a rewrap can alter, as the emulator's "
    "--policy selective) or coalesce (a client that never asks again for a row in flight, as the "
    "emulator's --policy coalesce)"
)


def add_client_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--client-model`` and ``--prefetch-rate``, for every command that runs the analysis."""
    parser.add_argument("--client-model", choices=[str(m) for m in CLIENT_MODELS], default=str(ClientModel.WEZTERM),
                        help=CLIENT_MODEL_HELP)
    parser.add_argument("--prefetch-rate", type=_rate, default=DEFAULT_PREFETCHES_PER_SECOND, metavar="N",
                        help="the client's ratelimit_mux_line_prefetches_per_second: pushes over it per second do "
                        f"not prefetch, their rows go stale (default {DEFAULT_PREFETCHES_PER_SECOND}, WezTerm's; "
                        "0: no limit)")


def _rate(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of prefetches per second, 0 for no limit")
    return n


LOCAL_ECHO_HELP = (
    "predictive local echo, as wezterm-client does it over a slow link: auto (default: on when the GUI reaches "
    "the proxy as an SSH or TLS domain, whose local_echo_threshold_ms defaults to 100, off for unix; on a "
    "capture, what the proxy recorded), on (100 ms), off, or the client's local_echo_threshold_ms in ms"
)


def local_echo_choice(text: str) -> str:
    """``auto``, ``on``, ``off`` or a whole number of milliseconds (0: off)."""
    if text in ("auto", "on", "off") or (text.isdigit() and len(text) < 7):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, on, off or milliseconds, not {text!r}")


def add_local_echo_argument(parser: argparse.ArgumentParser) -> None:
    """``--local-echo``, for every command that runs the analysis."""
    parser.add_argument("--local-echo", type=local_echo_choice, default="auto", metavar="{auto,on,off,MS}",
                        help=LOCAL_ECHO_HELP)


def add_burst_gap_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--burst-gap", type=float, default=DEFAULT_BURST_GAP_S,
                        help=f"Resize PDUs closer than this many seconds form one burst "
                        f"(default {DEFAULT_BURST_GAP_S})")
