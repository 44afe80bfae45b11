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
Resize to the last response to a GetLines it caused (or the moment one was
given up): the repaint the user watches after letting go of the window corner.
A burst is summarised (``BurstClosed``) only once every GetLines it caused has
been answered or given up, even when a later Resize has already begun the next
burst, so every row lands in the burst whose fetch brought it, and the bursts
plus the fetches outside any burst add up to the totals.

Two kinds of wait, because fetches overlap: *RPC seconds* (``fetch_wait_s``)
sum each GetLines' request-to-response time, so three concurrent 100 ms fetches
count 0.3 s; *wall seconds* (``fetch_wall_s``) are the wall-clock time the
client had at least one GetLines outstanding on the connection, each instant
shared evenly among the fetches outstanding then (``spend.WallClock``), so per
fetch, burst, pane and outcome they add up to the wall-clock total and never
exceed the time that passed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.analyzer import Addon, ConnState, lines_of
from proxy.analysis.bursts import DEFAULT_BURST_GAP_S, Burst
from proxy.analysis.connection import WireEvent
from proxy.analysis.fetchlimit import DEFAULT_PREFETCHES_PER_SECOND, FetchLimiter
from proxy.analysis.linemodel import PaneLines
from proxy.analysis.linestate import LineFacts, Push
from proxy.analysis.localecho import LocalEcho, LocalEchoes, key_of
from proxy.analysis.report_model import BonusRows, BurstSummary, PerOutcome, Report, UnlistedBursts, WhatIf
from proxy.analysis.results import BonusRowsDelivered, BurstClosed, FetchJudged, JudgedRow, RowsRequested
from proxy.analysis.resync import ResizeCauses
from proxy.analysis.rpc import Rpc
from proxy.analysis.spend import IntervalUnion, Spend, WallClock, add_response
from proxy.analysis.tally import Tally
from proxy.analysis.timeline import FetchMark, PushMark, ResizeMark, Timeline
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
    #: who asked for each Resize: the user, a zoom, or a resync after TabResized (resync.py)
    resizes: ResizeCauses = field(default_factory=ResizeCauses)
    tally: Tally = field(default_factory=Tally)
    #: the client fetch logic the line model mirrors
    client: ClientModel = ClientModel.WEZTERM
    #: bursts a later Resize ended while GetLines they caused were still in flight
    ending: list[Burst] = field(default_factory=list)
    wall: WallClock = field(default_factory=WallClock)
    echo: LocalEcho | None = None
    #: the client's ``ratelimit_mux_line_prefetches_per_second`` (0: no limit; fetchlimit.py)
    prefetch_rate: int = DEFAULT_PREFETCHES_PER_SECOND

    def pane(self, pane_id: int) -> PaneLines:
        p = self.panes.get(pane_id)
        if p is None:
            p = self.panes[pane_id] = PaneLines(pane_id, client=self.client, echo=self.echo,
                                                limiter=FetchLimiter(self.prefetch_rate))
        return p

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class AttributionAddon(Addon):
    """Attach to an :class:`~proxy.analysis.analyzer.Analyzer`; see the module docstring."""

    resync_order = True  # pushes for panes the client has not listed yet take effect after its resync

    def __init__(self, burst_gap_s: float = DEFAULT_BURST_GAP_S,
                 client_model: str = ClientModel.WEZTERM, local_echo_ms: int | None = None,
                 prefetch_rate: int = DEFAULT_PREFETCHES_PER_SECOND) -> None:
        self.echoes = LocalEchoes(local_echo_ms)
        FetchLimiter(prefetch_rate)  # refuses a negative rate now, not at the first pane
        self.prefetch_rate = prefetch_rate
        if client_model not in CLIENT_MODELS:
            raise ValueError(f"client model {client_model!r}: expected one of {', '.join(CLIENT_MODELS)}")
        self.client_model = ClientModel(client_model)
        self.burst_gap_ns = int(burst_gap_s * 1e9)
        self.total = Tally()
        self.bursts: list[BurstSummary] = []
        self._burst_index = 0
        self._conns: dict[int, ConnAttribution] = {}
        #: GetLines sent while no burst was active
        self.outside = Spend()
        #: bursts past MAX_BURSTS_KEPT: counted here so the totals still add up
        self.unlisted = Spend()
        self.unlisted_bursts = 0
        #: per connection, the moments some burst was settling (each counted once)
        self.settling: dict[int, IntervalUnion] = {}
        #: GetLines, Resizes and pushes for the HTML timeline and the trace export (bounded)
        self.timeline = Timeline(MAX_TIMELINE)

    # -- addon hooks ---------------------------------------------------------------
    def connection_opened(self, conn: ConnState) -> None:
        self._state(conn)

    def _state(self, conn: ConnState) -> ConnAttribution:
        st = self._conns.get(conn.conn_id)
        if st is None:
            fresh = ConnAttribution(client=self.client_model, echo=self.echoes.new(), prefetch_rate=self.prefetch_rate)
            st = conn.addon_state.setdefault("attribution", fresh)
            self._conns[conn.conn_id] = st
        return st

    def wire_event(self, conn: ConnState, ev: WireEvent) -> None:
        st = self._state(conn)
        st.last_t_ns = max(st.last_t_ns, ev.t_ns)
        self._emit_finished(st)
        self._maybe_close_burst(conn, st, ev.t_ns)
        if ev.error is not None and ev.error.kind == "gap" and not ev.from_client:
            self._lost_responses(conn, st, ev.t_ns)
        pdu = ev.pdu
        if pdu is None or not isinstance(pdu.body, dict):
            return
        name, body = pdu.name, pdu.body
        if ev.direction == CLIENT_TO_SERVER:
            if name != "Resize":
                st.resizes.other_request()
            if name == "GetLines":
                self._request(conn, st, pdu.serial, body, ev.t_ns)
            elif name == "Resize":
                pane_id = body["pane_id"]
                size = (body["size"]["rows"], body["size"]["cols"])
                # the user's, a zoom's, or fed back after a TabResized (resync.py)
                kind = st.resizes.resize(pane_id, body["size"])
                st.pane(pane_id).make_all_stale(kind, ev.t_ns, cols=body["size"]["cols"])
                self._resize(conn, st, pane_id, ev.t_ns)
                self.timeline.add(ResizeMark(conn.conn_id, pane_id, ev.t_ns, size[0], size[1], kind,
                                             st.burst.index if st.burst is not None else None))
            elif name == "SetPaneZoomed":
                st.resizes.zoomed(body)
                st.pane(body["pane_id"]).make_all_stale(Cause.ZOOM, ev.t_ns)
            elif name == "SendKeyDown":
                st.pane(body["pane_id"]).set_input_serial(body["input_serial"], ev.t_ns, key_of(body))
            return
        if name == "GetPaneRenderChangesResponse":
            self._changes(conn, st, body, ev.t_ns)
        elif name == "SetPalette":
            st.pane(body["pane_id"]).make_all_stale(Cause.PALETTE, ev.t_ns, from_client=False)
        elif name == "ListPanesResponse":
            for pane_id, info in conn.panes.panes.items():
                # a new ClientPane takes its dimensions from the listed size, until the first push
                if info.cols is not None and st.pane(pane_id).cols is None:
                    st.panes[pane_id].cols = info.cols
            # nothing is stale yet: the Resizes the listing obliges the client to send are
            # the tab_resized invalidation
            st.resizes.listed(body)
        elif name == "ErrorResponse" and pdu.serial in st.pending:
            failed = st.pending.pop(pdu.serial)
            st.pane(failed.pane_id).fetch_failed(pdu.serial, list(failed.held))
            self._abandon(conn, st, failed, ev.t_ns)

    def rpc(self, conn: ConnState, rpc: Rpc) -> dict[str, Any] | None:
        if rpc.request.name != "GetLines":
            return None
        st = self._state(conn)
        pending = st.pending.pop(rpc.serial, None)
        if pending is None:
            return None
        summary = lines_of(rpc.response)
        if summary is None:
            self._abandon(conn, st, pending, rpc.t_response_ns)
            return None
        wall, _ = st.wall.end_fetch(rpc.serial, rpc.t_response_ns)
        judged = self._judge_rows(conn, st, rpc, pending, summary, wall)
        counts = empty_rows()
        causes: dict[str, int] = {}
        for row in judged.rows:
            counts[row.outcome] += 1
            causes[row.cause] = causes.get(row.cause, 0) + 1
        for tally in (st.tally, self.total):
            tally.fetch_wait_s += rpc.latency_s
            tally.fetch_wall_s += wall
        over_wait = judged.overfetch_wait_s
        burst = pending.burst
        if burst is not None:
            # an ended burst is summarised at the next event (_emit_finished), after this fetch's log event
            burst.fetch_done(rpc, counts, over_wait)
        else:
            add_response(self.outside, counts, rpc.response.wire_len, len(rpc.response.payload), rpc.latency_s,
                         over_wait)
        pane_spend = self.total.pane_spend.setdefault(pending.pane_id, Spend())
        add_response(pane_spend, counts, rpc.response.wire_len, len(rpc.response.payload), rpc.latency_s, over_wait)
        for target in (burst if burst is not None else self.outside, pane_spend):
            target.wall_s += wall
            target.overfetch_wall_s += judged.overfetch_wall_s
        self.timeline.add(FetchMark(conn.conn_id, pending.pane_id, rpc.serial, rpc.t_request_ns, rpc.t_response_ns,
                                    len(pending.held), counts, dict(Counter(pending.causes.values())),
                                    rpc.response.wire_len, len(rpc.response.payload), wall,
                                    burst.index if burst is not None else None))
        self.emit(judged)
        return {
            "outcomes": counts,
            "causes": causes,
            "overfetch_rows": counts[Outcome.REDUNDANT] + counts[Outcome.SUPERSEDED],
            "overfetch_wait_ms": round(over_wait * 1000, 3),
            **({"burst": burst.index} if burst is not None else {}),
        }

    def _judge_rows(self, conn: ConnState, st: ConnAttribution, rpc: Rpc, pending: PendingFetch,
                    summary: Any, wall: float) -> FetchJudged:
        """Each returned row's outcome and cause; the RPC's wait and bytes shared by serialized size."""
        model = st.pane(pending.pane_id)
        total_bytes = sum(ln.byte_length for ln in summary.lines) or 1
        wire_total, dec_total, latency = rpc.response.wire_len, len(rpc.response.payload), rpc.latency_s
        wait_by_out = dict.fromkeys(Outcome, 0.0)
        wall_by_out = dict.fromkeys(Outcome, 0.0)
        over_wait = over_wire = over_dec = over_wall = 0.0
        rows = []
        version = conn.decoder.codec_version
        for i, ln in enumerate(summary.lines):
            share = ln.byte_length / total_bytes
            held = pending.held[ln.row] if ln.row in pending.held else model.held(ln.row)
            saved = ln.row in pending.selective_saved
            raced = model.races.take(rpc.serial, ln.row)
            kept = model.response_line(rpc.serial, ln.row, ln.fingerprint, ln.seqno, st.next_seq(),
                                       LineFacts(summary, i, version), saved, raced)
            out = outcome(held, ln.fingerprint, kept)
            cause = pending.causes.get(ln.row, Cause.UNEXPLAINED)
            rows.append(JudgedRow(conn.conn_id, rpc.serial, pending.pane_id, ln.row, out, cause, raced))
            wait, wire, dec = latency * share, wire_total * share, dec_total * share
            wait_by_out[out] += wait
            wall_by_out[out] += wall * share
            for tally in (st.tally, self.total):
                if saved:
                    tally.selective_saved += (1, wait, wire)
                tally.add_row(pending.pane_id, cause, out, wait, wire, dec, raced)
                tally.wall_s[out] += wall * share
            if out in OVERFETCH:
                over_wait += wait
                over_wire += wire
                over_dec += dec
                over_wall += wall * share
        model.races.done(rpc.serial, list(pending.held))
        return FetchJudged(conn.conn_id, rpc.serial, tuple(rows), wait_by_out, over_wait, over_wire, over_dec,
                           wall_by_out, over_wall)

    def _abandon(self, conn: ConnState, st: ConnAttribution, pending: PendingFetch, t_ns: int) -> None:
        """A GetLines that will never be answered (an error, a reused serial, lost bytes, the end of the
        connection): its wall time still counts, and its burst no longer waits for it."""
        st.pane(pending.pane_id).races.done(pending.serial, list(pending.held))
        wall, t_request = st.wall.end_fetch(pending.serial, t_ns)
        for tally in (st.tally, self.total):
            tally.fetch_wall_s += wall
        burst = pending.burst
        for target in (burst if burst is not None else self.outside,
                       self.total.pane_spend.setdefault(pending.pane_id, Spend())):
            target.wall_s += wall
        self.timeline.add(FetchMark(conn.conn_id, pending.pane_id, pending.serial, t_request, t_ns,
                                    len(pending.held), empty_rows(), dict(Counter(pending.causes.values())), 0, 0,
                                    wall, burst.index if burst is not None else None, answered=False))
        if burst is not None:
            burst.fetch_given_up(t_request, t_ns)

    def _lost_responses(self, conn: ConnState, st: ConnAttribution, t_ns: int) -> None:
        """The analysis skipped server bytes: the responses of the fetches in flight may be among them.
        Give those fetches up, so that neither their bursts nor their wall-clock time wait for ever."""
        for serial in list(st.pending):
            lost = st.pending.pop(serial)
            st.pane(lost.pane_id).fetch_failed(serial, list(lost.held))
            self._abandon(conn, st, lost, t_ns)

    def connection_closed(self, conn: ConnState) -> dict[str, Any] | None:
        st = self._conns.pop(conn.conn_id, None)
        if st is None:
            return None
        for serial in list(st.pending):
            self._abandon(conn, st, st.pending.pop(serial), st.last_t_ns)
        self._emit_open_bursts(st)
        t = st.tally
        return {
            "rows": dict(t.rows),
            "overfetch_rows": t.rows[Outcome.REDUNDANT] + t.rows[Outcome.SUPERSEDED],
            "overfetch_wait_s": round(t.wait_s[Outcome.REDUNDANT] + t.wait_s[Outcome.SUPERSEDED], 6),
        }

    def flush(self, now_ns: int | None) -> None:
        for st in list(self._conns.values()):
            self._emit_finished(st)
            self._maybe_close_burst(None, st, now_ns if now_ns is not None else st.last_t_ns)

    def finish(self) -> None:
        """End of a replay: every burst still open is complete."""
        for st in self._conns.values():
            self._emit_open_bursts(st)

    def _emit_open_bursts(self, st: ConnAttribution) -> None:
        for burst in [*st.ending, st.burst]:
            if burst is not None and not burst.closed:
                self._emit_burst(burst)
        st.ending.clear()

    def _emit_finished(self, st: ConnAttribution) -> None:
        """Summarise the ended bursts whose last GetLines has been answered (or given up)."""
        if not st.ending:
            return
        for burst in [b for b in st.ending if b.open_fetches <= 0]:
            st.ending.remove(burst)
            if not burst.closed:
                self._emit_burst(burst)

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
        old = st.pending.pop(serial, None)
        if old is not None:  # a reused serial replaces the old one: it will never be answered
            self._abandon(conn, st, old, t_ns)
        st.pending[serial] = pending
        st.wall.start_fetch(serial, t_ns)
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
        target: Burst | Spend = self.outside
        if burst is not None and not burst.closed and self._burst_active(burst, t_ns):
            pending.burst = target = burst
            burst.open_fetches += 1
            burst.panes.add(pane_id)
        for spend in (target, self.total.pane_spend.setdefault(pane_id, Spend())):
            spend.getlines += 1
            spend.rows_requested += len(held)

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
        self.timeline.add(PushMark(conn.conn_id, body["pane_id"], t_ns, body["seqno"],
                                   sum(max(0, b - a) for a, b in dirty), len(bonus)))

    # -- bursts ------------------------------------------------------------------
    def _resize(self, conn: ConnState, st: ConnAttribution, pane_id: int, t_ns: int) -> None:
        burst = st.burst
        if burst is not None and not burst.closed and t_ns - burst.t_last_resize_ns < self.burst_gap_ns:
            burst.t_last_resize_ns = t_ns
            burst.resizes.append(t_ns)
            burst.panes.add(pane_id)
            return
        if burst is not None and not burst.closed:
            if burst.open_fetches > 0:  # its rows are still coming: summarise it when the last arrives
                burst.ended = True
                st.ending.append(burst)
            else:
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
        self.settling.setdefault(burst.conn_id, IntervalUnion()).add(
            burst.t_first_ns, burst.t_first_ns + round(burst.settle_s() * 1e9))
        if len(self.bursts) < MAX_BURSTS_KEPT:
            self.bursts.append(summary)
        else:
            self.unlisted_bursts += 1
            self.unlisted.getlines += burst.getlines
            self.unlisted.rows_requested += burst.rows_requested
            add_response(self.unlisted, burst.rows, burst.wire_bytes, burst.decompressed_bytes, burst.wait_s,
                         burst.overfetch_wait_s)
            self.unlisted.wall_s += burst.wall_s
            self.unlisted.overfetch_wall_s += burst.overfetch_wall_s
        self.emit(BurstClosed(summary, burst.settle_s(), burst.rows_requested))

    # -- results -------------------------------------------------------------------
    def what_if(self) -> WhatIf:
        return what_if(self.total, self.bursts)

    def report(self) -> Report:
        """The analysis as the report's model (its ``to_json`` is the shape shared with the truth file)."""
        t = self.total
        return Report(
            rows=PerOutcome.of(t.rows),
            panes={p: PerOutcome.of(r) for p, r in sorted(t.panes.items())},
            causes={c: n for c, n in t.causes.items() if n},
            rows_by_cause=_nested(t.rows_by_cause_outcome),
            getlines=t.getlines,
            rows_requested=t.rows_requested,
            rows_returned=sum(t.rows.values()),
            bonus_rows=BonusRows.of(t.bonus_rows),
            fetch_wait_s=round(t.fetch_wait_s, 6),
            wait_s=PerOutcome.of(t.wait_s, _seconds),
            overfetch_wait_s=round(t.wait_s[Outcome.REDUNDANT] + t.wait_s[Outcome.SUPERSEDED], 6),
            wire_bytes=PerOutcome.of(t.wire_bytes, round),
            decompressed_bytes=PerOutcome.of(t.decompressed_bytes, round),
            coalescible_rows=t.coalescible_rows,
            crossed_requests=t.crossed_requests,
            client_model=self.client_model,
            bursts=tuple(sorted(self.bursts, key=lambda b: b.burst)),
            what_if=self.what_if(),
            fetch_wall_s=round(t.fetch_wall_s, 6),
            wall_s=PerOutcome.of(t.wall_s, _seconds),
            overfetch_wall_s=round(t.wall_s[Outcome.REDUNDANT] + t.wall_s[Outcome.SUPERSEDED], 6),
            outside_bursts=self.outside.summary(),
            unlisted_bursts=UnlistedBursts(self.unlisted_bursts, self.unlisted.summary()),
            settle_wall_s=round(sum(u.total() for u in self.settling.values()) / 1e9, 6),
            pane_stats={p: sp.summary() for p, sp in sorted(t.pane_spend.items())},
            timeline_complete=self.timeline.complete(),
            **t.raced_fields(),
            local_echo=self.echoes.summary(),
        )


def _seconds(v: float) -> float:
    """Seconds as the report gives them: to the microsecond."""
    return round(v, 6)


def _nested(d: dict[tuple[Cause, Outcome], int]) -> dict[Cause, dict[Outcome, int]]:
    out: dict[Cause, dict[Outcome, int]] = {}
    for (cause, out_name), n in sorted(d.items()):
        out.setdefault(cause, {})[out_name] = n
    return out
