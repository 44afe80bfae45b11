"""Reading wezterm-gui's own record of its line cache: a ``WEZTERM_LOG=wezterm_client=trace`` log.

wezterm-gui logs, in ``wezterm-client/src/pane/renderable.rs`` (WezTerm
4ff581a8; the same strings in release 20240203-110809-5046fc22), every fetch it
schedules (``will fetch lines {RangeSet} for remote tab id {pane} at {Instant}``,
:501), the start of applying its reply (``fetch complete for {RangeSet} at
{Instant}``, :551), each row the reply fills (``row N fetch done -> Line ...``,
:467) or leaves alone (``row N {kind} changed since fetch started at {Instant},
so leave it be``, :478), and the end (``Generate PaneOutput event for
local_pane_id=L``, :578). A row of the reply with neither line had no entry any
more (``put_line``'s ``None => return``, :487): dropped too. Pushes are logged
from ``apply_changes_to_surface`` (:310-:420): bonus lines, rows made stale
(``make N stale bcos not fetchable``), rows stamped for fetching, throttled
prefetches. The Instant, unique per fetch, ties a completion to its fetch.

Each line carries ringlog's prefix (``env-bootstrap/src/ringlog.rs:163-225``):
``HH:MM:SS.mmm  LEVEL  target > message``, with colours when stderr was a
terminal; both the log file and a copy of stderr parse.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PREFIX = re.compile(r"^(?P<ts>\d\d:\d\d:\d\d\.\d{3})\s+(?P<level>ERROR|WARN|INFO|DEBUG|TRACE)\s+"
                     r"(?P<target>\S+)\s+> (?P<msg>.*)$")
_RANGESET = r"RangeSet \{ ranges: \[(?P<ranges>[^\]]*)\], needs_sort: (?:true|false) \}"
#: ``{:?}`` of an Instant: ``Instant { tv_sec: S, tv_nsec: N }`` on unix, ``Instant { t: 1.5s }`` on Windows
_INSTANT = r"Instant \{[^{}]*\}"
_KIND = r'\("(?P<state>\w+)", (?:None|Some\(' + _INSTANT + r"\))\)"

_FETCH = re.compile(rf"^will fetch lines {_RANGESET} for remote tab id (?P<pane>\d+) at (?P<instant>{_INSTANT})$")
_COMPLETE = re.compile(rf"^fetch complete for {_RANGESET} at (?P<instant>{_INSTANT})$")
_DONE = re.compile(r"^row (?P<row>-?\d+) fetch done -> Line seq=(?P<seq>\d+) vs self\.seq=(?P<pane_seq>\d+)$")
_LEFT = re.compile(rf"^row (?P<row>-?\d+) {_KIND} changed since fetch started at (?P<instant>{_INSTANT}), "
                   r"so leave it be$")
_APPLIED = re.compile(r"^Generate PaneOutput event for local_pane_id=(?P<local>\d+)$")
_FAILED = re.compile(r"^get_lines failed: (?P<err>.*)$")
_PUSH = re.compile(r"^apply_changes_to_surface local=(?P<local>\d+) remote=(?P<remote>\d+)$")
_SEQNO = re.compile(r"^server says: seqno from (?P<old>\d+) -> (?P<new>\d+) for local_pane_id=(?P<local>\d+)$")
_BONUS = re.compile(r"^bonus line (?P<row>-?\d+) seqno=(?P<seq>\d+)$")
_NOT_FETCHABLE = re.compile(r"^make (?P<row>-?\d+) stale bcos not fetchable$")
_DIRTY_ROW = re.compile(r"^row (?P<row>-?\d+) (?P<prior>None|Some\(.*\)) -> .* due to dirty and IN viewport$")
_THROTTLED = re.compile(rf"^exceeded fetch throttle, drop {_RANGESET} and mark stale$")
_RESYNC = re.compile(r"^resync due to (?P<pdu>\w+)\(")
_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)")
#: the most frequent lines, which say nothing check-log needs (one per paint, one per PDU read)
_IGNORED = ("get_lines: ", "get_changed_since: ", "decoded serial ", "dirty as of seq ",
            "apply_changes_to_surface: Generate")


class Verdict(enum.Enum):
    """What wezterm-gui did with one row of a GetLines reply."""

    KEPT = "kept"  # fetch done -> Line
    LEFT = "left"  # changed since fetch started, so leave it be
    GONE = "gone"  # no entry any more: put_line returned silently


@dataclass(frozen=True, slots=True)
class RowEvent:
    """A log line about one row (context for a disagreement): its number, not its text, so a long
    log costs a few integers per line (:func:`read_lines` fetches the few texts a report shows)."""

    lineno: int
    #: the seqno of the push whose application logged it (None: a reply's row)
    push_seqno: int | None = None


@dataclass(slots=True)
class LoggedFetch:
    """One ``schedule_fetch_lines`` and what became of its reply's rows."""

    lineno: int
    ts: str
    pane: int
    ranges: tuple[tuple[int, int], ...]
    instant: str
    #: line of ``fetch complete``; None if the log never shows the reply applied
    complete_lineno: int | None = None
    failed: bool = False
    #: row -> (verdict, line number, the entry's state when it was left alone)
    rows: dict[int, tuple[Verdict, int, str | None]] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return self.complete_lineno is not None and not self.failed


