"""What the emulated wezterm-gui is asked to do: its options, and the version it speaks.

Kept apart from :mod:`.client` so the CLI and the tests can build and check
options (scenario names, the ``--policy`` spec) without the client's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muxscope_emulator import scenarios
from muxscope_emulator.policy import Policy

#: ``codec/src/lib.rs: CODEC_VERSION``
CODEC_VERSION = 44


class IncompatibleVersion(Exception):
    """``client.rs: verify_version_compat``: the server speaks another codec version."""


@dataclass
class ClientOptions:
    scenario: str = "idle"
    resizes: int = 20
    drag_seconds: float = 1.0
    #: "shrink" or "grow": which way the window corner is dragged
    drag: str = "shrink"
    policy: Policy | str = "wezterm"
    #: initial GUI window size in cells (the window grows to fit the server's tabs)
    rows: int = 24
    cols: int = 80
    #: seconds to wait for the screen to settle (after attach, and after the scenario)
    timeout: float = 10.0
    #: ``max_fps``: paints at most this often (only when the window was invalidated)
    fps: float = 60.0
    #: the GUI thread's order for a reply and a push both waiting (:mod:`.guiqueue`)
    gui_order: str = "queue"
    #: what a paint costs per row drawn, in ms (an estimate, :mod:`.guiqueue`)
    paint_row_ms: float = 0.15
    scrollback_lines: int = 3500
    #: write WezTerm's ``WEZTERM_LOG=wezterm_client=trace`` lines here (``muxscope check-log`` reads them)
    wezterm_log: str | None = None
    prefetch_rate: int = 50
    codec_version: int = CODEC_VERSION
    seed: int = 0
    cell_width: int = 8
    cell_height: int = 16
    dpi: int = 96
    commands: tuple[str, ...] = ("ls -la", "echo hello", "git status")
    key_interval: float = 0.08
    command_pause: float = 0.3
    #: "keys" (SendKeyDown, as wezterm-gui types) or "write" (WriteToPane, a PaneWriter)
    typing_via: str = "keys"
    #: ``local_echo_threshold_ms`` of the client domain (None: off, as for unix domains; WezTerm's
    #: default for SSH and TLS domains is 100): predictive local echo (:mod:`.prediction`)
    local_echo_ms: int | None = None
    #: for a tls:// address: the tls_clients entry (proxy.tls.contexts.TlsUpstreamOptions)
    tls: Any = None
    scroll_pages: int = 3
    page_interval: float = 0.2
    idle_seconds: float = 0.5
    #: ``zoom``: how long the pane stays zoomed before it is unzoomed
    zoom_seconds: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.policy, str):
            self.policy = Policy.parse(self.policy)
        if self.scenario not in scenarios.SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; expected one of {scenarios.SCENARIOS}")
