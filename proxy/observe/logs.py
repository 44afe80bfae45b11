"""structlog configuration: one event per line, console or JSON, to stderr or a file.

Log events are the proxy's primary output for humans and scripts alike, so
they are key/value structured and stable in name. Terminal content (line text,
keystrokes, pastes, clipboard, titles) is never logged unless ``--log-content``
is given; callers check :func:`content_allowed` before adding any.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import IO, Any

import structlog

from proxy.files import open_log

_state: dict[str, Any] = {"content": False, "file": None}


class _LockedFile:
    """A text file shared by the event loop and the analysis thread: one line at a time."""

    def __init__(self, f: IO[str]) -> None:
        self._f = f
        self._lock = threading.Lock()

    def write(self, s: str) -> None:
        with self._lock:
            self._f.write(s)

    def flush(self) -> None:
        with self._lock:
            self._f.flush()


def configure(
    fmt: str = "console",
    level: str = "info",
    file: str | None = None,
    log_content: bool = False,
    stream: IO[str] | None = None,
) -> None:
    """Set up structlog for the whole process (CLI entry points call this once)."""
    _state["content"] = log_content
    if _state["file"] is not None:
        with contextlib.suppress(Exception):
            _state["file"].close()
        _state["file"] = None
    if file:
        f: IO[str] = open_log(file)  # lives for the process; OutputError (one line) when it cannot be opened
        _state["file"] = f
    else:
        f = stream or sys.stderr
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=use_colour(f) and file is None, sort_keys=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(_LockedFile(f)),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def use_colour(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set to anything (no-color.org)."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


def add_arguments(p: Any) -> None:
    """The logging options every long-running command shares (proxy, replay)."""
    p.add_argument("--log-format", choices=("console", "json"), default="console")
    p.add_argument("--log-file", default=None, metavar="FILE",
                   help="append log events to FILE instead of stderr (created 0600; its directory must exist)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                   help="debug adds one event per PDU")
    p.add_argument("--log-content", action="store_true",
                   help="allow terminal content (text, keys, pastes, titles) in logs; off by default")


def configure_from_args(args: Any) -> None:
    configure(args.log_format, args.log_level, args.log_file, args.log_content)


def content_allowed() -> bool:
    return bool(_state["content"])


def get_logger(**bind: Any) -> Any:
    return structlog.get_logger("muxscope").bind(**bind)


def flush() -> None:
    f = _state["file"]
    if f is not None:
        f.flush()
    else:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