@dataclass(slots=True)
class LoggedPush:
    lineno: int
    local: int
    remote: int
    seqno: int | None = None
    bonus: list[int] = field(default_factory=list)


@dataclass
class WezLogRecord:
    """Everything check-log needs from one log, in log order."""

    fetches: list[LoggedFetch] = field(default_factory=list)
    pushes: list[LoggedPush] = field(default_factory=list)
    #: (remote pane, row) -> log lines about it (bonus, stamped, made stale, done, left)
    row_events: dict[tuple[int, int], list[RowEvent]] = field(default_factory=dict)
    lines: int = 0
    #: lines with ringlog's prefix from wezterm_client targets
    client_lines: int = 0
    throttled: int = 0
    resyncs: int = 0
    #: fetch completions whose fetch is not in the log (it started before the log did)
    orphan_completions: int = 0


def parse_ranges(text: str) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in _RANGE.findall(text))


class _Parser:
    def __init__(self) -> None:
        self.rec = WezLogRecord()
        self.by_instant: dict[tuple[str, tuple[tuple[int, int], ...]], LoggedFetch] = {}
        self.applying: LoggedFetch | None = None
        self.push: LoggedPush | None = None

    def note(self, pane: int, row: int, lineno: int, push_seqno: int | None = None) -> None:
        self.rec.row_events.setdefault((pane, row), []).append(RowEvent(lineno, push_seqno))

    def line(self, lineno: int, raw: str) -> None:
        m = _PREFIX.match(_ANSI.sub("", raw.rstrip("\r\n")))
        if m is None or not m["target"].startswith("wezterm_client"):
            return
        self.rec.client_lines += 1
        msg, ts = m["msg"], m["ts"]
        if msg.startswith(_IGNORED):
            return
        if (f := _FETCH.match(msg)) is not None:
            fetch = LoggedFetch(lineno, ts, int(f["pane"]), parse_ranges(f["ranges"]), f["instant"])
            self.rec.fetches.append(fetch)
            self.by_instant[(fetch.instant, fetch.ranges)] = fetch
        elif (f := _COMPLETE.match(msg)) is not None:
            self.applying = self.by_instant.pop((f["instant"], parse_ranges(f["ranges"])), None)
            if self.applying is None:
                self.rec.orphan_completions += 1
            else:
                self.applying.complete_lineno = lineno
        elif self.applying is not None and (f := _DONE.match(msg) or _LEFT.match(msg)) is not None:
            row = int(f["row"])
            state = f.groupdict().get("state")
            self.applying.rows[row] = (Verdict.LEFT if state else Verdict.KEPT, lineno, state)
            self.note(self.applying.pane, row, lineno)
        elif _APPLIED.match(msg) is not None:
            self.applying = None
        elif _FAILED.match(msg) is not None:
            if self.applying is not None:
                self.applying.failed = True
        else:
            self.push_line(lineno, msg)

    def push_line(self, lineno: int, msg: str) -> None:
        if (f := _PUSH.match(msg)) is not None:
            self.push = LoggedPush(lineno, int(f["local"]), int(f["remote"]))
            self.rec.pushes.append(self.push)
        elif (f := _SEQNO.match(msg)) is not None and self.push is not None:
            self.push.seqno = int(f["new"])
        elif self.push is not None and (f := _BONUS.match(msg) or _NOT_FETCHABLE.match(msg)
                                        or _DIRTY_ROW.match(msg)) is not None:
            row = int(f["row"])
            if msg.startswith("bonus"):
                self.push.bonus.append(row)
            self.note(self.push.remote, row, lineno, self.push.seqno)
        elif _THROTTLED.match(msg) is not None:
            self.rec.throttled += 1
        elif _RESYNC.match(msg) is not None:
            self.rec.resyncs += 1


def parse_wezterm_log(lines: Iterable[str]) -> WezLogRecord:
    """Parse a wezterm-gui log (its file, or a copy of its stderr)."""
    parser = _Parser()
    n = 0
    for n, raw in enumerate(lines, 1):
        parser.line(n, raw)
    parser.rec.lines = n
    return parser.rec


def read_lines(lines: Iterable[str], wanted: set[int]) -> dict[int, str]:
    """The messages of the lines numbered in ``wanted`` (1-based), prefix and colours stripped."""
    out: dict[int, str] = {}
    if not wanted:
        return out
    last = max(wanted)
    for n, raw in enumerate(lines, 1):
        if n in wanted:
            text = _ANSI.sub("", raw.rstrip("\r\n"))
            m = _PREFIX.match(text)
            out[n] = m["msg"] if m is not None else text
        if n >= last:
            break
    return out
