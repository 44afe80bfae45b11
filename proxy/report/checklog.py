"""``muxscope check-log``: wezterm-gui's own record of its line cache against muxscope's reading of the wire.

muxscope infers, from the wire alone, whether the client kept or dropped each
row a GetLinesResponse brought (``superseded`` is a drop; ``redundant``,
``changed`` and ``new`` are kept). wezterm-gui, run with
``WEZTERM_LOG=wezterm_client=trace``, writes down what it actually did
(:mod:`proxy.report.wezlog`). This module lines the two up and compares them
row by row, so that a user with a real wezterm can check muxscope's reading of
their own session, and send the disagreements with a bug report.

Alignment. The log names each fetch by pane and row ranges, not by serial.
wezterm-gui sends its GetLines in the order it schedules them (each from a
task spawned in that order on the GUI thread, serials given in order by the
client thread: ``client.rs`` ``client_thread_async``), so the k-th logged fetch
of a (pane, ranges) is the k-th GetLines with that pane and those ranges on
the wire. Fetches the capture does not hold (another domain, or before the
capture started) and requests the log does not hold (another client, or
before the log started) are counted, not compared.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.analyzer import Addon, Analyzer, ConnState, lines_of
from proxy.analysis.attribution import AttributionAddon
from proxy.analysis.connection import WireEvent
from proxy.capture.format import open_capture
from proxy.capture.offline import replay_records
from proxy.report.wezlog import LoggedFetch, Verdict, WezLogRecord, parse_wezterm_log

#: disagreements listed in full (the JSON has them all)
MAX_SHOWN = 50
#: log lines of context per disagreement
CONTEXT_LINES = 6

Ranges = tuple[tuple[int, int], ...]


class _Requests(Addon):
    """Every GetLines on the wire (connection, serial, pane, ranges) in wire order, and the rows of each reply."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, int, int, Ranges]] = []
        self.reply_rows: dict[tuple[int, int], list[int]] = {}
        self.t_request: dict[tuple[int, int], int] = {}

    def wire_event(self, conn: ConnState, ev: WireEvent) -> None:
        pdu = ev.pdu
        if pdu is None or not isinstance(pdu.body, dict):
            return
        if ev.from_client and pdu.name == "GetLines":
            ranges = tuple((r["start"], r["end"]) for r in pdu.body["lines"])
            self.requests.append((conn.conn_id, pdu.serial, pdu.body["pane_id"], ranges))
            self.t_request[(conn.conn_id, pdu.serial)] = ev.t_ns
        elif not ev.from_client and pdu.name == "GetLinesResponse":
            summary = lines_of(pdu)
            if summary is not None:
                self.reply_rows[(conn.conn_id, pdu.serial)] = [ln.row for ln in summary.lines]


@dataclass(frozen=True, slots=True)
class Disagreement:
    conn: int
    serial: int
    pane: int
    row: int
    #: what wezterm-gui did: kept / left / gone, or "absent" (the log has no word on a row of the reply)
    wezterm: str
    #: muxscope's outcome (redundant, changed, new, superseded) and cause, or "none"
    muxscope: str
    cause: str
    crossed: bool
    fetch_line: int
    context: tuple[str, ...]


