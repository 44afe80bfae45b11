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
import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from proxy.analysis.analyzer import Addon, Analyzer, ConnState, lines_of
from proxy.analysis.attribution import AttributionAddon
from proxy.analysis.connection import WireEvent
from proxy.analysis.fetchlimit import DEFAULT_PREFETCHES_PER_SECOND
from proxy.analysis.localecho import capture_threshold
from proxy.capture.format import open_capture
from proxy.capture.offline import replay_records
from proxy.observe.sinks import RowLog
from proxy.report.wezlog import LoggedFetch, Verdict, WezLogRecord, parse_wezterm_log, read_lines

#: log lines of context per disagreement
CONTEXT_LINES = 6
#: estimating the clocks' offset: logged fetches looked at, and the width of a vote's bin (seconds)
OFFSET_SAMPLE = 300
OFFSET_BIN_S = 0.01

Ranges = tuple[tuple[int, int], ...]


class _Requests(Addon):
    """Every GetLines on the wire (connection, serial, pane, ranges) in wire order, and the rows of each reply."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, int, int, Ranges]] = []
        self.reply_rows: dict[tuple[int, int], list[int]] = {}
        self.t_request: dict[tuple[int, int], int] = {}
        self.t_reply: dict[tuple[int, int], int] = {}
        #: (conn, pane, seqno) -> when the first push with that seqno was relayed
        self.t_push: dict[tuple[int, int, int], int] = {}
        #: the capture's start as a UTC time of day (seconds), if its header says
        self.t0_seconds_of_day: float | None = None

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
                self.t_reply[(conn.conn_id, pdu.serial)] = ev.t_ns
        elif not ev.from_client and pdu.name == "GetPaneRenderChangesResponse":
            self.t_push.setdefault((conn.conn_id, pdu.body["pane_id"], pdu.body["seqno"]), ev.t_ns)


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
    #: the log's lines about the row from the fetch to its reply (numbers; the texts are in
    #: :attr:`CheckResult.texts`)
    context: tuple[int, ...]
    #: a remark of our own after the context (a row with no line)
    context_note: str = ""
    #: what the two records together suggest (see :func:`_explain`)
    reason: str = ""


@dataclass
class CheckResult:
    log_fetches: int = 0
    capture_requests: int = 0
    aligned: int = 0
    only_in_log: int = 0
    only_in_capture: int = 0
    #: aligned fetches whose reply the log never shows applied (log or session ended first)
    unapplied: int = 0
    #: the log clock minus the capture's (time zone and hosts), and the largest gap of an aligned pair
    clock_offset_s: float | None = None
    max_skew_s: float = 0.0
    rows_compared: int = 0
    agree: collections.Counter[str] = field(default_factory=collections.Counter)
    disagreements: list[Disagreement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the text of every log line a disagreement's context names
    texts: dict[int, str] = field(default_factory=dict)

    def context_of(self, d: Disagreement) -> list[str]:
        out = [f"{n}: {self.texts.get(n, '(line not read)')}" for n in d.context]
        return out + ([d.context_note] if d.context_note else [])

    @property
    def agreeing(self) -> int:
        return sum(self.agree.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "log_fetches": self.log_fetches, "capture_requests": self.capture_requests,
            "aligned": self.aligned, "only_in_log": self.only_in_log, "only_in_capture": self.only_in_capture,
            "unapplied": self.unapplied, "clock_offset_s": self.clock_offset_s,
            "max_skew_s": round(self.max_skew_s, 4), "rows_compared": self.rows_compared, "rows_agree": self.agreeing,
            "agree": dict(self.agree), "rows_disagree": len(self.disagreements),
            "disagreements": [
                {"conn": d.conn, "serial": d.serial, "pane": d.pane, "row": d.row, "wezterm": d.wezterm,
                 "muxscope": d.muxscope, "cause": d.cause, "crossed": d.crossed, "log_line": d.fetch_line,
                 "reason": d.reason, "context": self.context_of(d)}
                for d in self.disagreements
            ],
            "notes": self.notes,
        }  # fmt: skip



def _kept(outcome: str) -> bool:
    return outcome != "superseded"


def _context(log: WezLogRecord, fetch: LoggedFetch, row: int) -> tuple[tuple[int, ...], str]:
    """The numbers of the log's lines about this pane's row from the fetch up to the reply's end
    (the fetch's own line and its ``fetch complete`` included), and a remark for a row with no line."""
    end = fetch.complete_lineno if fetch.complete_lineno is not None else fetch.lineno
    last = max((ln for _, ln, _ in fetch.rows.values()), default=end)
    events = [e.lineno for e in log.row_events.get((fetch.pane, row), ()) if fetch.lineno <= e.lineno <= max(end, last)]
    lines = sorted({fetch.lineno, end, *events[-CONTEXT_LINES:]})
    note = ""
    if row not in fetch.rows and fetch.complete_lineno is not None:
        note = (f"(no line for row {row} after line {end}: put_line found no entry; made stale while Fetching, "
                "or evicted)")
    return tuple(lines), note


def _seconds_of_day(ts: str) -> float:
    h, m, sec = ts.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def _wrap(x: float) -> float:
    """A difference of times of day, into [-12 h, 12 h)."""
    return (x + 43200.0) % 86400.0 - 43200.0


class _Clock:
    """The capture's time of each GetLines as a time of day, and the log clock's offset from it.

    The log's times are wall clock, local time, to the millisecond; the capture's are monotonic
    from a UTC wall-clock start. The offset (time zone, two hosts' clocks) is the most common
    difference between a logged fetch and a GetLines with the same pane and ranges: true pairs
    all share it, false ones scatter."""

    def __init__(self, requests: _Requests, log: WezLogRecord) -> None:
        self.t0 = requests.t0_seconds_of_day
        self.t_request = requests.t_request
        self.offset: float | None = None
        if self.t0 is None:
            return
        by_key: dict[tuple[int, Ranges], list[tuple[int, int]]] = collections.defaultdict(list)
        for conn, serial, pane, ranges in requests.requests:
            by_key[(pane, ranges)].append((conn, serial))
        votes: collections.Counter[int] = collections.Counter()
        for fetch in log.fetches[:OFFSET_SAMPLE]:
            for req in by_key.get((fetch.pane, fetch.ranges), ())[:OFFSET_SAMPLE]:
                votes[round(self.delta(fetch, req, 0.0) / OFFSET_BIN_S)] += 1
        if votes:
            best = max(votes, key=lambda b: (votes[b - 1] + votes[b] + votes[b + 1], votes[b]))
            near = [b for b in (best - 1, best, best + 1) for _ in range(votes[b])]
            self.offset = sorted(near)[len(near) // 2] * OFFSET_BIN_S

    def delta(self, fetch: LoggedFetch, req: tuple[int, int], offset: float | None = None) -> float:
        """The log's time of ``fetch`` minus the capture's time of ``req``, less the offset."""
        assert self.t0 is not None
        cap = self.t0 + self.t_request[req] / 1e9
        return _wrap(_seconds_of_day(fetch.ts) - cap - (self.offset if offset is None else offset))


def _align(log: WezLogRecord, requests: _Requests, window_s: float,
           res: CheckResult) -> list[tuple[LoggedFetch, tuple[int, int]]]:
    """Pair each logged fetch with its GetLines: in order per (pane, ranges), and, when both files
    carry wall-clock times, within ``window_s`` of each other once the clocks' offset is out
    (so fetches logged before the capture began, or after it ended, pair with nothing)."""
    queues: dict[tuple[int, Ranges], collections.deque[tuple[int, int]]] = collections.defaultdict(collections.deque)
    for conn, serial, pane, ranges in requests.requests:
        queues[(pane, ranges)].append((conn, serial))
    clock = _Clock(requests, log)
    res.clock_offset_s = clock.offset
    pairs = []
    for fetch in log.fetches:
        queue = queues.get((fetch.pane, fetch.ranges))
        while queue and clock.offset is not None and clock.delta(fetch, queue[0]) > window_s:
            queue.popleft()  # a request from before this fetch that the log does not hold
            res.only_in_capture += 1
        if not queue or (clock.offset is not None and clock.delta(fetch, queue[0]) < -window_s):
            res.only_in_log += 1
            continue
        req = queue.popleft()
        if clock.offset is not None:
            res.max_skew_s = max(res.max_skew_s, abs(clock.delta(fetch, req)))
        pairs.append((fetch, req))
    res.only_in_capture += sum(len(q) for q in queues.values())
    return pairs


def compare(log: WezLogRecord, requests: _Requests, attribution: Any, window_s: float = 0.5) -> CheckResult:
    """Align the log's fetches with the capture's GetLines and compare each row's fate.

    ``attribution`` is :func:`read_capture`'s :class:`Judged` (or anything with the same ``row_log``
    and ``crossed_log``: the tests pass the emulated client's own record)."""
    res = CheckResult(log_fetches=len(log.fetches), capture_requests=len(requests.requests))
    outcomes = {(c, s, row): (out, cause) for c, s, _p, row, out, cause in attribution.row_log or ()}
    crossed = attribution.crossed_log or set()
    raced = getattr(attribution, "raced_log", None) or set()
    for fetch, (conn, serial) in _align(log, requests, window_s, res):
        res.aligned += 1
        rows = requests.reply_rows.get((conn, serial))
        if not fetch.applied or rows is None:
            res.unapplied += 1
            continue
        for row in rows:
            _compare_row(res, log, requests, fetch, (conn, serial), row, outcomes.get((conn, serial, row)),
                         (conn, serial) in crossed, (conn, serial, row) in raced)
        for row in set(fetch.rows) - set(rows):
            res.notes.append(f"log line {fetch.rows[row][1]}: row {row} of pane {fetch.pane} is not in the reply "
                             f"to serial {serial} (misaligned fetch?)")
    return res


def _compare_row(res: CheckResult, log: WezLogRecord, requests: _Requests, fetch: LoggedFetch, req: tuple[int, int],
                 row: int, mine: tuple[str, str] | None, crossed: bool, raced: bool = False) -> None:
    conn, serial = req
    said = fetch.rows.get(row)
    verdict = said[0] if said is not None else Verdict.GONE
    res.rows_compared += 1
    outcome, cause = mine if mine is not None else ("none", "none")
    if mine is not None and _kept(outcome) == (verdict is Verdict.KEPT):
        res.agree["kept" if verdict is Verdict.KEPT else "dropped"] += 1
        return
    if mine is not None and raced and verdict is Verdict.KEPT:
        # a raced row (README "Raced rows"): the GUI applied the reply before the push that
        # touched the row, and kept it until the push; superseded whichever the order
        res.agree["raced"] += 1
        return
    wez = verdict.value + (f" ({said[2]})" if said is not None and said[2] else "")
    context, note = _context(log, fetch, row)
    res.disagreements.append(Disagreement(conn, serial, fetch.pane, row, wez, outcome, cause, crossed,
                                          fetch.lineno, context, note,
                                          _explain(log, requests, fetch, conn, serial, row)))


def _explain(log: WezLogRecord, requests: _Requests, fetch: LoggedFetch, conn: int, serial: int, row: int) -> str:
    """Why the two may differ, when the records show it: a push that touched the row reached the
    client before the reply (the wire's order, which muxscope follows) but was applied after it.
    wezterm-gui applies a push two turns of its main-thread queue after reading it and a reply one
    turn after, so this happens, the more often the busier the GUI thread is."""
    t_reply = requests.t_reply.get((conn, serial))
    if t_reply is None or fetch.complete_lineno is None:
        return ""
    for e in log.row_events.get((fetch.pane, row), ()):
        if e.push_seqno is None or e.lineno < fetch.complete_lineno:
            continue
        t_push = requests.t_push.get((conn, fetch.pane, e.push_seqno))
        if t_push is not None and t_push < t_reply:
            return (f"reordered: the push with seqno {e.push_seqno} came before this reply on the wire but was "
                    "applied after it (pushes wait two turns of the GUI queue, replies one: "
                    "docs/wezterm-behaviour.md, item 1)")
    return ""


@dataclass(frozen=True)
class Judged:
    """muxscope's outcome for every fetched row of a capture, and the requests it judged crossed."""

    #: (conn, serial, pane, row, outcome, cause) per fetched row
    row_log: list[tuple[int, int, int, int, str, str]]
    crossed_log: set[tuple[int, int]]
    #: (conn, serial, row) of each raced row: the log may show it kept (applied before the push)
    raced_log: set[tuple[int, int, int]] = field(default_factory=set)


def read_capture(capture_path: str, client_model: str = "wezterm",
                 local_echo: str = "auto",
                 prefetch_rate: int = DEFAULT_PREFETCHES_PER_SECOND) -> tuple[_Requests, Judged]:
    """Analyse the capture as ``muxscope report`` does, keeping every row's outcome and every GetLines."""
    reader = open_capture(capture_path)
    try:
        attribution = AttributionAddon(client_model=client_model, prefetch_rate=prefetch_rate,
                                       local_echo_ms=capture_threshold(local_echo, reader.header))
        requests = _Requests()
        rows = RowLog()
        analyzer = Analyzer([attribution, requests], emit=rows)
        replay_records(reader, analyzer)
        attribution.finish()
        requests.t0_seconds_of_day = _utc_seconds_of_day(reader.header.get("started_at"))
    finally:
        reader.f.close()
    return requests, Judged([(c, s, p, r, str(o), str(k)) for c, s, p, r, o, k in rows.rows], rows.crossed,
                            {(c, s, r) for c, s, _, r in rows.raced})


def _utc_seconds_of_day(started_at: Any) -> float | None:
    try:
        t = datetime.datetime.fromisoformat(str(started_at)).astimezone(datetime.UTC)
    except ValueError:
        return None
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def check(log_source: str | Iterable[str], capture_path: str, client_model: str = "wezterm",
          window_s: float = 0.5, local_echo: str = "auto",
          prefetch_rate: int = DEFAULT_PREFETCHES_PER_SECOND) -> CheckResult:
    """Parse the log (a path, read twice: once whole, once for the lines the report quotes; or
    lines), analyse the capture, and compare them."""
    if isinstance(log_source, str):
        with open(log_source, encoding="utf-8", errors="replace") as fh:
            log = parse_wezterm_log(fh)
    else:
        log_source = list(log_source)
        log = parse_wezterm_log(log_source)
    if not log.fetches:
        raise ValueError("the log has no 'will fetch lines' trace: was wezterm-gui started with "
                         "WEZTERM_LOG=wezterm_client=trace (see docs/wezterm-config.md)?")
    requests, attribution = read_capture(capture_path, client_model, local_echo, prefetch_rate)
    res = compare(log, requests, attribution, window_s)
    if log.orphan_completions:
        res.notes.append(f"{log.orphan_completions} replies in the log belong to fetches logged before it starts")
    wanted = {n for d in res.disagreements for n in d.context}
    if isinstance(log_source, str):
        with open(log_source, encoding="utf-8", errors="replace") as fh:
            res.texts = read_lines(fh, wanted)
    else:
        res.texts = read_lines(log_source, wanted)
    return res


def _clock_line(res: CheckResult) -> str:
    if res.clock_offset_s is None:
        return "clocks: the capture has no start time; fetches aligned by order alone"
    return (f"clocks: the log is {res.clock_offset_s:+.2f} s from the capture; aligned pairs at most "
            f"{res.max_skew_s * 1000:.0f} ms apart beyond that")


def render_text(res: CheckResult, log_path: str, capture_path: str, limit: int | None = None) -> str:
    """The human-readable verdict: agreement first, then every disagreement with its context."""
    share = 100.0 * res.agreeing / res.rows_compared if res.rows_compared else 0.0
    out = [
        f"check-log: {log_path} vs {capture_path}",
        f"fetches: {res.log_fetches} in the log, {res.capture_requests} GetLines in the capture, {res.aligned} aligned "
        f"({res.only_in_log} only in the log, {res.only_in_capture} only in the capture, "
        f"{res.unapplied} never applied)",
        _clock_line(res),
        f"rows compared: {res.rows_compared}; agree {res.agreeing} ({share:.2f}%: kept by both "
        f"{res.agree['kept']}, dropped by both {res.agree['dropped']}, raced {res.agree['raced']}: kept by "
        f"wezterm-gui until the push it raced); disagree {len(res.disagreements)}",
    ]
    shown = res.disagreements if limit is None else res.disagreements[:limit]
    for d in shown:
        kept = "kept" if d.wezterm == "kept" else "dropped"
        out.append(f"  serial {d.serial} pane {d.pane} row {d.row}: wezterm-gui {kept} it ({d.wezterm}); muxscope "
                   f"says {d.muxscope} (cause {d.cause}{', request judged crossed' if d.crossed else ''})")
        if d.reason:
            out.append(f"    {d.reason}")
        out.extend(f"      {c}" for c in res.context_of(d))
    if len(shown) < len(res.disagreements):
        out.append(f"  ... and {len(res.disagreements) - len(shown)} more (without --limit, or with --json, all)")
    out.extend(f"note: {n}" for n in res.notes[:10])
    return "\n".join(out)
