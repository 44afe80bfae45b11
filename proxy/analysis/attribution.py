"""Over-fetch attribution: per row, per cause, per resize burst, live and after the fact.

For every ``GetLines`` the client sends, each requested row gets a *cause*
(why the client asked: ``dirty``, ``resize``, ``zoom``, ``palette``,
``tab_resized``, ``first_view``, ``unexplained``), and for every row the
response returns, one *outcome* (``redundant``: the client already held
identical content; ``superseded``: the client was re-sent or re-told about the
row after asking, so WezTerm drops the result; ``changed``; ``new``).
Over-fetch = redundant + superseded. The RPC's latency and its response bytes
(wire and decompressed) are split across its rows in proportion to each row's
serialized size, so wait and bytes add up per outcome and cause.

Resize bursts: Resize PDUs on a connection less than ``burst_gap`` apart form a
burst; the GetLines sent while a burst is active (its resizes are less than
``burst_gap`` old, or fetches it caused are still in flight or ended less than
``burst_gap`` ago) belong to it. Settle time runs from the burst's first
Resize to the last response to a GetLines it caused: the repaint the user
watches after letting go of the window corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.analyzer import Addon, ConnState, lines_of
from proxy.analysis.bursts import DEFAULT_BURST_GAP_S, Burst
from proxy.analysis.connection import WireEvent
from proxy.analysis.linemodel import PaneLines
from proxy.analysis.linestate import LineFacts, Push
from proxy.analysis.results import BonusRowsDelivered, BurstClosed, FetchJudged, JudgedRow, RowsRequested
from proxy.analysis.rpc import Rpc
from proxy.analysis.tally import Tally
from proxy.analysis.vocabulary import CLIENT_MODELS, OVERFETCH, Cause, ClientModel, Outcome, empty_rows, outcome
from proxy.analysis.whatif.summary import what_if
from proxy.relay.relay import CLIENT_TO_SERVER

MAX_BURSTS_KEPT = 10_000
MAX_TIMELINE = 200_000


@dataclass(slots=True)
class PendingFetch:
    """A GetLines in flight: what the client held for each row when it asked, and why it asked."""

    serial: int
    pane_id: int
    held: dict[int, bytes | None]
    causes: dict[int, Cause]
    burst: Burst | None = None
    selective_saved: set[int] = field(default_factory=set)


@dataclass
class ConnAttribution:
    seq: int = 0
    panes: dict[int, PaneLines] = field(default_factory=dict)
    pending: dict[int, PendingFetch] = field(default_factory=dict)
    burst: Burst | None = None
    last_t_ns: int = 0
    #: panes of tabs a TabResized named, until the client's ListPanes answer arrives
    tab_resized_panes: set[int] = field(default_factory=set)
    #: pane -> (rows, cols) the server listed after a TabResized: a Resize to it is a resync
    resync: dict[int, tuple[int, int]] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    #: the client fetch logic the line model mirrors
    client: ClientModel = ClientModel.WEZTERM

    def pane(self, pane_id: int) -> PaneLines:
        p = self.panes.get(pane_id)
        if p is None:
            p = self.panes[pane_id] = PaneLines(pane_id, client=self.client)
        return p

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class AttributionAddon(Addon):
    """Attach to an :class:`~proxy.analysis.analyzer.Analyzer`; see the module docstring."""

    def __init__(self, burst_gap_s: float = DEFAULT_BURST_GAP_S,
                 client_model: str = ClientModel.WEZTERM) -> None:
        if client_model not in CLIENT_MODELS:
            raise ValueError(f"client model {client_model!r}: expected one of {', '.join(CLIENT_MODELS)}")
        self.client_model = ClientModel(client_model)
        self.burst_gap_ns = int(burst_gap_s * 1e9)
        self.total = Tally()
        self.bursts: list[dict[str, Any]] = []
        self._burst_index = 0
        self._conns: dict[int, ConnAttribution] = {}
        #: timeline for the HTML report: GetLines spans and Resize times (bounded)
        self.fetches: list[tuple[int, int, int, dict[str, int], int | None, int]] = []
        self.resize_times: list[int] = []

    # -- addon hooks ---------------------------------------------------------------
    def connection_opened(self, conn: ConnState) -> None:
        self._state(conn)

    def _state(self, conn: ConnState) -> ConnAttribution:
        st = self._conns.get(conn.conn_id)
        if st is None:
            st = conn.addon_state.setdefault("attribution", ConnAttribution(client=self.client_model))
            self._conns[conn.conn_id] = st
        return st

    def wire_event(self, conn: ConnState, ev: WireEvent) -> None:
        st = self._state(conn)
        st.last_t_ns = max(st.last_t_ns, ev.t_ns)
        self._maybe_close_burst(conn, st, ev.t_ns)
        pdu = ev.pdu
        if pdu is None or not isinstance(pdu.body, dict):
            return
        name, body = pdu.name, pdu.body
        if ev.direction == CLIENT_TO_SERVER:
            if name == "GetLines":
                self._request(conn, st, pdu.serial, body, ev.t_ns)
            elif name == "Resize":
                pane_id = body["pane_id"]
                size = (body["size"]["rows"], body["size"]["cols"])
                # After a TabResized the client re-lists the panes and resizes each
                # to the size the server listed (client.rs:300-316, domain.rs resync,
                # clientpane.rs resize; docs/wezterm-behaviour.md item 2): those Resizes
                # are the server's doing, not the user's.
                kind = Cause.TAB_RESIZED if pane_id in st.resync and st.resync[pane_id] == size else Cause.RESIZE
                st.resync.pop(pane_id, None)
                st.pane(pane_id).make_all_stale(kind, ev.t_ns, cols=body["size"]["cols"])
                self._resize(conn, st, pane_id, ev.t_ns)
            elif name == "SetPaneZoomed":
                st.pane(body["pane_id"]).make_all_stale(Cause.ZOOM, ev.t_ns)
            elif name == "SendKeyDown":
                st.pane(body["pane_id"]).set_input_serial(body["input_serial"], ev.t_ns)
            return
        if name == "GetPaneRenderChangesResponse":
            self._changes(conn, st, body, ev.t_ns)
        elif name == "SetPalette":
            st.pane(body["pane_id"]).make_all_stale(Cause.PALETTE, ev.t_ns, from_client=False)
        elif name == "TabResized":
            # nothing is stale yet: the client re-lists the panes, and the Resizes that follow
            # (to the sizes listed) are the tab_resized invalidation
            st.tab_resized_panes.update(conn.panes.panes_of_tab(body["tab_id"]))
        elif name == "ListPanesResponse":
            for pane_id, info in conn.panes.panes.items():
                # a new ClientPane takes its dimensions from the listed size, until the first push
                if info.cols is not None and st.pane(pane_id).cols is None:
                    st.panes[pane_id].cols = info.cols
            for pane_id in list(st.tab_resized_panes):
                info = conn.panes.panes.get(pane_id)
                if info is not None and info.rows is not None:
                    st.resync[pane_id] = (info.rows, info.cols)
            st.tab_resized_panes.clear()
        elif name == "ErrorResponse" and pdu.serial in st.pending:
            failed = st.pending.pop(pdu.serial)
            st.pane(failed.pane_id).fetch_failed(pdu.serial, list(failed.held))

    def rpc(self, conn: ConnState, rpc: Rpc) -> dict[str, Any] | None:
        if rpc.request.name != "GetLines":
            return None
        st = self._state(conn)
        pending = st.pending.pop(rpc.serial, None)
        if pending is None:
            return None
        summary = lines_of(rpc.response)
        if summary is None:
            return None
        judged = self._judge_rows(conn, st, rpc, pending, summary)
        counts = empty_rows()
        causes: dict[str, int] = {}
        for row in judged.rows:
            counts[row.outcome] += 1
            causes[row.cause] = causes.get(row.cause, 0) + 1
        for tally in (st.tally, self.total):
            tally.fetch_wait_s += rpc.latency_s
        over_wait = judged.overfetch_wait_s
        burst = pending.burst
        if burst is not None:
            burst.fetch_done(rpc, counts, over_wait)
        if len(self.fetches) < MAX_TIMELINE:
            self.fetches.append((rpc.t_request_ns, rpc.t_response_ns, pending.pane_id, counts,
                                 burst.index if burst is not None else None, rpc.serial))
        self.emit(judged)
        return {
            "outcomes": counts,
            "causes": causes,
            "overfetch_rows": counts[Outcome.REDUNDANT] + counts[Outcome.SUPERSEDED],
            "overfetch_wait_ms": round(over_wait * 1000, 3),
            **({"burst": burst.index} if burst is not None else {}),
        }

    def _judge_rows(self, conn: ConnState, st: ConnAttribution, rpc: Rpc, pending: PendingFetch,
                    summary: Any) -> FetchJudged:
        """Each returned row's outcome and cause; the RPC's wait and bytes shared by serialized size."""
        model = st.pane(pending.pane_id)
        total_bytes = sum(ln.byte_length for ln in summary.lines) or 1
        wire_total, dec_total, latency = rpc.response.wire_len, len(rpc.response.payload), rpc.latency_s
        wait_by_out = dict.fromkeys(Outcome, 0.0)
        over_wait = over_wire = over_dec = 0.0
        rows = []
        version = conn.decoder.codec_version
        for i, ln in enumerate(summary.lines):
            share = ln.byte_length / total_bytes
            held = pending.held[ln.row] if ln.row in pending.held else model.held(ln.row)
            saved = ln.row in pending.selective_saved
            kept = model.response_line(rpc.serial, ln.row, ln.fingerprint, ln.seqno, st.next_seq(),
                                       LineFacts(summary, i, version), saved)
            out = outcome(held, ln.fingerprint, kept)
            cause = pending.causes.get(ln.row, Cause.UNEXPLAINED)
            rows.append(JudgedRow(conn.conn_id, rpc.serial, pending.pane_id, ln.row, out, cause))
            wait, wire, dec = latency * share, wire_total * share, dec_total * share
            wait_by_out[out] += wait
            for tally in (st.tally, self.total):
                if saved:
                    tally.selective_saved += (1, wait, wire)
                tally.add_row(pending.pane_id, cause, out, wait, wire, dec)
            if out in OVERFETCH:
                over_wait += wait
                over_wire += wire
                over_dec += dec
        return FetchJudged(conn.conn_id, rpc.serial, tuple(rows), wait_by_out, over_wait, over_wire, over_dec)

    def connection_closed(self, conn: ConnState) -> dict[str, Any] | None:
        st = self._conns.pop(conn.conn_id, None)
        if st is None:
            return None
        if st.burst is not None and not st.burst.closed:
            self._emit_burst(st.burst)
        t = st.tally
        return {
            "rows": dict(t.rows),
            "overfetch_rows": t.rows[Outcome.REDUNDANT] + t.rows[Outcome.SUPERSEDED],
            "overfetch_wait_s": round(t.wait_s[Outcome.REDUNDANT] + t.wait_s[Outcome.SUPERSEDED], 6),
        }

    def flush(self, now_ns: int | None) -> None:
        for st in list(self._conns.values()):
            self._maybe_close_burst(None, st, now_ns if now_ns is not None else st.last_t_ns)

    def finish(self) -> None:
        """End of a replay: every burst still open is complete."""
        for st in self._conns.values():
            if st.burst is not None and not st.burst.closed:
                self._emit_burst(st.burst)

    # -- requests and pushes -----------------------------------------------------------
    def _request(self, conn: ConnState, st: ConnAttribution, serial: int, body: dict[str, Any], t_ns: int) -> None:
        pane_id = body["pane_id"]
        model = st.pane(pane_id)
        rows = [row for r in body["lines"] for row in range(r["start"], r["end"])]
        req = model.request(serial, rows, t_ns)
        held, causes = req.held, req.causes
        for tally in (st.tally, self.total):
            tally.crossed_requests += req.crossed
            tally.coalescible_rows += req.coalescible
        pending = PendingFetch(serial, pane_id, held, causes, selective_saved=req.selective_saved)
        st.pending[serial] = pending  # a reused serial replaces the old one: it will never be answered
        for tally in (st.tally, self.total):
            tally.getlines += 1
            tally.rows_requested += len(held)
            for c in causes.values():
                tally.causes[c] += 1
        counts: dict[Cause, int] = {}
        for c in causes.values():
            counts[c] = counts.get(c, 0) + 1
        self.emit(RowsRequested(conn.conn_id, serial, counts, bool(req.crossed)))
        burst = st.burst
        if burst is not None and not burst.closed and self._burst_active(burst, t_ns):
            pending.burst = burst
            burst.getlines += 1
            burst.rows_requested += len(held)
            burst.open_fetches += 1
            burst.panes.add(pane_id)

    def _changes(self, conn: ConnState, st: ConnAttribution, body: dict[str, Any], t_ns: int) -> None:
        """A render-changes push: its bonus lines' outcomes, then the line model applies it."""
        model = st.pane(body["pane_id"])
        bonus: list[tuple[int, bytes, int]] = []
        bonus_facts: dict[int, LineFacts] = {}
        summary = body.get("bonus_lines")
        if summary is not None and hasattr(summary, "lines"):
            version = conn.decoder.codec_version
            delivered: dict[Outcome, int] = {}
            for i, ln in enumerate(summary.lines):
                bonus_facts[ln.row] = LineFacts(summary, i, version)
                out = outcome(model.held(ln.row), ln.fingerprint, True)
                for tally in (st.tally, self.total):
                    tally.bonus_rows[out] += 1
                delivered[out] = delivered.get(out, 0) + 1
                bonus.append((ln.row, ln.fingerprint, ln.seqno))
            if delivered:
                self.emit(BonusRowsDelivered(conn.conn_id, delivered))
        dirty = [(r["start"], r["end"]) for r in body["dirty_lines"]]
        dims = body["dimensions"]
        model.apply_push(Push(st.next_seq(), t_ns, body["seqno"], dims["physical_top"], body["cursor_position"],
                              body.get("input_serial"), bonus, dirty, dims["cols"], bonus_facts))

    # -- bursts ------------------------------------------------------------------
    def _resize(self, conn: ConnState, st: ConnAttribution, pane_id: int, t_ns: int) -> None:
        if len(self.resize_times) < MAX_TIMELINE:
            self.resize_times.append(t_ns)
        burst = st.burst
        if burst is not None and not burst.closed and t_ns - burst.t_last_resize_ns < self.burst_gap_ns:
            burst.t_last_resize_ns = t_ns
            burst.resizes.append(t_ns)
            burst.panes.add(pane_id)
            return
        if burst is not None and not burst.closed:
            self._emit_burst(burst)
        self._burst_index += 1
        st.burst = Burst(self._burst_index, conn.conn_id, t_ns, t_ns, [t_ns], {pane_id})

    def _burst_active(self, burst: Burst, t_ns: int) -> bool:
        return burst.open_fetches > 0 or t_ns - burst.quiet_since_ns() < self.burst_gap_ns

    def _maybe_close_burst(self, conn: ConnState | None, st: ConnAttribution, now_ns: int) -> None:
        burst = st.burst
        if burst is None or burst.closed or burst.open_fetches > 0:
            return
        if now_ns - burst.quiet_since_ns() >= self.burst_gap_ns:
            self._emit_burst(burst)

    def _emit_burst(self, burst: Burst) -> None:
        burst.closed = True
        summary = burst.summary()
        if len(self.bursts) < MAX_BURSTS_KEPT:
            self.bursts.append(summary)
        self.emit(BurstClosed(summary, burst.settle_s(), burst.rows_requested))

    # -- results -------------------------------------------------------------------
    def what_if(self) -> dict[str, Any]:
        return what_if(self.total, self.bursts)

    def report(self) -> dict[str, Any]:
        """The analysis in the JSON shape shared with the emulated client's truth file."""
        t = self.total
        over_wait = t.wait_s[Outcome.REDUNDANT] + t.wait_s[Outcome.SUPERSEDED]
        return {
            "rows": dict(t.rows),
            "panes": {str(p): {"rows": dict(r)} for p, r in sorted(t.panes.items())},
            "causes": {c: n for c, n in t.causes.items() if n},
            "rows_by_cause": _nested(t.rows_by_cause_outcome),
            "getlines": t.getlines,
            "rows_requested": t.rows_requested,
            "rows_returned": sum(t.rows.values()),
            "bonus_rows": dict(t.bonus_rows),
            "fetch_wait_s": round(t.fetch_wait_s, 6),
            "wait_s": {k: round(v, 6) for k, v in t.wait_s.items()},
            "overfetch_wait_s": round(over_wait, 6),
            "wire_bytes": {k: round(v) for k, v in t.wire_bytes.items()},
            "decompressed_bytes": {k: round(v) for k, v in t.decompressed_bytes.items()},
            "coalescible_rows": t.coalescible_rows,
            "crossed_requests": t.crossed_requests,
            "client_model": self.client_model,
            "bursts": list(self.bursts),
            "what_if": self.what_if(),
        }

def _nested(d: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (cause, out_name), n in sorted(d.items()):
        out.setdefault(cause, {})[out_name] = n
    return out
