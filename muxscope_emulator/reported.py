"""The sessions users reported to WezTerm, as emulator scenarios anyone can run.

Each :class:`ReportedScenario` names a wezterm issue and says what its reporter
did: what the mux server held (tabs, splits, scrollback, a stream of output,
a full-screen editor), what the user did in wezterm-gui (a drag, typing), and
over what link (an SSH domain's round trip and bandwidth, or a local unix
domain). ``muxscope emulate server|client --scenario NAME`` and ``muxscope demo
--scenario NAME`` build their options from here, so server, client and link
always agree on one session; ``--quick`` picks the short variant the tests run.

Each scenario names the features (:data:`FEATURES`) it needs: splits, a steady
stream in one pane, the editor, local echo. They were built alongside this
registry; :meth:`ReportedScenario.missing` says if an install lacks one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from muxscope_emulator import scenarios
from muxscope_emulator.clientoptions import ClientOptions
from muxscope_emulator.server import ServerOptions

ISSUES = "https://github.com/wezterm/wezterm/issues/"


@dataclass(frozen=True)
class Link:
    """The link between wezterm-gui and the mux server (the demo shapes the proxy's upstream side so)."""

    #: "ssh", "tls" or "unix": which kind of domain the reporter used
    domain: str
    rtt: str
    bandwidth: str


@dataclass(frozen=True)
class ServerSpec:
    """What the mux server holds when the client attaches, and what it does meanwhile."""

    panes: int = 1
    rows: int = 40
    cols: int = 120
    scrollback: int = 2000
    prefill_rows: int | None = None
    content: str = "mixed"
    #: "tabs" (``panes`` tabs of one pane) or "split" (each of those tabs split in two side by side)
    layout: str = "tabs"
    #: lines per second printed in ``stream_pane`` (MAX_RATE: as fast as it can), from ``stream_delay_s`` on
    stream_lines_per_s: float = 0.0
    stream_pane: int = 0
    stream_delay_s: float = 0.0
    #: the program in every pane: "shell", or "editor" (a full-screen editor on the alternate screen)
    app: str = "shell"


@dataclass(frozen=True)
class ClientSpec:
    """What the user does in wezterm-gui: the runner (scenarios.RUNNERS) and its pacing."""

    runner: str
    rows: int = 40
    cols: int = 120
    resizes: int = 20
    drag_seconds: float = 1.0
    drag: str = "shrink"
    commands: tuple[str, ...] = ("ls -la", "echo hello", "git status")
    key_interval: float = 0.08
    scroll_pages: int = 3
    timeout: float = 15.0
    #: ``local_echo_threshold_ms``: 100 on SSH and TLS domains, off (None) on unix domains
    local_echo_ms: int | None = None


@dataclass(frozen=True)
class Variant:
    server: ServerSpec
    client: ClientSpec


@dataclass(frozen=True)
class ReportedScenario:
    """One reported session: the issue, the link, and a full and a quick variant of server and client."""

    name: str
    url: str
    title: str
    description: str
    link: Link
    full: Variant
    #: the same session made short enough for the tests (less scrollback, a shorter drag)
    quick: Variant
    #: the features (:data:`FEATURES`) it needs to be the session reported
    needs: frozenset[str] = field(default_factory=frozenset)

    def variant(self, quick: bool = False) -> Variant:
        return self.quick if quick else self.full

    def missing(self) -> list[str]:
        """The needed features the emulator does not have (yet)."""
        return sorted(f for f in self.needs if not FEATURES[f]())


def _has(cls: type, name: str) -> bool:
    return any(f.name == name for f in fields(cls))


#: feature -> is it there? (the features other branches build; ``needs`` names them)
FEATURES: dict[str, Callable[[], bool]] = {
    "splits": lambda: _has(ServerOptions, "layout"),
    "divider-drag": lambda: "divider-drag" in scenarios.RUNNERS,
    "stream": lambda: _has(ServerOptions, "stream"),
    "editor": lambda: _has(ServerOptions, "app"),
    "local-echo": lambda: _has(ClientOptions, "local_echo_ms"),
    "gui-order": lambda: _has(ClientOptions, "gui_order"),
}

#: the streams start this long after the server listens: once the client has attached (a push for a pane
#: it has not listed yet waits for a resync; the sessions reported are about what follows)
STREAM_DELAY_S = 2.0
#: "as fast as it can" (the server's ``--stream-lines-per-s max``)
MAX_RATE = float("inf")
#: what the user types into the editor (#2503)
EDITED = ("def render(pane):", "    rows = pane.lines()", "    return rows")
_SSH = Link("ssh", "40ms", "20mbit")
_UNIX = Link("unix", "0ms", "10gbit")

REGISTRY: dict[str, ReportedScenario] = {s.name: s for s in (
    ReportedScenario(
        "issue-7331", ISSUES + "7331", "Resizing of remote (mux-server) sessions very sluggish",
        "SSH domain; several tabs each holding `find /usr` output in their scrollback, output still "
        "streaming in one; a window corner dragged continuously for 10 s.",
        _SSH,
        Variant(ServerSpec(panes=3, scrollback=10_000, prefill_rows=10_000, content="find",
                           stream_lines_per_s=50, stream_pane=0, stream_delay_s=STREAM_DELAY_S),
                ClientSpec("stream-resize", resizes=200, drag_seconds=10.0, timeout=30.0, local_echo_ms=100)),
        Variant(ServerSpec(panes=3, scrollback=1000, prefill_rows=1000, content="find",
                           stream_lines_per_s=20, stream_pane=0, stream_delay_s=STREAM_DELAY_S),
                ClientSpec("stream-resize", resizes=20, drag_seconds=1.5, local_echo_ms=100)),
        frozenset({"stream", "local-echo"}),
    ),
    ReportedScenario(
        "issue-5142", ISSUES + "5142", "resizing in mux domains has issues",
        "(Slow) SSH domain; a tab split in two, the divider between them dragged for 5 s.",
        _SSH,
        Variant(ServerSpec(layout="split"),
                ClientSpec("divider-drag", resizes=100, drag_seconds=5.0, local_echo_ms=100)),
        Variant(ServerSpec(layout="split", scrollback=500),
                ClientSpec("divider-drag", resizes=15, drag_seconds=1.0, local_echo_ms=100)),
        frozenset({"splits", "divider-drag", "local-echo"}),
    ),
    ReportedScenario(
        "issue-3694", ISSUES + "3694",
        "Resizing performance issue and sometimes incorrect dimension calculation with MUX server",
        "SSH/TLS domain; a steady text stream (200 lines/s) printing in the pane while the window is resized.",
        Link("tls", "40ms", "20mbit"),
        Variant(ServerSpec(stream_lines_per_s=200, stream_pane=0, stream_delay_s=STREAM_DELAY_S),
                ClientSpec("stream-resize", resizes=60, drag_seconds=4.0, drag="grow", local_echo_ms=100)),
        Variant(ServerSpec(scrollback=500, stream_lines_per_s=200, stream_pane=0, stream_delay_s=STREAM_DELAY_S),
                ClientSpec("stream-resize", resizes=12, drag_seconds=1.0, drag="grow", local_echo_ms=100)),
        frozenset({"stream", "local-echo"}),
    ),
    ReportedScenario(
        "issue-2048", ISSUES + "2048", "Multiplexer lock-up / slowdown when running programs with large stdout",
        "Unix domain; one pane (a background tab) printing as fast as it can while the user types in another.",
        _UNIX,
        Variant(ServerSpec(panes=2, stream_lines_per_s=MAX_RATE, stream_pane=1, stream_delay_s=STREAM_DELAY_S),
                ClientSpec("type-while-streaming", commands=("ls -la", "echo hello", "git status", "ls"))),
        Variant(ServerSpec(panes=2, scrollback=500, stream_lines_per_s=1000, stream_pane=1,
                           stream_delay_s=STREAM_DELAY_S),
                ClientSpec("type-while-streaming", commands=("ls", "echo hi"))),
        frozenset({"stream"}),
    ),
    ReportedScenario(
        "issue-2503", ISSUES + "2503", "sluggish experience in neovim using multiplexing",
        "Unix domain; a full-screen editor with a colour scheme on the alternate screen: typing, scrolling "
        "(j and k held down), one resize.",
        _UNIX,
        Variant(ServerSpec(app="editor"), ClientSpec("editor", commands=EDITED, scroll_pages=3)),
        Variant(ServerSpec(app="editor", rows=24, cols=80, scrollback=500),
                ClientSpec("editor", rows=24, cols=80, commands=("x = fetch(row)",), scroll_pages=1)),
        frozenset({"editor"}),
    ),
)}
NAMES = tuple(REGISTRY)


def _stream(rate: float) -> str | None:
    """``ServerOptions.stream`` (``--stream-lines-per-s``): lines per second, ``max``, or None (no stream)."""
    if not rate:
        return None
    return "max" if rate == MAX_RATE else f"{rate:g}"


def get(name: str) -> ReportedScenario:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(NAMES)}") from None


