"""What the attribution keeps of a run's timeline, for the HTML report and the trace export.

The tables add things up; a timeline has to show *when*: each GetLines from
request to response with what its rows turned out to be, each Resize and each
render-changes push, per connection and pane. These marks are results of the
analysis (frozen, bounded in number by the attribution), so the report and the
trace export draw the same facts the tables count.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FetchMark:
    """One GetLines, from the request's last byte to the response's (or to when it was given up)."""

    conn: int
    pane: int
    serial: int
    t_request_ns: int
    t_response_ns: int
    rows_requested: int
    #: rows returned per outcome (redundant, superseded, changed, new)
    rows: dict[str, int]
    #: rows requested per cause
    causes: dict[str, int]
    wire_bytes: int
    decompressed_bytes: int
    #: this fetch's share of the wall-clock time its connection had GetLines outstanding (seconds)
    wall_s: float
    burst: int | None
    #: False when no GetLinesResponse came (an ErrorResponse, a reused serial, the connection closed)
    answered: bool = True

    @property
    def latency_s(self) -> float:
        return (self.t_response_ns - self.t_request_ns) / 1e9

    @property
    def rows_returned(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True, slots=True)
class ResizeMark:
    """A Resize the client sent; ``kind`` is ``resize`` (the user's) or ``tab_resized`` (a resync)."""

    conn: int
    pane: int
    t_ns: int
    rows: int
    cols: int
    kind: str
    burst: int | None


@dataclass(frozen=True, slots=True)
class PushMark:
    """A GetPaneRenderChangesResponse the server pushed: rows it marked dirty, lines it sent along."""

    conn: int
    pane: int
    t_ns: int
    seqno: int
    dirty_rows: int
    bonus_rows: int


@dataclass
class Timeline:
    """The marks of a run, each list capped at ``limit`` (``dropped`` counts what did not fit)."""

    limit: int
    fetches: list[FetchMark] = field(default_factory=list)
    unanswered: list[FetchMark] = field(default_factory=list)
    resizes: list[ResizeMark] = field(default_factory=list)
    pushes: list[PushMark] = field(default_factory=list)
    dropped: int = 0

    def add(self, mark: FetchMark | ResizeMark | PushMark) -> None:
        if isinstance(mark, FetchMark):
            target: list = self.fetches if mark.answered else self.unanswered
        elif isinstance(mark, ResizeMark):
            target = self.resizes
        else:
            target = self.pushes
        if len(target) < self.limit:
            target.append(mark)
        else:
            self.dropped += 1

    def complete(self) -> bool:
        """Whether every mark of the run was kept."""
        return self.dropped == 0
