"""The analysis consumer: tap events in; log events, metrics and addon callbacks out.

Addons (in the manner of mitmproxy's) get each connection's decoded events and
completed RPCs; whatever an addon returns from :meth:`Addon.rpc` is merged into
that RPC's log event, which is how the over-fetch attribution adds its outcome
counts to the ``getlines`` event without a second log line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from codec.pdu import LINE_FIELDS, LinesSummary, Pdu
from proxy.analysis.connection import ConnectionDecoder, WireEvent
from proxy.analysis.panes import PaneDirectory
from proxy.analysis.rpc import Rpc, RpcTracker
from proxy.observe import logs
from proxy.observe.metrics import Metrics
from proxy.relay.relay import CLIENT_TO_SERVER, SERVER_TO_CLIENT
from proxy.relay.tap import TapEvent

#: At most this many decode-error log events per connection (all are counted).
MAX_ERROR_LOGS_PER_CONNECTION = 20


class Addon:
    """Base class of analysis addons; every hook is optional."""

    def connection_opened(self, conn: ConnState) -> None:
        pass

    def wire_event(self, conn: ConnState, ev: WireEvent) -> None:
        pass

    def rpc(self, conn: ConnState, rpc: Rpc) -> dict[str, Any] | None:
        return None

    def connection_closed(self, conn: ConnState) -> dict[str, Any] | None:
        return None

    def flush(self) -> None:
        pass


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
    getlines: int = 0
    rows_requested: int = 0
    rows_returned: int = 0
    getlines_wait_s: float = 0.0
    addon_state: dict[str, Any] = field(default_factory=dict)


def ranges_rows(ranges: list[dict[str, int]]) -> int:
    return sum(max(0, r["end"] - r["start"]) for r in ranges)


def lines_of(pdu: Pdu) -> LinesSummary | None:
    """The line summary carried by a GetLinesResponse/GetPaneRenderChangesResponse."""
    fld = LINE_FIELDS.get(pdu.name)
    if fld is None or not isinstance(pdu.body, dict):
        return None
    value = pdu.body.get(fld)
    return value if isinstance(value, LinesSummary) else None


class Analyzer:
    """Consumes :class:`~proxy.relay.tap.TapEvent` on the analysis thread."""

    def __init__(
        self,
        metrics: Metrics | None = None,
        addons: list[Addon] | None = None,
        codec_version: int | None = None,
        logger: Any = None,
    ) -> None:
        self.metrics = metrics
        self.addons: list[Addon] = list(addons or [])
        self.codec_version = codec_version
        self.log = logger if logger is not None else logs.get_logger()
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
            self.log.info("note", conn=event.conn_id, **(event.info or {}))

    def flush(self) -> None:
        for addon in self.addons:
            addon.flush()
        logs.flush()

    # -- internals ---------------------------------------------------------------
    def _open(self, conn_id: int, info: dict[str, Any], t_ns: int) -> ConnState:
        conn = ConnState(conn_id, dict(info), ConnectionDecoder(conn_id, self.codec_version), t_ns)
        known = info.get("codec_version")
        if isinstance(known, int) and self.codec_version is None:  # a restarted analysis resuming
            for stream in conn.decoder.streams.values():
                stream.observe_codec_version(known)
        self.connections[conn_id] = conn
        for addon in self.addons:
            addon.connection_opened(conn)
        return conn

    def _wire_event(self, conn: ConnState, ev: WireEvent) -> None:
        m = self.metrics
        if ev.error is not None:
            conn.decode_errors += 1
            reason = _error_reason(ev.error.kind, ev.error.reason)
            if m is not None:
                m.decode_errors.labels(reason).inc()
            if conn.decode_errors <= MAX_ERROR_LOGS_PER_CONNECTION:
                self.log.warning(
                    "decode_error", conn=conn.conn_id, direction=ev.direction, offset=ev.error.offset,
                    reason=reason, detail=ev.error.reason,
                )
            for addon in self.addons:
                addon.wire_event(conn, ev)
            return
        pdu = ev.pdu
        assert pdu is not None
        conn.pdu_counts[ev.direction] += 1
        if m is not None:
            m.pdus.labels(ev.direction, pdu.name).inc()
            m.pdu_wire_bytes.labels(ev.direction, pdu.name).inc(pdu.wire_len)
            m.pdu_decompressed_bytes.labels(ev.direction, pdu.name).inc(len(pdu.payload))
            if not ev.from_client and pdu.serial == 0:
                m.unsolicited.labels(pdu.name).inc()
        if pdu.known and pdu.body is not None:
            conn.panes.observe(pdu)
        self.log.debug(
            "pdu", conn=conn.conn_id, direction=ev.direction, pdu=pdu.name, serial=pdu.serial,
            wire_bytes=pdu.wire_len, payload_bytes=len(pdu.payload), compressed=pdu.compressed,
            **({"body": _short(pdu)} if logs.content_allowed() else {}),
        )
        if pdu.name == "GetCodecVersionResponse" and not ev.from_client:
            self.log.info("codec_version", conn=conn.conn_id, codec_version=pdu.body["codec_vers"],
                          decoding_as=conn.decoder.codec_version)
        for addon in self.addons:
            addon.wire_event(conn, ev)
        rpc = conn.rpcs.on_event(ev)
        if rpc is not None:
            self._rpc(conn, rpc)

    def _rpc(self, conn: ConnState, rpc: Rpc) -> None:
        self.rpcs_completed += 1
        m = self.metrics
        if m is not None:
            m.rpc_latency.labels(rpc.request.name).observe(rpc.latency_s)
        extra: dict[str, Any] = {}
        for addon in self.addons:
            got = addon.rpc(conn, rpc)
            if got:
                extra.update(got)
        if rpc.request.name != "GetLines":
            return
        ranges = rpc.request.body["lines"]
        requested = ranges_rows(ranges)
        summary = lines_of(rpc.response)
        returned = len(summary.lines) if summary is not None else 0
        conn.getlines += 1
        conn.rows_requested += requested
        conn.rows_returned += returned
        conn.getlines_wait_s += rpc.latency_s
        if m is not None:
            m.getlines_rows_requested.inc(requested)
            m.getlines_rows_returned.inc(returned)
        self.log.info(
            "getlines",
            conn=conn.conn_id,
            pane=rpc.request.body["pane_id"],
            serial=rpc.serial,
            ranges=[[r["start"], r["end"]] for r in ranges],
            rows_requested=requested,
            rows_returned=returned,
            request_wire_bytes=rpc.request.wire_len,
            response_wire_bytes=rpc.response.wire_len,
            response_decompressed_bytes=len(rpc.response.payload),
            compressed=rpc.response.compressed,
            latency_ms=round(rpc.latency_s * 1000, 3),
            **extra,
        )

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
        self.log.info("connection_summary", **summary)


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


def _short(pdu: Pdu) -> Any:
    body = pdu.to_json() if not isinstance(lines_of(pdu), LinesSummary) else {"lines": "..."}
    text = repr(body)
    return text if len(text) < 2000 else text[:2000] + "..."


def now_ns() -> int:
    return time.monotonic_ns()
