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

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.analyzer import Addon, ConnState, lines_of
from proxy.analysis.connection import WireEvent
from proxy.analysis.linemodel import (
    CAUSES,
    CLIENT_MODEL_HELP,
    CLIENT_MODELS,
    OUTCOMES,
    LineFacts,
    PaneLines,
    PendingFetch,
    Push,
    empty_rows,
    outcome,
)
from proxy.analysis.rpc import Rpc
from proxy.relay.relay import CLIENT_TO_SERVER

DEBOUNCE_WHAT_IFS_MS = (50, 100, 250)
MAX_BURSTS_KEPT = 10_000
MAX_TIMELINE = 200_000


@dataclass
class Burst:
    index: int
    conn_id: int
    t_first_ns: int
    t_last_resize_ns: int
    resizes: list[int] = field(default_factory=list)  # resize times (ns), for the debounce what-if
    panes: set[int] = field(default_factory=set)
    getlines: int = 0
    rows_requested: int = 0
    rows: dict[str, int] = field(default_factory=empty_rows)
    wire_bytes: int = 0
    decompressed_bytes: int = 0
    wait_s: float = 0.0
    overfetch_wait_s: float = 0.0
    open_fetches: int = 0
    t_last_response_ns: int | None = None
    closed: bool = False
    #: (request, response) times of the GetLines it caused, for the busy time
    fetch_spans: list[tuple[int, int]] = field(default_factory=list)

    def busy_s(self) -> float:
        """Time during which at least one GetLines of this burst was in flight."""
        total = 0
        end = None
        for a, b in sorted(self.fetch_spans):
            if end is None or a > end:
                total += b - a
                end = b
            elif b > end:
                total += b - end
                end = b
        return total / 1e9

    def settle_s(self) -> float:
        end = self.t_last_response_ns if self.t_last_response_ns is not None else self.t_last_resize_ns
        return max(0.0, (end - self.t_first_ns) / 1e9)

    def quiet_since_ns(self) -> int:
        return max(self.t_last_resize_ns, self.t_last_response_ns or 0)

    def summary(self) -> dict[str, Any]:
        return {
            "burst": self.index,
            "conn": self.conn_id,
            "panes": sorted(self.panes),
            "resizes": len(self.resizes),
            "getlines": self.getlines,
            "rows_requested": self.rows_requested,
            "rows": dict(self.rows),
            "overfetch_rows": self.rows["redundant"] + self.rows["superseded"],
            "wire_bytes": self.wire_bytes,
            "decompressed_bytes": self.decompressed_bytes,
            "fetch_wait_s": round(self.wait_s, 6),
            "overfetch_wait_s": round(self.overfetch_wait_s, 6),
            "settle_s": round(self.settle_s(), 6),
            "fetch_busy_s": round(self.busy_s(), 6),
            "t_first_s": self.t_first_ns / 1e9,
            "resize_offsets_s": [round((t - self.t_first_ns) / 1e9, 6) for t in self.resizes],
        }


class _Triple:
    """(rows, wait seconds, wire bytes), added to with ``+= (n, w, b)``."""

    def __init__(self) -> None:
        self.rows = 0
        self.wait_s = 0.0
        self.wire_bytes = 0.0

    def __iadd__(self, other: tuple[int, float, float]) -> _Triple:
        self.rows += other[0]
        self.wait_s += other[1]
        self.wire_bytes += other[2]
        return self


