"""The report as frozen dataclasses: what the attribution found, read by attribute, written as JSON in one place.

The renderers (text, HTML, trace, the verdict) read these fields by name, so a misspelt field is an
``AttributeError`` where it is written (and a type checker's error before that), not a ``KeyError``
on the analysis thread. :meth:`Report.to_json` is the one place that turns the report into the
JSON shape ``muxscope report --json`` prints and the emulated client's ``--truth-file`` shares:
same keys, same order, and the values the model already holds (rounded where the analysis builds
them, so that the tables print exactly the figures the JSON carries). Keys that are
:class:`~proxy.analysis.vocabulary.Outcome` or :class:`~proxy.analysis.vocabulary.Cause` members
stay members: they compare equal to their words and serialise as them.

This module holds data only (it imports the vocabulary and nothing else of ours), so the analysis,
the report and the sinks can all share it without a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from proxy.analysis.vocabulary import Cause, ClientModel, Outcome, Race

T = TypeVar("T", int, float)


@dataclass(frozen=True, slots=True)
class PerOutcome(Generic[T]):
    """A figure per outcome (rows, seconds or bytes), in the order the JSON lists them."""

    redundant: T
    superseded: T
    changed: T
    new: T

    @classmethod
    def of(cls, values: Mapping[Outcome, Any], convert: Callable[[Any], Any] = lambda v: v) -> PerOutcome[Any]:
        """From the analysis' per-outcome dicts (every outcome present), each value through ``convert``."""
        return cls(convert(values[Outcome.REDUNDANT]), convert(values[Outcome.SUPERSEDED]),
                   convert(values[Outcome.CHANGED]), convert(values[Outcome.NEW]))

    def items(self) -> Iterator[tuple[Outcome, T]]:
        yield Outcome.REDUNDANT, self.redundant
        yield Outcome.SUPERSEDED, self.superseded
        yield Outcome.CHANGED, self.changed
        yield Outcome.NEW, self.new

    def values(self) -> list[T]:
        return [v for _, v in self.items()]

    def total(self) -> T:
        return self.redundant + self.superseded + self.changed + self.new

    @property
    def overfetch(self) -> T:
        """Redundant + superseded: the rows (or their share of a cost) the client did not need."""
        return self.redundant + self.superseded

    def plus(self, other: PerOutcome[T]) -> PerOutcome[T]:
        return PerOutcome(self.redundant + other.redundant, self.superseded + other.superseded,
                          self.changed + other.changed, self.new + other.new)

    def to_json(self) -> dict[Outcome, T]:
        return dict(self.items())


def zero_rows() -> PerOutcome[int]:
    return PerOutcome(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class BonusRows:
    """Lines a push sent along, by outcome: a bonus line is never dropped, so never superseded."""

    redundant: int
    changed: int
    new: int

    @classmethod
    def of(cls, values: Mapping[Outcome, int]) -> BonusRows:
        return cls(values[Outcome.REDUNDANT], values[Outcome.CHANGED], values[Outcome.NEW])

    def to_json(self) -> dict[Outcome, int]:
        return {Outcome.REDUNDANT: self.redundant, Outcome.CHANGED: self.changed, Outcome.NEW: self.new}


@dataclass(frozen=True, slots=True)
class SpendSummary:
    """What a set of GetLines cost (a burst, the fetches outside bursts, a pane): the same fields in
    each, so that the report's rows add up to its totals."""

    getlines: int
    rows_requested: int
    rows_returned: int
    rows: PerOutcome[int]
    overfetch_rows: int
    wire_bytes: int
    decompressed_bytes: int
    fetch_wait_s: float
    overfetch_wait_s: float
    fetch_wall_s: float
    overfetch_wall_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "getlines": self.getlines,
            "rows_requested": self.rows_requested,
            "rows_returned": self.rows_returned,
            "rows": self.rows.to_json(),
            "overfetch_rows": self.overfetch_rows,
            "wire_bytes": self.wire_bytes,
            "decompressed_bytes": self.decompressed_bytes,
            "fetch_wait_s": self.fetch_wait_s,
            "overfetch_wait_s": self.overfetch_wait_s,
            "fetch_wall_s": self.fetch_wall_s,
            "overfetch_wall_s": self.overfetch_wall_s,
        }


