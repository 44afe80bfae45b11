"""Which event loop runs the relay: uvloop when it is installed (``pip install muxscope[fast]``), else asyncio's.

The relay is one event loop moving bytes between sockets, so the loop's own cost per read
and write is most of what the proxy adds to a round trip; uvloop's (libuv, in C) is lower
than asyncio's selector loop. It is optional: nothing else changes with it, and
``--event-loop asyncio`` (or ``MUXSCOPE_NO_UVLOOP=1``) keeps the standard one, e.g. to tell a
suspected uvloop problem from one of muxscope's.

``--listen stdio`` always runs on asyncio: its pipes are the terminal's (or ssh's), and
asyncio's pipe transports are the ones its half-close handling was written and tested against.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")
NO_UVLOOP_ENV = "MUXSCOPE_NO_UVLOOP"


class LoopChoice(Enum):
    AUTO = "auto"
    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


class EventLoopError(ValueError):
    """``--event-loop uvloop`` asked for, and uvloop is not installed."""


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def resolve(choice: LoopChoice | str, *, stdio: bool = False, env: dict[str, str] | None = None) -> LoopChoice:
    """The loop that will run: UVLOOP or ASYNCIO (never AUTO). AUTO takes uvloop when it is importable,
    not switched off by ``MUXSCOPE_NO_UVLOOP`` and the listener is not stdio."""
    choice = LoopChoice(choice)
    env = os.environ if env is None else env
    if choice is LoopChoice.ASYNCIO:
        return choice
    if choice is LoopChoice.UVLOOP:
        if not uvloop_available():
            raise EventLoopError("--event-loop uvloop: uvloop is not installed (pip install 'muxscope[fast]')")
        return LoopChoice.ASYNCIO if stdio else choice
    if stdio or env.get(NO_UVLOOP_ENV, "") not in ("", "0") or not uvloop_available():
        return LoopChoice.ASYNCIO
    return LoopChoice.UVLOOP


def loop_factory(choice: LoopChoice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What :class:`asyncio.Runner` builds the loop with (None: asyncio's default)."""
    if choice is LoopChoice.UVLOOP:
        import uvloop

        return uvloop.new_event_loop
    return None


def run(main: Coroutine[Any, Any, T], choice: LoopChoice) -> T:
    """``asyncio.run(main)`` on the chosen loop (``choice`` as :func:`resolve` returned it)."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """'uvloop' or 'asyncio': what the running loop is (for the log and the tests)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