@dataclass
class CheckResult:
    log_fetches: int = 0
    capture_requests: int = 0
    aligned: int = 0
    only_in_log: int = 0
    only_in_capture: int = 0
    #: aligned fetches whose reply the log never shows applied (log or session ended first)
    unapplied: int = 0
    rows_compared: int = 0
    agree: collections.Counter[str] = field(default_factory=collections.Counter)
    disagreements: list[Disagreement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def agreeing(self) -> int:
        return sum(self.agree.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "log_fetches": self.log_fetches, "capture_requests": self.capture_requests,
            "aligned": self.aligned, "only_in_log": self.only_in_log, "only_in_capture": self.only_in_capture,
            "unapplied": self.unapplied, "rows_compared": self.rows_compared, "rows_agree": self.agreeing,
            "agree": dict(self.agree), "rows_disagree": len(self.disagreements),
            "disagreements": [
                {"conn": d.conn, "serial": d.serial, "pane": d.pane, "row": d.row, "wezterm": d.wezterm,
                 "muxscope": d.muxscope, "cause": d.cause, "crossed": d.crossed, "log_line": d.fetch_line,
                 "context": list(d.context)}
                for d in self.disagreements
            ],
            "notes": self.notes,
        }  # fmt: skip



def _kept(outcome: str) -> bool:
    return outcome != "superseded"


def _context(log: WezLogRecord, fetch: LoggedFetch, row: int) -> tuple[str, ...]:
    """The log's lines about this pane's row from the fetch up to the reply's end."""
    end = fetch.complete_lineno if fetch.complete_lineno is not None else fetch.lineno
    last = max((ln for _, ln, _ in fetch.rows.values()), default=end)
    events = [e for e in log.row_events.get((fetch.pane, row), ()) if fetch.lineno <= e.lineno <= max(end, last)]
    head = f"{fetch.lineno}: will fetch lines {list(fetch.ranges)} for pane {fetch.pane}"
    return (head, *(f"{e.lineno}: {e.text}" for e in events[-CONTEXT_LINES:]))


def compare(log: WezLogRecord, requests: _Requests, attribution: Any) -> CheckResult:
    """Align the log's fetches with the capture's GetLines and compare each row's fate.

    ``attribution`` is an :class:`AttributionAddon` that recorded rows (or anything with the same
    ``row_log`` and ``crossed_log``: the tests pass the emulated client's own record)."""
    res = CheckResult(log_fetches=len(log.fetches), capture_requests=len(requests.requests))
    queues: dict[tuple[int, Ranges], collections.deque[tuple[int, int]]] = collections.defaultdict(collections.deque)
    for conn, serial, pane, ranges in requests.requests:
        queues[(pane, ranges)].append((conn, serial))
    outcomes = {(c, s, row): (out, cause) for c, s, _p, row, out, cause in attribution.row_log or ()}
    crossed = attribution.crossed_log or set()
    for fetch in log.fetches:
        queue = queues.get((fetch.pane, fetch.ranges))
        if not queue:
            res.only_in_log += 1
            continue
        conn, serial = queue.popleft()
        res.aligned += 1
        rows = requests.reply_rows.get((conn, serial))
        if not fetch.applied or rows is None:
            res.unapplied += 1
            continue
        for row in rows:
            _compare_row(res, log, fetch, conn, serial, row, outcomes.get((conn, serial, row)),
                         (conn, serial) in crossed)
        for row in set(fetch.rows) - set(rows):
            res.notes.append(f"log line {fetch.rows[row][1]}: row {row} of pane {fetch.pane} is not in the reply "
                             f"to serial {serial} (misaligned fetch?)")
    res.only_in_capture = sum(len(q) for q in queues.values())
    return res


def _compare_row(res: CheckResult, log: WezLogRecord, fetch: LoggedFetch, conn: int, serial: int, row: int,
                 mine: tuple[str, str] | None, crossed: bool) -> None:
    said = fetch.rows.get(row)
    verdict = said[0] if said is not None else Verdict.GONE
    res.rows_compared += 1
    outcome, cause = mine if mine is not None else ("none", "none")
    if mine is not None and _kept(outcome) == (verdict is Verdict.KEPT):
        res.agree["kept" if verdict is Verdict.KEPT else "dropped"] += 1
        return
    wez = verdict.value + (f" ({said[2]})" if said is not None and said[2] else "")
    res.disagreements.append(Disagreement(conn, serial, fetch.pane, row, wez, outcome, cause, crossed,
                                          fetch.lineno, _context(log, fetch, row)))


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: self


def read_capture(capture_path: str, client_model: str = "wezterm") -> tuple[_Requests, AttributionAddon]:
    """Analyse the capture as ``muxscope report`` does, keeping every row's outcome and every GetLines."""
    reader = open_capture(capture_path)
    try:
        attribution = AttributionAddon(None, live=False, logger=_Quiet(), record_rows=True, client_model=client_model)
        requests = _Requests()
        analyzer = Analyzer(None, [attribution, requests], logger=_Quiet())
        replay_records(reader, analyzer)
        attribution.finish()
    finally:
        reader.f.close()
    return requests, attribution


def check(log_lines: Iterable[str], capture_path: str, client_model: str = "wezterm") -> CheckResult:
    """Parse the log, analyse the capture, and compare them."""
    log = parse_wezterm_log(log_lines)
    if not log.fetches:
        raise ValueError("the log has no 'will fetch lines' trace: was wezterm-gui started with "
                         "WEZTERM_LOG=wezterm_client=trace (see docs/wezterm-config.md)?")
    requests, attribution = read_capture(capture_path, client_model)
    res = compare(log, requests, attribution)
    if log.orphan_completions:
        res.notes.append(f"{log.orphan_completions} replies in the log belong to fetches logged before it starts")
    return res


def render_text(res: CheckResult, log_path: str, capture_path: str) -> str:
    """The human-readable verdict: agreement first, then every disagreement with its context."""
    share = 100.0 * res.agreeing / res.rows_compared if res.rows_compared else 0.0
    out = [
        f"check-log: {log_path} vs {capture_path}",
        f"fetches: {res.log_fetches} in the log, {res.capture_requests} GetLines in the capture, {res.aligned} aligned "
        f"({res.only_in_log} only in the log, {res.only_in_capture} only in the capture, "
        f"{res.unapplied} never applied)",
        f"rows compared: {res.rows_compared}; agree {res.agreeing} ({share:.2f}%: kept by both "
        f"{res.agree['kept']}, dropped by both {res.agree['dropped']}); disagree {len(res.disagreements)}",
    ]
    for d in res.disagreements[:MAX_SHOWN]:
        kept = "kept" if d.wezterm == "kept" else "dropped"
        out.append(f"  serial {d.serial} pane {d.pane} row {d.row}: wezterm-gui {kept} it ({d.wezterm}); muxscope "
                   f"says {d.muxscope} (cause {d.cause}{', request judged crossed' if d.crossed else ''})")
        out.extend(f"      {c}" for c in d.context)
    if len(res.disagreements) > MAX_SHOWN:
        out.append(f"  ... and {len(res.disagreements) - MAX_SHOWN} more (--json lists them all)")
    out.extend(f"note: {n}" for n in res.notes[:10])
    return "\n".join(out)