def add_up(parts: Sequence[SpendSummary]) -> SpendSummary:
    """The parts' counters summed (seconds rounded as the report rounds them), for a table's total row.

    Sums start from the integer 0, as ``sum`` does: with no parts every figure is the integer 0."""
    rows = zero_rows()
    for p in parts:
        rows = rows.plus(p.rows)
    return SpendSummary(
        getlines=sum(p.getlines for p in parts),
        rows_requested=sum(p.rows_requested for p in parts),
        rows_returned=sum(p.rows_returned for p in parts),
        rows=rows,
        overfetch_rows=sum(p.overfetch_rows for p in parts),
        wire_bytes=sum(p.wire_bytes for p in parts),
        decompressed_bytes=sum(p.decompressed_bytes for p in parts),
        fetch_wait_s=round(sum(p.fetch_wait_s for p in parts), 6),
        overfetch_wait_s=round(sum(p.overfetch_wait_s for p in parts), 6),
        fetch_wall_s=round(sum(p.fetch_wall_s for p in parts), 6),
        overfetch_wall_s=round(sum(p.overfetch_wall_s for p in parts), 6),
    )


@dataclass(frozen=True, slots=True)
class BurstSummary:
    """A resize burst once closed: the ``resize_burst`` log event's fields and a row of the burst table."""

    burst: int
    conn: int
    panes: tuple[int, ...]
    resizes: int
    spend: SpendSummary
    settle_s: float
    fetch_busy_s: float
    t_first_s: float
    #: each Resize's time after the first (for the debounce what-if)
    resize_offsets_s: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "burst": self.burst,
            "conn": self.conn,
            "panes": list(self.panes),
            "resizes": self.resizes,
            **self.spend.to_json(),
            "settle_s": self.settle_s,
            "fetch_busy_s": self.fetch_busy_s,
            "t_first_s": self.t_first_s,
            "resize_offsets_s": list(self.resize_offsets_s),
        }


@dataclass(frozen=True, slots=True)
class UnlistedBursts:
    """The bursts past the number kept, counted together so that the totals still add up."""

    bursts: int
    spend: SpendSummary

    def to_json(self) -> dict[str, Any]:
        return {"bursts": self.bursts, **self.spend.to_json()}


@dataclass(frozen=True, slots=True)
class PolicySavings:
    """What a client with another fetch policy would not have fetched, and its share of the cost."""

    rows_saved: int
    wait_saved_s: float
    wire_bytes_saved: int

    def to_json(self) -> dict[str, Any]:
        return {"rows_saved": self.rows_saved, "wait_saved_s": self.wait_saved_s,
                "wire_bytes_saved": self.wire_bytes_saved}


