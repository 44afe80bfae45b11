"""The analysis consumer: tap events in; results (:mod:`proxy.analysis.results`) and addon callbacks out.

The pipeline one wire event walks, in one direction: the connection decoder (codec) turns chunks
into PDUs; the pane directory learns the structure; addons (in the manner of mitmproxy's; the
over-fetch attribution is one) get each decoded event and completed RPC; every fact is emitted as a
frozen result to ``emit``, which :mod:`proxy.observe.sinks` turns into log events and metrics.
Whatever an addon returns from :meth:`Addon.rpc` is merged into that RPC's ``getlines`` fields,
which is how the attribution adds its outcome counts to the log event without a second line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codec.pdu import LINE_FIELDS, LinesSummary, Pdu
from proxy.analysis.budgets import over_budget
from proxy.analysis.connection import ConnectionDecoder, WireEvent
from proxy.analysis.panes import PaneDirectory
from proxy.analysis.results import (
    CodecVersionSeen,
    ConnectionClosed,
    DecodeErrorSeen,
    NoteSeen,
    PduSeen,
    Result,
    RpcCompleted,
)
from proxy.analysis.rpc import Rpc, RpcTracker
from proxy.analysis.unlisted import UnlistedPushes
from proxy.analysis.wire import CodecVersionAnnounced, GetLines, fact_of
from proxy.relay.relay import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from proxy.relay.tap import TapEvent

#: At most this many decode-error log events per connection (all are counted).
MAX_ERROR_LOGS_PER_CONNECTION = 20


def discard(result: Result) -> None:
    """The default sink: results nobody asked for."""


class Addon:
    """Base class of analysis addons; every hook is optional. The analyzer an addon is given to
    sets its :attr:`emit`, where the addon's own results go (in order with the analyzer's)."""

    emit: Callable[[Result], None] = staticmethod(discard)  # type: ignore[assignment]
    #: see pushes in the order the client applies them: one for a pane it has not listed yet after the
    #: answer to the resync it makes (:mod:`proxy.analysis.unlisted`), not on arrival
    resync_order = False

    def connection_opened(self, conn: ConnState) -> None:
        pass

    def wire_event(self, conn: ConnState, ev: WireEvent) -> None:
        pass

    def rpc(self, conn: ConnState, rpc: Rpc) -> dict[str, Any] | None:
        return None

    def connection_closed(self, conn: ConnState) -> dict[str, Any] | None:
        return None

    def flush(self, now_ns: int | None) -> None:
        """Time passed (``now_ns``, live) or the input ended for now (None: a capture being read)."""


@dataclass
class ConnState:
    conn_id: int
    info: dict[str, Any]
    decoder: ConnectionDecoder
    t_open_ns: int
    rpcs: RpcTracker = field(default_factory=RpcTracker)
    panes: PaneDirectory = field(default_factory=PaneDirectory)
    pdu_counts: dict[str, int] = field(default_factory=lambda: {CLIENT_TO_SERVER: 0, SERVER_TO_CLIENT: 0})
    decode_errors: int = 0
    over_budget: int = 0
    getlines: int = 0
    rows_requested: int = 0
    rows_returned: int = 0
    getlines_wait_s: float = 0.0
    addon_state: dict[str, Any] = field(default_factory=dict)


def lines_of(pdu: Pdu) -> LinesSummary | None:
    """The line summary carried by a GetLinesResponse/GetPaneRenderChangesResponse."""
    fld = LINE_FIELDS.get(pdu.name)
    if fld is None or not isinstance(pdu.body, dict):
        return None
    value = pdu.body.get(fld)
    return value if isinstance(value, LinesSummary) else None


class Analyzer:
    """Consumes :class:`~proxy.relay.tap.TapEvent` on the analysis thread."""

    #: elements one frame may decode into (proxy/analysis/connection.py); the analysis process sets it
    max_objects: int | None = None

    def __init__(
        self,
        addons: list[Addon] | None = None,
        codec_version: int | None = None,
        emit: Callable[[Result], None] = discard,
    ) -> None:
        self.addons: list[Addon] = list(addons or [])
        self.codec_version = codec_version
        self.emit = emit
        for addon in self.addons:
            addon.emit = emit
        self.connections: dict[int, ConnState] = {}
        self.closed: list[dict[str, Any]] = []
        self.rpcs_completed = 0

    # -- tap consumer interface ------------------------------------------------
    def handle(self, event: TapEvent) -> None:
        if event.kind == "data":
            conn = self.connections.get(event.conn_id)
            if conn is None:  # the open event was lost: start tracking anyway
                conn = self._open(event.conn_id, {}, event.t_ns)
            for ev in conn.decoder.feed(event.direction, event.seq, event.t_ns, event.data):
                self._wire_event(conn, ev)
        elif event.kind == "open":
            self._open(event.conn_id, event.info or {}, event.t_ns)
        elif event.kind == "close":
            self._close(event.conn_id, event.info or {}, event.t_ns)
        elif event.kind == "note":
            self.emit(NoteSeen(event.conn_id, dict(event.info or {})))

    def flush(self, now_ns: int | None = None) -> None:
        for addon in self.addons:
            addon.flush(now_ns)

    # -- internals ---------------------------------------------------------------
    def _open(self, conn_id: int, info: dict[str, Any], t_ns: int) -> ConnState:
        decoder = ConnectionDecoder(conn_id, self.codec_version, max_objects=self.max_objects)
        conn = ConnState(conn_id, dict(info), decoder, t_ns)
        known = info.get("codec_version")
        if isinstance(known, int) and self.codec_version is None:  # a restarted analysis resuming
            conn.decoder.connection.resume_with_version(known)
        self.connections[conn_id] = conn
        for addon in self.addons:
            addon.connection_opened(conn)
        return conn

    def _wire_event(self, conn: ConnState, ev: WireEvent) -> None:
        if ev.error is not None:
            conn.decode_errors += 1
            self.emit(DecodeErrorSeen(
                conn.conn_id, ev.direction, ev.error.offset, _error_reason(ev.error.kind, ev.error.reason),
                ev.error.reason, conn.decode_errors <= MAX_ERROR_LOGS_PER_CONNECTION,
            ))
            for addon in self.addons:
                addon.wire_event(conn, ev)
            return
        pdu = ev.pdu
        assert pdu is not None
        conn.pdu_counts[ev.direction] += 1
        why = over_budget(pdu)
        if why is not None:  # counted, logged once per connection, skipped
            conn.over_budget += 1
            self.emit(DecodeErrorSeen(conn.conn_id, ev.direction, pdu.offset, "limit", why, conn.over_budget == 1))
            return
        conn.panes.observe(ev.fact)
        self.emit(PduSeen(conn.conn_id, ev.direction, pdu, not ev.from_client and pdu.serial == 0))
        if isinstance(ev.fact, CodecVersionAnnounced) and not ev.from_client:
            self.emit(CodecVersionSeen(conn.conn_id, ev.fact.codec_version, conn.decoder.codec_version))
        reordered = None
        for addon in self.addons:
            if not addon.resync_order:
                addon.wire_event(conn, ev)
                continue
            if reordered is None:
                reordered = conn.addon_state.setdefault("resync_order", UnlistedPushes()).reorder(conn.panes.panes, ev)
            for event in reordered:
                addon.wire_event(conn, event)
        rpc = conn.rpcs.on_event(ev)
        if rpc is not None:
            self._rpc(conn, rpc)

    def _rpc(self, conn: ConnState, rpc: Rpc) -> None:
        self.rpcs_completed += 1
        extra: dict[str, Any] = {}
        for addon in self.addons:
            got = addon.rpc(conn, rpc)
            if got:
                extra.update(got)
        request = fact_of(rpc.request)
        if not isinstance(request, GetLines):
            self.emit(RpcCompleted(conn.conn_id, rpc.request.name, rpc.latency_s))
            return
        requested = request.row_count
        summary = lines_of(rpc.response)
        returned = len(summary.lines) if summary is not None else 0
        conn.getlines += 1
        conn.rows_requested += requested
        conn.rows_returned += returned
        conn.getlines_wait_s += rpc.latency_s
        fields = {
            "conn": conn.conn_id,
            "pane": request.pane_id,
            "serial": rpc.serial,
            "ranges": [[start, end] for start, end in request.ranges],
            "rows_requested": requested,
            "rows_returned": returned,
            "request_wire_bytes": rpc.request.wire_len,
            "response_wire_bytes": rpc.response.wire_len,
            "response_decompressed_bytes": len(rpc.response.payload),
            "compressed": rpc.response.compressed,
            "latency_ms": round(rpc.latency_s * 1000, 3),
            **extra,
        }
        self.emit(RpcCompleted(conn.conn_id, rpc.request.name, rpc.latency_s, fields, requested, returned))

    def _close(self, conn_id: int, info: dict[str, Any], t_ns: int) -> None:
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        extra: dict[str, Any] = {}
        for addon in self.addons:
            got = addon.connection_closed(conn)
            if got:
                extra.update(got)
        summary = {
            "conn": conn_id,
            "duration_s": round((t_ns - conn.t_open_ns) / 1e9, 3),
            "pdus_client_to_server": conn.pdu_counts[CLIENT_TO_SERVER],
            "pdus_server_to_client": conn.pdu_counts[SERVER_TO_CLIENT],
            "rpcs": conn.rpcs.completed,
            "unanswered_requests": len(conn.rpcs.pending),
            "getlines": conn.getlines,
            "rows_requested": conn.rows_requested,
            "rows_returned": conn.rows_returned,
            "getlines_wait_s": round(conn.getlines_wait_s, 6),
            "decode_errors": conn.decode_errors,
            "analysis_gaps": conn.decoder.gaps,
            "codec_version": conn.decoder.peer_codec_version,
            **{k: v for k, v in info.items() if k not in ("conn",)},
            **extra,
        }
        self.closed.append(summary)
        self.emit(ConnectionClosed(summary))


def _error_reason(kind: str, detail: str) -> str:
    if kind == "gap":
        return "gap"
    if kind == "frame":
        return "limit" if "limit" in detail else "frame"
    if "zstd" in detail:
        return "decompress"
    if "limit" in detail:
        return "limit"
    return "payload"