class Tally:
    """Rows, wait and bytes added up per outcome and cause (one per connection, one overall)."""

    def __init__(self) -> None:
        self.rows = empty_rows()
        self.panes: dict[int, dict[str, int]] = {}
        self.causes = dict.fromkeys(CAUSES, 0)
        self.rows_by_cause_outcome: dict[tuple[str, str], int] = {}
        self.wait_s = dict.fromkeys(OUTCOMES, 0.0)
        self.wait_by_cause_outcome: dict[tuple[str, str], float] = {}
        self.wire_bytes = dict.fromkeys(OUTCOMES, 0.0)
        self.decompressed_bytes = dict.fromkeys(OUTCOMES, 0.0)
        self.bytes_by_cause_outcome: dict[tuple[str, str], float] = {}
        self.bonus_rows = {"redundant": 0, "changed": 0, "new": 0}
        self.getlines = 0
        self.rows_requested = 0
        #: rows asked for again while a still-valid fetch for them was pending or had been dropped
        self.coalescible_rows = 0
        #: GetLines the client wrote before it read pushes the proxy had already relayed (see linemodel)
        self.crossed_requests = 0
        self.fetch_wait_s = 0.0
        #: rows a selective client would not have asked for: (rows, wait, wire bytes)
        self.selective_saved = _Triple()

    def add_row(self, pane: int, cause: str, out: str, wait: float, wire: float, dec: float) -> None:
        self.rows[out] += 1
        self.panes.setdefault(pane, empty_rows())[out] += 1
        key = (cause, out)
        self.rows_by_cause_outcome[key] = self.rows_by_cause_outcome.get(key, 0) + 1
        self.wait_s[out] += wait
        self.wait_by_cause_outcome[key] = self.wait_by_cause_outcome.get(key, 0.0) + wait
        self.wire_bytes[out] += wire
        self.decompressed_bytes[out] += dec
        self.bytes_by_cause_outcome[key] = self.bytes_by_cause_outcome.get(key, 0.0) + wire


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
    #: the client fetch logic the line model mirrors (linemodel.CLIENT_MODELS)
    client: str = "wezterm"

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

    def __init__(self, metrics: Any = None, burst_gap_s: float = 0.25, live: bool = True,
                 logger: Any = None, record_rows: bool = False, client_model: str = "wezterm") -> None:
        from proxy.observe import logs

        if client_model not in CLIENT_MODELS:
            raise ValueError(f"client model {client_model!r}: expected one of {', '.join(CLIENT_MODELS)}")
        self.client_model = client_model
        self.metrics = metrics
        self.burst_gap_ns = int(burst_gap_s * 1e9)
        self.live = live
        self.log = logger if logger is not None else logs.get_logger()
        self.total = Tally()
        #: (conn, serial, pane, row, outcome, cause) per fetched row, when record_rows (tests, truth checks)
        self.row_log: list[tuple[int, int, int, int, str, str]] | None = [] if record_rows else None
        #: (conn, serial) of each GetLines judged to have crossed a push, when record_rows
        self.crossed_log: set[tuple[int, int]] | None = set() if record_rows else None
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
                kind = "tab_resized" if pane_id in st.resync and st.resync[pane_id] == size else "resize"
                st.resync.pop(pane_id, None)
                st.pane(pane_id).make_all_stale(kind, ev.t_ns, cols=body["size"]["cols"])
                self._resize(conn, st, pane_id, ev.t_ns)
            elif name == "SetPaneZoomed":
                st.pane(body["pane_id"]).make_all_stale("zoom", ev.t_ns)
            elif name == "SendKeyDown":
                st.pane(body["pane_id"]).set_input_serial(body["input_serial"], ev.t_ns)
            return
        if name == "GetPaneRenderChangesResponse":
            self._changes(conn, st, body, ev.t_ns)
        elif name == "SetPalette":
            st.pane(body["pane_id"]).make_all_stale("palette", ev.t_ns, from_client=False)
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
        model = st.pane(pending.pane_id)
        total_bytes = sum(ln.byte_length for ln in summary.lines) or 1
        wire_total = rpc.response.wire_len
        dec_total = len(rpc.response.payload)
        latency = rpc.latency_s
        counts = empty_rows()
        causes: dict[str, int] = {}
        over_wait = 0.0
        over_wire = over_dec = 0.0
        wait_by_out = dict.fromkeys(OUTCOMES, 0.0)
        burst = pending.burst
        version = conn.decoder.codec_version
        for i, ln in enumerate(summary.lines):
            share = ln.byte_length / total_bytes
            held = pending.held[ln.row] if ln.row in pending.held else model.held(ln.row)
            facts = LineFacts(summary, i, version)
            saved = ln.row in pending.selective_saved
            kept = model.response_line(rpc.serial, ln.row, ln.fingerprint, ln.seqno, st.next_seq(), facts, saved)
            out = outcome(held, ln.fingerprint, kept)
            cause = pending.causes.get(ln.row, "unexplained")
            counts[out] += 1
            causes[cause] = causes.get(cause, 0) + 1
            if self.row_log is not None:
                self.row_log.append((conn.conn_id, rpc.serial, pending.pane_id, ln.row, out, cause))
            wait, wire, dec = latency * share, wire_total * share, dec_total * share
            wait_by_out[out] += wait
            if saved:
                for tally in (st.tally, self.total):
                    tally.selective_saved += (1, wait, wire)
            for tally in (st.tally, self.total):
                tally.add_row(pending.pane_id, cause, out, wait, wire, dec)
            if out in ("redundant", "superseded"):
                over_wait += wait
                over_wire += wire
                over_dec += dec
            if self.metrics is not None:
                self.metrics.rows_delivered.labels("getlines", out).inc()
        for tally in (st.tally, self.total):
            tally.fetch_wait_s += latency
        if burst is not None:
            burst.open_fetches -= 1
            burst.t_last_response_ns = max(burst.t_last_response_ns or 0, rpc.t_response_ns)
            for k, v in counts.items():
                burst.rows[k] += v
            burst.wire_bytes += wire_total
            burst.decompressed_bytes += dec_total
            burst.wait_s += latency
            burst.overfetch_wait_s += over_wait
            burst.fetch_spans.append((rpc.t_request_ns, rpc.t_response_ns))
        if len(self.fetches) < MAX_TIMELINE:
            self.fetches.append((rpc.t_request_ns, rpc.t_response_ns, pending.pane_id, counts,
                                 burst.index if burst is not None else None, rpc.serial))
        m = self.metrics
        if m is not None:
            for out, w in wait_by_out.items():
                if w:
                    m.fetch_wait.labels(out).inc(w)
            m.overfetch_bytes.labels("wire").inc(over_wire)
            m.overfetch_bytes.labels("decompressed").inc(over_dec)
        return {
            "outcomes": counts,
            "causes": causes,
            "overfetch_rows": counts["redundant"] + counts["superseded"],
            "overfetch_wait_ms": round(over_wait * 1000, 3),
            **({"burst": burst.index} if burst is not None else {}),
        }

    def connection_closed(self, conn: ConnState) -> dict[str, Any] | None:
        st = self._conns.pop(conn.conn_id, None)
        if st is None:
            return None
        if st.burst is not None and not st.burst.closed:
            self._emit_burst(st.burst)
        t = st.tally
        return {
            "rows": dict(t.rows),
            "overfetch_rows": t.rows["redundant"] + t.rows["superseded"],
            "overfetch_wait_s": round(t.wait_s["redundant"] + t.wait_s["superseded"], 6),
        }

    def flush(self) -> None:
        now = time.monotonic_ns() if self.live else None
        for st in list(self._conns.values()):
            self._maybe_close_burst(None, st, now if now is not None else st.last_t_ns)

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
        if req.crossed and self.crossed_log is not None:
            self.crossed_log.add((conn.conn_id, serial))
        pending = PendingFetch(serial, pane_id, held, causes, selective_saved=req.selective_saved)
        st.pending[serial] = pending  # a reused serial replaces the old one: it will never be answered
        for tally in (st.tally, self.total):
            tally.getlines += 1
            tally.rows_requested += len(held)
            for c in causes.values():
                tally.causes[c] += 1
        if self.metrics is not None:
            counts: dict[str, int] = {}
            for c in causes.values():
                counts[c] = counts.get(c, 0) + 1
            for c, n in counts.items():
                self.metrics.rows_fetched.labels(c).inc(n)
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
            for i, ln in enumerate(summary.lines):
                bonus_facts[ln.row] = LineFacts(summary, i, version)
                out = outcome(model.held(ln.row), ln.fingerprint, True)
                for tally in (st.tally, self.total):
                    tally.bonus_rows[out] += 1
                if self.metrics is not None:
                    self.metrics.rows_delivered.labels("bonus", out).inc()
                bonus.append((ln.row, ln.fingerprint, ln.seqno))
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
        m = self.metrics
        if m is not None:
            m.resize_bursts.inc()
            m.burst_settle.observe(burst.settle_s())
            m.burst_rows.observe(burst.rows_requested)
        self.log.info("resize_burst", **{k: v for k, v in summary.items() if k != "resize_offsets_s"})

    # -- results -------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The analysis in the JSON shape shared with the emulated client's truth file."""
        t = self.total
        over_wait = t.wait_s["redundant"] + t.wait_s["superseded"]
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

    def what_if(self) -> dict[str, Any]:
        t = self.total
        sel = t.selective_saved
        sel_rows, sel_wait, sel_bytes = sel.rows, sel.wait_s, sel.wire_bytes
        coal_rows = t.coalescible_rows
        coal_share = coal_rows / t.rows_requested if t.rows_requested else 0.0
        coal_wait = t.fetch_wait_s * coal_share
        coal_bytes = sum(t.wire_bytes.values()) * coal_share
        debounce = {}
        for ms in DEBOUNCE_WHAT_IFS_MS:
            saved_rows = saved_wait = 0.0
            sent_total = resizes_total = 0
            for b in self.bursts:
                offsets = b["resize_offsets_s"]
                n = len(offsets)
                if not n:
                    continue
                sent = 1 + sum(1 for a, c in itertools.pairwise(offsets) if (c - a) * 1000 >= ms)
                frac = 1 - sent / n
                saved_rows += b["rows_requested"] * frac
                saved_wait += b["fetch_wait_s"] * frac
                sent_total += sent
                resizes_total += n
            debounce[f"{ms}ms"] = {
                "resizes_sent": sent_total,
                "resizes": resizes_total,
                "rows_saved": round(saved_rows),
                "wait_saved_s": round(saved_wait, 6),
            }
        return {
            "model": (
                "Rows a policy would not have fetched, with the wait and wire bytes those rows were "
                "apportioned (by serialized size) in the recorded run. selective: a client that, on a "
                "resize, stales only the rows a rewrap to the new width can alter (rows of logical lines "
                "that were wrapped or are wider than the new width, and every held row below one whose row "
                "count may change; none when only the height changed) instead of every row, and otherwise "
                "behaves as WezTerm's: the rows requested because of a resize that this rule would not have "
                "staled, and get_lines' refetches of lines only such a fetch brought. coalesce: rows asked "
                "for again while a fetch for them sent after their last invalidation was still in flight or "
                "had been dropped (the wait and bytes are their share of all fetches). debounce: per "
                "burst, rows and fetch wait scale with the number of Resize PDUs still sent (one per pause "
                "of at least the debounce interval, plus the last)."
            ),
            "selective": {"rows_saved": sel_rows, "wait_saved_s": round(sel_wait, 6),
                          "wire_bytes_saved": round(sel_bytes)},
            "coalesce": {"rows_saved": coal_rows, "wait_saved_s": round(coal_wait, 6),
                         "wire_bytes_saved": round(coal_bytes)},
            "debounce": debounce,
        }


def add_client_model_argument(parser: Any) -> None:
    """``--client-model``, for every command that runs the analysis."""
    parser.add_argument("--client-model", choices=CLIENT_MODELS, default="wezterm", help=CLIENT_MODEL_HELP)


def _nested(d: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (cause, out_name), n in sorted(d.items()):
        out.setdefault(cause, {})[out_name] = n
    return out
