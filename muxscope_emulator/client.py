"""The emulated wezterm-gui mux client: ground truth for muxscope's over-fetch analysis.

No wezterm binary exists where muxscope is tested, so this client reproduces
what wezterm-gui + wezterm-client put on the wire while fetching lines
(docs/wezterm-behaviour.md lists each behaviour with its line upstream, and
the deviations):

* attach (``wezterm-client/src/domain.rs: ClientDomain::attach``):
  GetCodecVersion, SetClientId, ListPanes, one SetPalette per new pane, then the
  GUI window adopts the tabs (``TermWindow`` on ``TabAddedToWindow``);
* pushes (``client.rs: process_unilateral``, ``clientpane.rs: process_unilateral``);
* a 60 fps paint loop (``wezterm-gui/src/termwindow/render/pane.rs: paint_pane``)
  that polls and asks for the viewport rows, fetching what is missing or stale
  (WezTerm paints when the window is invalidated, not at a fixed rate: a deviation);
* the per-pane state machine in :mod:`.clientpane` / :mod:`.linecache`.

While doing so it records what the wire alone cannot show (:mod:`.truth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import itertools
import os
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from codec import Pdu
from codec.pdu import LINE_FIELDS
from codec.wire.varbincode import Schema, Struct
from muxscope_emulator import scenarios
from muxscope_emulator.clientpane import ClientPane, FetchBatch, Policy
from muxscope_emulator.linecache import lines_from_summary
from muxscope_emulator.muxconn import ConnectionLost, MuxConnection, Reply, RpcError
from muxscope_emulator.truth import Truth
from muxscope_emulator.wezlog import CLIENT, PaneLog, WezLog
from proxy.relay.endpoints import TcpAddress, UnixAddress

#: ``codec/src/lib.rs: CODEC_VERSION``
CODEC_VERSION = 44
#: ``renderable.rs: IMAGE_LRU``
IMAGE_LRU_SIZE = 128
#: ``mux/src/pane.rs: impl_get_logical_lines_via_get_lines``
MAX_LOGICAL_LINE_LEN = 1024


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
    fps: float = 60.0
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
    #: for a tls:// address: the tls_clients entry (proxy.tls.contexts.TlsUpstreamOptions)
    tls: Any = None
    scroll_pages: int = 3
    page_interval: float = 0.2
    idle_seconds: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.policy, str):
            self.policy = Policy.parse(self.policy)
        if self.scenario not in scenarios.SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; expected one of {scenarios.SCENARIOS}")


@dataclass
class ClientReport:
    scenario: str
    policy: str
    #: requests sent, by PDU name
    rpcs: dict[str, int]
    rows_fetched: int
    rows_discarded: int
    #: from the last resize/action to the settled screen; None if it never settled
    settle_time_s: float | None
    settled: bool
    #: viewport text rows per remote pane id, after settling
    screen: dict[int, list[str]]
    #: viewport {stable_row: fingerprint hex} per remote pane id
    screen_fingerprints: dict[int, dict[int, str]]
    truth: dict[str, Any]
    rows_fetched_scenario: int = 0
    pushes: int = 0
    resizes_sent: int = 0
    max_inflight_per_row: int = 0
    #: rows that waited for a fetch already in flight (``--policy coalesce``)
    coalesced_rows: int = 0
    #: rows asked for again while a still-valid fetch for them was in flight or had its reply
    #: dropped (what coalescing saves)
    refetched_in_flight: int = 0
    #: rows fetched because of a resize that the selective policy would not have staled (what it saves)
    selective_saved_rows: int = 0
    throttled_pushes: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "rpcs": dict(sorted(self.rpcs.items())),
            "rows_fetched": self.rows_fetched,
            "rows_fetched_scenario": self.rows_fetched_scenario,
            "rows_discarded": self.rows_discarded,
            "settle_time_s": self.settle_time_s,
            "settled": self.settled,
            "pushes": self.pushes,
            "resizes_sent": self.resizes_sent,
            "max_inflight_per_row": self.max_inflight_per_row,
            "coalesced_rows": self.coalesced_rows,
            "refetched_in_flight": self.refetched_in_flight,
            "selective_saved_rows": self.selective_saved_rows,
            "throttled_pushes": self.throttled_pushes,
            "screen": {str(k): v for k, v in self.screen.items()},
            "errors": self.errors,
            "truth": self.truth,
        }


# ---------------------------------------------------------------------------
# pane trees (mux/src/tab.rs: PaneNode)


def leaves(node: Any) -> Iterator[dict[str, Any]]:
    """The PaneEntry of every Leaf, left to right."""
    if not isinstance(node, dict):
        return
    if "Leaf" in node:
        yield node["Leaf"]
    elif "Split" in node:
        yield from leaves(node["Split"]["left"])
        yield from leaves(node["Split"]["right"])


def root_size(node: Any) -> dict[str, int] | None:
    """``PaneNode::root_size``: Leaf -> its size; Split -> the sum along the split; Empty -> None."""
    if not isinstance(node, dict):
        return None
    if "Leaf" in node:
        return dict(node["Leaf"]["size"])
    split = node["Split"]["node"]
    first, second = split["first"], split["second"]
    size = dict(first)
    if split["direction"] == "Horizontal":
        size["cols"] = first["cols"] + second["cols"] + 1
        size["pixel_width"] = first["pixel_width"] + second["pixel_width"]
    else:
        size["rows"] = first["rows"] + second["rows"] + 1
        size["pixel_height"] = first["pixel_height"] + second["pixel_height"]
    return size


def layout(node: Any, size: Mapping[str, int], cell: tuple[int, int]) -> list[tuple[int, dict[str, int]]]:
    """``Tab::resize`` -> ``apply_sizes_from_splits``: each leaf's size within ``size``.

    Splits keep their proportions (the real code adjusts split nodes by the
    delta and clamps to a minimum; close enough for fetch traffic).
    """
    if not isinstance(node, dict) or "Empty" in node:
        return []
    if "Leaf" in node:
        return [(node["Leaf"]["pane_id"], dict(size))]
    split = node["Split"]
    spec = split["node"]
    axis = "cols" if spec["direction"] == "Horizontal" else "rows"
    total = max(spec["first"][axis] + spec["second"][axis], 1)
    avail = max(size[axis] - 1, 2)
    first_n = min(max(1, round(spec["first"][axis] * avail / total)), avail - 1)
    sizes = []
    for n in (first_n, avail - first_n):
        s = dict(size)
        s[axis] = n
        s["pixel_width"], s["pixel_height"] = s["cols"] * cell[0], s["rows"] * cell[1]
        sizes.append(s)
    return layout(split["left"], sizes[0], cell) + layout(split["right"], sizes[1], cell)


def default_palette() -> dict[str, Any]:
    """``config.resolved_palette`` of a default config: the xterm 256-colour palette."""
    base16 = [
        (0, 0, 0), (204, 85, 85), (85, 204, 85), (205, 205, 85),
        (84, 85, 203), (204, 85, 204), (122, 202, 202), (204, 204, 204),
        (85, 85, 85), (255, 85, 85), (85, 255, 85), (255, 255, 85),
        (85, 85, 255), (255, 85, 255), (85, 255, 255), (255, 255, 255),
    ]  # fmt: skip
    colors = list(base16)
    steps = (0, 95, 135, 175, 215, 255)
    colors += [(steps[r], steps[g], steps[b]) for r in range(6) for g in range(6) for b in range(6)]
    colors += [(8 + 10 * i,) * 3 for i in range(24)]

    def rgba(c: tuple[int, ...]) -> tuple[float, float, float, float]:
        return (c[0] / 255, c[1] / 255, c[2] / 255, 1.0)

    fg, bg = rgba((178, 178, 178)), rgba((0, 0, 0))
    return {
        "colors": [rgba(c) for c in colors],
        "foreground": fg, "background": bg,
        "cursor_fg": bg, "cursor_bg": rgba((82, 173, 112)), "cursor_border": rgba((82, 173, 112)),
        "selection_fg": bg, "selection_bg": rgba((255, 250, 205)),
        "scrollbar_thumb": rgba((34, 34, 34)), "split": rgba((68, 68, 68)),
    }  # fmt: skip


_client_ids = itertools.count(1)


class EmulatedClient:
    """One wezterm-gui process attached to a mux server through a ClientDomain."""

    def __init__(self, options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions()
        assert isinstance(self.options.policy, Policy)
        self.policy: Policy = self.options.policy
        self.rng = random.Random(self.options.seed)
        self.clock = time.monotonic
        self.conn: MuxConnection | None = None
        self.truth = Truth()
        self.panes: dict[int, ClientPane] = {}
        #: remote tab id -> {"root": PaneNode, "window_id": int}
        self.tabs: dict[int, dict[str, Any]] = {}
        #: remote window id -> remote tab ids in order (the GUI shows the first)
        self.windows: dict[int, list[int]] = {}
        self.window_size: dict[str, int] | None = None
        self.image_lru: OrderedDict[bytes, bool] = OrderedDict()
        self.errors: list[str] = []
        self.last_action = self.clock()
        #: the size of each pane's last Resize: settled once a push shows it
        self.last_sent_size: dict[int, dict[str, int]] = {}
        self.rows_fetched = 0
        self.rows_discarded = 0
        self.resizes_sent = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pushes: asyncio.Queue[Pdu] = asyncio.Queue()
        self._push_busy = False
        #: id(push) -> (the push, kept so its id stays its own; its index in truth.pushes), for
        #: pushes queued before they take effect
        self._push_index: dict[int, tuple[Pdu, int]] = {}
        #: pane -> serial of the last Resize we sent (a ListPanes answered before it is stale)
        self.last_resize_serial: dict[int, int] = {}
        self._debounce: asyncio.TimerHandle | None = None
        #: the WezTerm-format log (``wezterm_log``), open while :meth:`run` runs
        self.wezlog: WezLog | None = None
        #: ``mux::pane::alloc_pane_id``: the GUI's own ids for the panes it mirrors
        self._local_pane_ids = itertools.count(0)

    # -- plumbing -------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """``promise::spawn::spawn(..).detach()``: fire and forget, errors recorded."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionLost):
                self.errors.append(f"{type(exc).__name__}: {exc}")

    async def _rpc(self, name: str, body: Any, expect: str | tuple[str, ...]) -> Reply:
        assert self.conn is not None
        reply = await self.conn.request(name, body, expect)
        rows = 0
        if reply.pdu.name == "GetLinesResponse":
            rows = len(reply.pdu.body["lines"]["lines"])
        self.truth.rpc(reply.serial, name, reply.latency_ms, rows, reply.sent_ns, reply.received_ns)
        return reply

    def _gui_size(self, rows: int, cols: int) -> dict[str, int]:
        """``TermWindow::apply_dimensions``: cells from pixels, pixels = cells * cell size."""
        o = self.options
        return {
            "rows": rows, "cols": cols, "pixel_width": cols * o.cell_width,
            "pixel_height": rows * o.cell_height, "dpi": o.dpi,
        }  # fmt: skip

    # -- attach -----------------------------------------------------------------
    async def _handshake(self) -> None:
        """``Client::verify_version_compat`` then ``ClientDomain::attach``."""
        reply = await self._rpc("GetCodecVersion", {}, "GetCodecVersionResponse")
        vers = reply.pdu.body["codec_vers"]
        if vers != self.options.codec_version:
            raise IncompatibleVersion(
                f"server codec version {vers} ({reply.pdu.body['version_string']}) != "
                f"client codec version {self.options.codec_version}"
            )
        assert self.conn is not None
        self.conn.use_version(vers)
        client_id = {
            "hostname": socket.gethostname(), "username": _username(), "pid": os.getpid(),
            "epoch": int(time.time()), "id": next(_client_ids), "ssh_auth_sock": None,
        }  # fmt: skip
        schema = self.conn.version.schema("SetClientId")
        body = fit_to_schema(schema, {"client_id": client_id, "is_proxy": False})
        await self._rpc("SetClientId", body, "UnitResponse")
        reply = await self._rpc("ListPanes", {}, "ListPanesResponse")
        self.process_pane_list(reply.pdu.body, "tab_resized", reply.serial)
        self._adopt_tabs()

    def _adopt_tabs(self) -> None:
        """The GUI's ``TabAddedToWindow`` handling: the window grows to fit its tab, then ``tab.resize``."""
        rows, cols = self.options.rows, self.options.cols
        for tab in self.tabs.values():
            size = root_size(tab["root"])
            if size is not None:
                rows, cols = max(rows, size["rows"]), max(cols, size["cols"])
        self.window_size = self._gui_size(rows, cols)
        for tab_id in list(self.tabs):
            self._tab_resize(tab_id, self.window_size, "resize")

    async def resync(self) -> None:
        """``ClientDomain::resync``: ListPanes + ``process_pane_list`` (TabResized, TabAddedToWindow)."""
        reply = await self._rpc("ListPanes", {}, "ListPanesResponse")
        self.process_pane_list(reply.pdu.body, "tab_resized", reply.serial)

    def process_pane_list(self, resp: Mapping[str, Any], cause: str, listing_serial: int = 0) -> None:
        """``ClientDomain::process_pane_list`` + ``TabInner::sync_with_pane_tree``.

        Known panes are kept, new ones created (each advising the server of our
        palette with SetPalette), then the tab is resized to the server's split
        sizes: ``ClientPane::resize`` sends Resize whenever those differ from
        the local dims (e.g. a newer resize is in flight).
        """
        seen: set[int] = set()
        for tabroot, _title in zip(resp["tabs"], resp["tab_titles"], strict=False):
            if root_size(tabroot) is None:
                continue
            entries = list(leaves(tabroot))
            window_id, tab_id = entries[0]["window_id"], entries[0]["tab_id"]
            self.tabs[tab_id] = {"root": tabroot, "window_id": window_id}
            tabs = self.windows.setdefault(window_id, [])
            if tab_id not in tabs:
                tabs.append(tab_id)
            for entry in entries:
                seen.add(entry["pane_id"])
                if entry["pane_id"] not in self.panes:
                    self._new_pane(entry)
            zoomed = [e for e in entries if e["is_zoomed_pane"]]
            for entry in zoomed or entries:
                pane = self.panes[entry["pane_id"]]
                pane.zoomed = entry["is_zoomed_pane"]
                if listing_serial and listing_serial < self.last_resize_serial.get(pane.remote_pane_id, 0):
                    # Deviation: the listing predates our own later Resize, so its
                    # size is stale. WezTerm applies it anyway and can fight its own
                    # newer Resize (TabResized -> ListPanes -> Resize ...); with
                    # Resize written synchronously that loop never settles here.
                    continue
                pane.resize(entry["size"], cause)
        for pane_id in [p for p in self.panes if p not in seen]:
            self.panes.pop(pane_id).dead = True

    def _new_pane(self, entry: Mapping[str, Any]) -> ClientPane:
        """``ClientPane::new``: initial dims from the entry, then SetPalette (fire and forget)."""
        o = self.options
        pane = ClientPane(
            entry["pane_id"], entry["tab_id"], entry["size"], entry["title"], self,
            scrollback_lines=o.scrollback_lines, prefetch_rate=o.prefetch_rate,
            policy=self.policy, clock=self.clock,
        )  # fmt: skip
        self.panes[entry["pane_id"]] = pane
        if self.wezlog is not None:
            pane.wezlog = PaneLog(self.wezlog, next(self._local_pane_ids), entry["pane_id"])
        body = {"pane_id": entry["pane_id"], "palette": default_palette()}
        self._send_now("SetPalette", body, "UnitResponse")
        return pane

    def _tab_resize(self, tab_id: int, size: Mapping[str, int], cause: str) -> None:
        """``Tab::resize``: the zoomed pane gets everything, else the splits share it."""
        tab = self.tabs[tab_id]
        entries = list(leaves(tab["root"]))
        zoomed = [e for e in entries if e["is_zoomed_pane"]]
        cell = (self.options.cell_width, self.options.cell_height)
        sizes = [(zoomed[0]["pane_id"], dict(size))] if zoomed else layout(tab["root"], size, cell)
        for pane_id, leaf_size in sizes:
            pane = self.panes.get(pane_id)
            if pane is not None:
                pane.resize(leaf_size, cause)

    # -- PaneHooks ------------------------------------------------------------------
    def fetch_lines(self, pane: ClientPane, batch: FetchBatch) -> None:
        """``schedule_fetch_lines``: the GetLines goes out in the same step that stamps the rows.

        (WezTerm sends it from the task it spawns, one main-thread turn later;
        sending at once keeps the fetch start and the request's departure one
        instant, which is what a wire observer can see.) The reply is applied
        synchronously when it arrives, in arrival order with pushes, unless it
        carries images to hydrate first.
        """
        assert self.conn is not None
        self.truth.request([r.cause for r in batch.rows.values()])
        body = {"pane_id": pane.remote_pane_id, "lines": [{"start": a, "end": b} for a, b in batch.ranges]}
        done: list[bool] = []

        def on_reply(reply: Reply) -> bool:
            body = reply.pdu.body
            if reply.pdu.name != "GetLinesResponse" or body["lines"].images:
                return False
            self.truth.rpc(reply.serial, "GetLines", reply.latency_ms, len(body["lines"].lines), reply.sent_ns,
                            reply.received_ns)
            self._apply_lines(pane, batch, reply)
            done.append(True)
            return True

        try:
            fut = self.conn.start("GetLines", body, on_reply)
        except ConnectionLost:
            pane.fetch_failed(batch)
            return
        self._spawn(self._get_lines(pane, batch, fut, done))

    async def _get_lines(self, pane: ClientPane, batch: FetchBatch, fut: asyncio.Future[Reply],
                         done: list[bool]) -> None:
        """``schedule_fetch_lines``' task: errors, and replies with images (``hydrate_lines`` first)."""
        assert self.conn is not None
        try:
            reply = await self.conn.finish("GetLines", fut, "GetLinesResponse")
            if done:
                return
            self.truth.rpc(reply.serial, "GetLines", reply.latency_ms, len(reply.pdu.body["lines"].lines),
                            reply.sent_ns, reply.received_ns)
            await self._hydrate(pane, self._full_lines(reply.pdu))
        except (RpcError, ConnectionLost) as exc:
            pane.fetch_failed(batch, str(exc))
            raise
        self._apply_lines(pane, batch, reply)

    def _full_lines(self, pdu: Pdu) -> Mapping[str, Any]:
        """The fully decoded SerializedLines of a line-bearing PDU (its images, to hydrate)."""
        assert self.conn is not None
        body, _ = self.conn.version.table[pdu.ident].decode(pdu.payload, 0)
        return body[LINE_FIELDS[pdu.name]]

    def _apply_lines(self, pane: ClientPane, batch: FetchBatch, reply: Reply) -> None:
        """``RenderableInner::apply_lines`` (Ok), recording each row's ground-truth outcome."""
        assert self.conn is not None
        lines = lines_from_summary(reply.pdu.body["lines"], self.conn.version)
        self.rows_fetched += len(lines)
        for row, outcome in pane.apply_fetched(batch, lines):
            self.truth.outcome(pane.remote_pane_id, outcome)
            fetched = batch.rows.get(row)
            cause = fetched.cause if fetched is not None else "unexplained"
            self.truth.detail.append((reply.pdu.serial, pane.remote_pane_id, row, outcome, cause))
            if outcome == "superseded":
                self.rows_discarded += 1

    async def _hydrate(self, pane: ClientPane, serialized: Mapping[str, Any]) -> None:
        """``renderable.rs: hydrate_lines``: one GetImageCell per image hash not in IMAGE_LRU."""
        requests: dict[bytes, dict[str, Any]] = {}
        for im in serialized["images"]:
            key = bytes(im["data_hash"])
            if key in self.image_lru:
                self.image_lru.move_to_end(key)
            else:
                requests.setdefault(key, {
                    "pane_id": pane.remote_pane_id, "line_idx": im["line_idx"],
                    "cell_idx": im["cell_idx"], "data_hash": im["data_hash"],
                })  # fmt: skip
        for key, req in requests.items():
            with contextlib.suppress(RpcError):
                reply = await self._rpc("GetImageCell", req, "GetImageCellResponse")
                if reply.pdu.body["data"] is not None:
                    self.image_lru[key] = True
                    while len(self.image_lru) > IMAGE_LRU_SIZE:
                        self.image_lru.popitem(last=False)

    def poll(self, pane: ClientPane) -> None:
        assert self.conn is not None
        try:
            fut = self.conn.start("GetPaneRenderChanges", {"pane_id": pane.remote_pane_id})
        except ConnectionLost:
            pane.poll_done(False)
            return
        self._spawn(self._poll(pane, fut))

    async def _poll(self, pane: ClientPane, fut: asyncio.Future[Reply]) -> None:
        """``RenderableInner::poll``'s task: GetPaneRenderChanges -> LivenessResponse."""
        assert self.conn is not None
        try:
            reply = await self.conn.finish("GetPaneRenderChanges", fut, "LivenessResponse")
            self.truth.rpc(reply.serial, "GetPaneRenderChanges", reply.latency_ms, 0, reply.sent_ns, reply.received_ns)
            alive = bool(reply.pdu.body["is_alive"])
        except RpcError:
            alive = True  # client.is_reconnectable for a unix/tcp domain
        except ConnectionLost:
            alive = False
        pane.poll_done(alive)

    def send_resize(self, pane: ClientPane, size: dict[str, int]) -> None:
        """``ClientPane::resize``' Resize, written in the step that made the cache stale."""
        self.resizes_sent += 1
        self.last_sent_size[pane.remote_pane_id] = size
        body = {"containing_tab_id": pane.remote_tab_id, "pane_id": pane.remote_pane_id, "size": size}
        assert self.conn is not None
        self.last_resize_serial[pane.remote_pane_id] = self.conn.next_serial
        self._send_now("Resize", body, "UnitResponse")

    def send_zoom(self, pane: ClientPane, zoomed: bool) -> None:
        body = {"containing_tab_id": pane.remote_tab_id, "pane_id": pane.remote_pane_id, "zoomed": zoomed}
        self._send_now("SetPaneZoomed", body, "UnitResponse")

    def _send_now(self, name: str, body: Any, expect: str) -> None:
        """Write a request in this very step (so the wire order is the client's order); await it in a task."""
        assert self.conn is not None
        try:
            fut = self.conn.start(name, body)
        except ConnectionLost as exc:
            self.errors.append(f"{name}: {exc}")
            return

        async def finish() -> None:
            assert self.conn is not None
            reply = await self.conn.finish(name, fut, expect)
            self.truth.rpc(reply.serial, name, reply.latency_ms, 0, reply.sent_ns, reply.received_ns)

        self._spawn(finish())

    # -- pushes ---------------------------------------------------------------------
    def _on_push(self, pdu: Pdu, t_ns: int) -> None:
        """Handle a push synchronously, in arrival order, when nothing is queued before it
        and it needs no round trip (images to hydrate, an unknown pane); else queue it.
        The truth notes when it took effect: now, or when a queued one is applied to its pane."""
        self.truth.pushes.append((pdu.name, t_ns))
        if self._pushes.empty() and not self._push_busy and self._push_sync(pdu):
            return
        self._push_index[id(pdu)] = (pdu, len(self.truth.pushes) - 1)
        self._pushes.put_nowait(pdu)

    def _push_sync(self, pdu: Pdu) -> bool:
        name, body = pdu.name, pdu.body
        if name in ("TabResized", "TabAddedToWindow"):
            self._log_resync(pdu)
            self._spawn(self.resync())
            return True
        if name in ("WindowWorkspaceChanged", "WindowTitleChanged", "TabTitleChanged", "RenameWorkspace"):
            return True
        pane = self.panes.get(body.get("pane_id")) if isinstance(body, dict) else None
        if pane is None:
            return False
        if name == "GetPaneRenderChangesResponse" and not body["bonus_lines"].images:
            assert self.conn is not None
            pane.apply_changes(body, lines_from_summary(body["bonus_lines"], self.conn.version))
            return True
        if name == "SetPalette":
            pane.on_set_palette(body["palette"])
            return True
        if name == "PaneRemoved":
            pane.dead = True
            return True
        return False

    def _log_resync(self, pdu: Pdu) -> None:
        """``client.rs:301``: ``resync due to {:?}`` of the Pdu (its fields in declaration order)."""
        if self.wezlog is not None:
            fields = ", ".join(f"{k}: {v}" for k, v in pdu.body.items())
            self.wezlog.trace(f"resync due to {pdu.name}({pdu.name} {{ {fields} }})", CLIENT)

    async def _push_loop(self) -> None:
        """``client.rs: process_unilateral`` in arrival order."""
        while True:
            pdu = await self._pushes.get()
            self._push_busy = True
            try:
                await self._process_push(pdu)
            except (RpcError, ConnectionLost) as exc:
                self.errors.append(f"push {pdu.name}: {exc}")
            finally:
                self._push_busy = False

    async def _process_push(self, pdu: Pdu) -> None:
        name, body = pdu.name, pdu.body
        if name in ("TabResized", "TabAddedToWindow"):
            self._log_resync(pdu)
            self._spawn(self.resync())
            return
        if name in ("WindowWorkspaceChanged", "WindowTitleChanged", "TabTitleChanged", "RenameWorkspace"):
            return
        pane_id = body.get("pane_id") if isinstance(body, dict) else None
        if name not in ("GetPaneRenderChangesResponse", "SetPalette", "NotifyAlert", "SetClipboard",
                        "PaneFocused", "PaneRemoved") or pane_id is None:
            self.errors.append(f"don't know how to handle push {name}")
            return
        if pane_id not in self.panes:
            self._spawn(self._push_after_resync(pdu))  # process_unilateral_inner_async
            return
        await self._pane_push(self.panes[pane_id], pdu)

    async def _push_after_resync(self, pdu: Pdu) -> None:
        await self.resync()
        pane = self.panes.get(pdu.body["pane_id"])
        if pane is not None:
            await self._pane_push(pane, pdu)

    async def _pane_push(self, pane: ClientPane, pdu: Pdu) -> None:
        """``ClientPane::process_unilateral``."""
        if pdu.name == "GetPaneRenderChangesResponse":
            bonus = pdu.body["bonus_lines"]
            if bonus.images:
                await self._hydrate(pane, self._full_lines(pdu))
            assert self.conn is not None
            self._applied(pdu)
            pane.apply_changes(pdu.body, lines_from_summary(bonus, self.conn.version))
        elif pdu.name == "SetPalette":
            self._applied(pdu)
            pane.on_set_palette(pdu.body["palette"])
        elif pdu.name == "PaneRemoved":
            pane.dead = True

    def _applied(self, pdu: Pdu) -> None:
        """A queued push takes effect now: the truth's time for it (requests sent before did not
        see it)."""
        queued = self._push_index.pop(id(pdu), None)
        if queued is not None:
            self.truth.pushes[queued[1]] = (pdu.name, time.monotonic_ns())

    # -- the GUI ----------------------------------------------------------------------
    def visible_panes(self) -> list[ClientPane]:
        """Panes the GUI paints: every pane of each window's shown tab (the zoomed one if zoomed)."""
        out = []
        for tab_ids in self.windows.values():
            if not tab_ids or tab_ids[0] not in self.tabs:
                continue
            entries = list(leaves(self.tabs[tab_ids[0]]["root"]))
            zoomed = [e for e in entries if e["is_zoomed_pane"]]
            for entry in zoomed or entries:
                pane = self.panes.get(entry["pane_id"])
                if pane is not None and not pane.dead:
                    out.append(pane)
        return out

    def focused_pane(self) -> ClientPane | None:
        panes = self.visible_panes()
        return panes[0] if panes else None

    def paint(self, pane: ClientPane) -> None:
        """``paint_pane``: poll via ``get_changed_since``, logical lines, then ``get_lines``."""
        start, end = pane.viewport()
        pane.get_changed_since(start, end, pane.seqno)
        start, end = pane.viewport()
        self._logical_lines(pane, start, end)
        pane.get_lines(start, end)

    def _logical_lines(self, pane: ClientPane, start: int, end: int) -> None:
        """``mux/src/pane.rs: impl_get_logical_lines_via_get_lines`` (``apply_hyperlinks``)."""
        phys = pane.get_lines(start, end)
        first = start
        back_len = 0
        while first > 0:
            (above,) = pane.get_lines(first - 1, first)
            if above is None or not above.wrapped or above.length + back_len > MAX_LOGICAL_LINE_LEN:
                break
            back_len += above.length
            first -= 1
            phys.insert(0, above)
        while phys:
            last = phys[-1]
            if last is None or not last.wrapped or last.length > MAX_LOGICAL_LINE_LEN:
                break
            nxt = first + len(phys)
            phys.extend(pane.get_lines(nxt, nxt + 1))

    async def _render_loop(self) -> None:
        period = 1.0 / self.options.fps
        next_frame = self.clock()
        while True:
            for pane in self.visible_panes():
                self.paint(pane)
            next_frame += period
            await asyncio.sleep(max(0.0, next_frame - self.clock()))

    # -- user actions ------------------------------------------------------------------
    def window_rows_cols(self) -> tuple[int, int]:
        size = self.window_size or self._gui_size(self.options.rows, self.options.cols)
        return size["rows"], size["cols"]

    def mark_action(self) -> None:
        self.last_action = self.clock()

    def gui_resize(self, rows: int, cols: int) -> None:
        """``TermWindow::resize`` -> every tab's ``resize`` (no debouncing in WezTerm)."""
        self.mark_action()
        self.window_size = self._gui_size(rows, cols)
        if self.policy.name == "debounce":
            if self._debounce is not None:
                self._debounce.cancel()
            loop = asyncio.get_running_loop()
            self._debounce = loop.call_later(self.policy.debounce_ms / 1000, self._apply_window_size)
        else:
            self._apply_window_size()

    def _apply_window_size(self) -> None:
        self._debounce = None
        assert self.window_size is not None
        for tab_id in list(self.tabs):
            self._tab_resize(tab_id, self.window_size, "resize")

    def key_down(self, ch: str) -> None:
        """``ClientPane::key_down`` (SendKeyDown, poll reset) or a ``PaneWriter`` write (WriteToPane)."""
        pane = self.focused_pane()
        if pane is None:
            return
        self.mark_action()
        if self.options.typing_via == "write":
            body: dict[str, Any] = {"pane_id": pane.remote_pane_id, "data": ch.encode()}
            self._send_now("WriteToPane", body, "UnitResponse")
            return
        pane.input_serial = int(time.time() * 1000)
        body = {
            "pane_id": pane.remote_pane_id,
            "event": {"key": {"Char": ch}, "modifiers": {"bits": 0}},
            "input_serial": pane.input_serial,
        }
        self._send_now("SendKeyDown", body, "UnitResponse")
        pane.update_last_send()

    def scroll_to(self, pane: ClientPane, top: int | None) -> None:
        """The GUI's viewport (``set_viewport``): None follows the bottom."""
        self.mark_action()
        pane.viewport_top = top

    # -- settling ------------------------------------------------------------------------
    BUSY_RPCS = ("GetLines", "Resize", "ListPanes", "SetPaneZoomed", "SetPalette", "GetImageCell")

    def settled(self) -> bool:
        """No fetch or resize round trip in flight, every viewport row held and current,
        and the server's last push shows the size of each pane's last Resize."""
        return not self.unsettled_reasons()

    def unsettled_reasons(self) -> list[str]:
        """What keeps :meth:`settled` false, in words (for the report of a run that timed out)."""
        assert self.conn is not None
        out = []
        if self._debounce is not None:
            out.append("a debounced fetch is pending")
        now = time.perf_counter_ns()
        for serial, (_, t_sent, name) in sorted(self.conn.pending.items()):
            if name in self.BUSY_RPCS:
                out.append(f"{name} serial {serial} unanswered for {(now - t_sent) / 1e9:.2f} s")
        for pane in self.visible_panes():
            rows = pane.unsettled_rows()
            if pane.inflight or rows:
                out.append(f"pane {pane.remote_pane_id}: {len(pane.inflight)} rows in flight, "
                           f"{len(rows)} viewport rows not current (first {rows[:5]})")
            sent = self.last_sent_size.get(pane.remote_pane_id)
            seen = pane.server_dims
            shown = None if seen is None else (seen["cols"], seen["viewport_rows"])
            if sent is not None and shown != (sent["cols"], sent["rows"]):
                out.append(f"pane {pane.remote_pane_id}: last Resize {(sent['cols'], sent['rows'])} "
                           f"but the last push shows {shown}")
        return out

    async def wait_settled(self, timeout: float) -> float | None:
        """Render on until :meth:`settled` (then the time since the last action) or ``timeout``."""
        deadline = self.clock() + timeout
        period = 1.0 / self.options.fps
        while self.clock() < deadline:
            if self.conn is not None and self.conn.closed is not None:
                raise ConnectionLost(str(self.conn.closed))
            if self.settled():
                return self.clock() - self.last_action
            await asyncio.sleep(period / 2)
        reasons = self.unsettled_reasons()
        if self.conn is not None and self.conn.decode_errors:
            reasons.append(f"{self.conn.decode_errors} PDUs from the server could not be decoded "
                           f"({'; '.join(self.conn.decode_error_messages)})")
        self.errors.append(f"not settled after {timeout:g} s: " + "; ".join(reasons))
        return None

    # -- run ---------------------------------------------------------------------------
    async def run(self, connect: UnixAddress | TcpAddress) -> ClientReport:
        """Attach, settle, play the scenario, settle again, and report."""
        self.conn = MuxConnection(self.options.codec_version, self._on_push, summary_lines=True)
        if self.options.tls is not None:  # as try_connect: the tls_clients entry's files and names
            from proxy.tls.contexts import upstream_context

            self.conn.tls_context = upstream_context(self.options.tls)
            self.conn.tls_server_name = self.options.tls.expected_cn
        await self.conn.open(connect)
        log_file = open(self.options.wezterm_log, "w", encoding="utf-8") if self.options.wezterm_log else None  # noqa: SIM115
        self.wezlog = WezLog(log_file) if log_file is not None else None
        if self.wezlog is not None:
            self.conn.on_decoded = self.wezlog.decoded
        workers: list[asyncio.Task[Any]] = []
        settle: float | None = None
        scenario_rows = 0
        try:
            workers.append(asyncio.create_task(self._push_loop(), name="client-pushes"))
            await self._handshake()
            workers.append(asyncio.create_task(self._render_loop(), name="client-render"))
            self.mark_action()
            await self.wait_settled(self.options.timeout)
            scenario_rows = self.rows_fetched
            await scenarios.RUNNERS[self.options.scenario](self)
            settle = await self.wait_settled(self.options.timeout)
        finally:
            for task in workers:
                task.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*workers, *self._tasks, return_exceptions=True)
            await self.conn.close()
            if log_file is not None:
                log_file.close()
        return self._report(settle, self.rows_fetched - scenario_rows)

    def _report(self, settle: float | None, scenario_rows: int) -> ClientReport:
        assert self.conn is not None
        panes = self.visible_panes()
        return ClientReport(
            scenario=self.options.scenario,
            policy=str(self.policy),
            rpcs=dict(self.conn.sent),
            rows_fetched=self.rows_fetched,
            rows_discarded=self.rows_discarded,
            settle_time_s=None if settle is None else round(settle, 4),
            settled=settle is not None,
            screen={p.remote_pane_id: p.screen() for p in panes},
            screen_fingerprints={p.remote_pane_id: p.screen_fingerprints() for p in panes},
            truth=self.truth.to_json(),
            rows_fetched_scenario=scenario_rows,
            pushes=sum(p.stats.pushes for p in self.panes.values()),
            resizes_sent=self.resizes_sent,
            max_inflight_per_row=max((p.stats.max_inflight_per_row for p in self.panes.values()), default=0),
            coalesced_rows=sum(p.stats.coalesced_rows for p in self.panes.values()),
            refetched_in_flight=sum(p.stats.refetched_in_flight for p in self.panes.values()),
            selective_saved_rows=sum(p.selective_saved_rows() for p in self.panes.values()),
            throttled_pushes=sum(p.stats.throttled_pushes for p in self.panes.values()),
            errors=list(self.errors),
        )


def fit_to_schema(schema: Schema, value: Any) -> Any:
    """Drop the struct fields an older codec version lacks (v42: no ``is_proxy``, no ``ssh_auth_sock``)."""
    if isinstance(schema, Struct) and isinstance(value, dict):
        return {name: fit_to_schema(sub, value[name]) for name, sub in schema.fields if name in value}
    return value


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "wez"