def server_options(name: str, quick: bool = False, **overrides: Any) -> ServerOptions:
    """The emulated server's options for scenario ``name`` (``overrides``: seed, codec_version)."""
    s = get(name).variant(quick).server
    kw: dict[str, Any] = dict(panes=s.panes, rows=s.rows, cols=s.cols, scrollback=s.scrollback,
                              prefill_rows=s.prefill_rows, content=s.content, app=s.app,
                              stream=_stream(s.stream_lines_per_s), stream_pane=s.stream_pane,
                              stream_delay_s=s.stream_delay_s, layout=s.layout)
    kw.update(overrides)
    return ServerOptions(**kw)


def runner(name: str, quick: bool = False) -> str:
    """The client's runner (scenarios.RUNNERS)."""
    return get(name).variant(quick).client.runner


def client_options(name: str, quick: bool = False, gui_order: str = "queue", **overrides: Any) -> ClientOptions:
    """The emulated client's options for scenario ``name`` (``overrides``: policy, seed, wezterm_log, ...)."""
    c = get(name).variant(quick).client
    kw: dict[str, Any] = dict(scenario=runner(name, quick), rows=c.rows, cols=c.cols, resizes=c.resizes,
                              drag_seconds=c.drag_seconds, drag=c.drag, commands=c.commands,
                              key_interval=c.key_interval, scroll_pages=c.scroll_pages, timeout=c.timeout,
                              local_echo_ms=c.local_echo_ms, gui_order=gui_order)
    kw.update(overrides)
    return ClientOptions(**kw)