@dataclass(frozen=True, slots=True)
class DebounceSavings:
    """Debouncing Resize PDUs by ``interval_ms``: how many would still be sent, and what that saves."""

    interval_ms: int
    resizes_sent: int
    resizes: int
    rows_saved: int
    wait_saved_s: float

    @property
    def label(self) -> str:
        return f"{self.interval_ms}ms"

    def to_json(self) -> dict[str, Any]:
        return {"resizes_sent": self.resizes_sent, "resizes": self.resizes, "rows_saved": self.rows_saved,
                "wait_saved_s": self.wait_saved_s}


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Each policy's savings, with the model they were worked out by stated in words."""

    model: str
    selective: PolicySavings
    coalesce: PolicySavings
    debounce: tuple[DebounceSavings, ...]

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "selective": self.selective.to_json(), "coalesce": self.coalesce.to_json(),
                "debounce": {d.label: d.to_json() for d in self.debounce}}


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """Where the figures came from: the capture file (or ``-`` for a live run) and what was in it."""

    file: str
    duration_s: float
    connections: int
    codec_version: Any
    records: int = 0
    truncated: bool = False
    truncation_reason: str | None = None
    dropped_chunks: int = 0
    #: the capture header's fields a reader may want (start time, muxscope version, upstream)
    header: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "records": self.records,
            "duration_s": self.duration_s,
            "truncated": self.truncated,
            "truncation_reason": self.truncation_reason,
            "dropped_chunks": self.dropped_chunks,
            "connections": self.connections,
            "codec_version": self.codec_version,
            "header": dict(self.header),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The analysis of a session; the report adds its verdict and capture summary (:meth:`with_context`).

    ``panes`` counts rows per pane (the truth file's shape); ``pane_stats`` has each pane's full
    spend. ``rows_by_cause`` lists only the (cause, outcome) pairs seen, in sorted order, and
    ``causes`` only the causes seen."""

    rows: PerOutcome[int]
    panes: Mapping[int, PerOutcome[int]]
    causes: Mapping[Cause, int]
    rows_by_cause: Mapping[Cause, Mapping[Outcome, int]]
    getlines: int
    rows_requested: int
    rows_returned: int
    bonus_rows: BonusRows
    fetch_wait_s: float
    wait_s: PerOutcome[float]
    overfetch_wait_s: float
    wire_bytes: PerOutcome[int]
    decompressed_bytes: PerOutcome[int]
    coalescible_rows: int
    crossed_requests: int
    client_model: ClientModel
    bursts: tuple[BurstSummary, ...]
    what_if: WhatIf
    # the fields below are the report's own; the fields above are the truth file's shape
    fetch_wall_s: float
    wall_s: PerOutcome[float]
    overfetch_wall_s: float
    outside_bursts: SpendSummary
    unlisted_bursts: UnlistedBursts
    settle_wall_s: float
    pane_stats: Mapping[int, SpendSummary]
    timeline_complete: bool
    #: rows that raced a push (README "Raced rows"): counted superseded, whichever order the GUI
    #: applied the reply and the push in; in total, per pane and by what the push did to the row
    raced_rows: int = 0
    raced_rows_by_pane: Mapping[int, int] = field(default_factory=dict)
    raced_rows_by_cause: Mapping[Race, int] = field(default_factory=dict)
    #: the one-line verdict (proxy.report.verdict), once the report is built
    verdict: str | None = None
    capture: CaptureSummary | None = None
    #: predictive local echo mirrored (``{"threshold_ms", "keys", "predicted"}``, as the truth file
    #: has it), None when off
    local_echo: Mapping[str, int] | None = None

    def with_context(self, verdict: str, capture: CaptureSummary) -> Report:
        return replace(self, verdict=verdict, capture=capture)

    def context(self) -> tuple[str, CaptureSummary]:
        """The verdict and the capture summary, which the renderers need."""
        if self.verdict is None or self.capture is None:
            raise ValueError("this report has no verdict or capture summary yet: see Report.with_context")
        return self.verdict, self.capture

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of ``muxscope report --json`` (without verdict and capture until they are added)."""
        out = {
            "rows": self.rows.to_json(),
            "panes": {str(p): {"rows": r.to_json()} for p, r in self.panes.items()},
            "causes": dict(self.causes),
            "rows_by_cause": {c: dict(outs) for c, outs in self.rows_by_cause.items()},
            "getlines": self.getlines,
            "rows_requested": self.rows_requested,
            "rows_returned": self.rows_returned,
            "bonus_rows": self.bonus_rows.to_json(),
            "fetch_wait_s": self.fetch_wait_s,
            "wait_s": self.wait_s.to_json(),
            "overfetch_wait_s": self.overfetch_wait_s,
            "wire_bytes": self.wire_bytes.to_json(),
            "decompressed_bytes": self.decompressed_bytes.to_json(),
            "coalescible_rows": self.coalescible_rows,
            "crossed_requests": self.crossed_requests,
            "client_model": self.client_model,
            "bursts": [b.to_json() for b in self.bursts],
            "what_if": self.what_if.to_json(),
            "fetch_wall_s": self.fetch_wall_s,
            "wall_s": self.wall_s.to_json(),
            "overfetch_wall_s": self.overfetch_wall_s,
            "outside_bursts": self.outside_bursts.to_json(),
            "unlisted_bursts": self.unlisted_bursts.to_json(),
            "settle_wall_s": self.settle_wall_s,
            "pane_stats": {str(p): s.to_json() for p, s in self.pane_stats.items()},
            "timeline_complete": self.timeline_complete,
            "raced_rows": self.raced_rows,
            "raced_rows_by_pane": {str(p): n for p, n in sorted(self.raced_rows_by_pane.items())},
            "raced_rows_by_cause": dict(self.raced_rows_by_cause),
        }
        if self.local_echo is not None:
            out["local_echo"] = dict(self.local_echo)
        if self.verdict is not None:
            out["verdict"] = self.verdict
        if self.capture is not None:
            out["capture"] = self.capture.to_json()
        return out
