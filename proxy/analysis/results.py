"""What the analysis produces: frozen results, in the order it produced them.

The analysis computes and never prints, counts or reads a clock. Every fact a user can see is one
of these results; :mod:`proxy.observe.sinks` turns them into log events and Prometheus metrics,
and anything else (the report, a truth check, a test) may read them too. A sink receives results
in the order the analysis produced them, so log events keep the wire's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codec.direction import Direction
from codec.pdu import Pdu
from proxy.analysis.report_model import BurstSummary
from proxy.analysis.vocabulary import Cause, Outcome, Race


@dataclass(frozen=True, slots=True)
class PduSeen:
    """A PDU decoded on a connection."""

    conn: int
    direction: Direction
    pdu: Pdu
    #: a server PDU with serial 0: a push nobody asked for
    unsolicited: bool


@dataclass(frozen=True, slots=True)
class CodecVersionSeen:
    """The server said which codec version it speaks."""

    conn: int
    codec_version: Any
    decoding_as: int


@dataclass(frozen=True, slots=True)
class DecodeErrorSeen:
    conn: int
    direction: Direction
    offset: int
    #: one of a fixed vocabulary (``frame``, ``payload``, ``decompress``, ``limit``, ``gap``)
    reason: str
    detail: str
    #: the first few per connection are worth a log line; all are counted
    worth_logging: bool


@dataclass(frozen=True, slots=True)
class RpcCompleted:
    """A request answered: its latency, and for GetLines what the log event says of it."""

    conn: int
    request_name: str
    latency_s: float
    #: the ``getlines`` log event's fields (None for other requests)
    getlines: dict[str, Any] | None = None
    rows_requested: int = 0
    rows_returned: int = 0


@dataclass(frozen=True, slots=True)
class JudgedRow:
    """One row a GetLinesResponse returned: what became of it and why the client asked."""

    conn: int
    serial: int
    pane: int
    row: int
    outcome: Outcome
    cause: Cause
    #: what a push did to the row while its fetch was in flight (a raced row, always superseded)
    raced: Race | None = None


@dataclass(frozen=True, slots=True)
class FetchJudged:
    """A GetLines' rows judged: outcomes, and the wait and bytes apportioned to over-fetch."""

    conn: int
    serial: int
    rows: tuple[JudgedRow, ...]
    wait_by_outcome: dict[Outcome, float]
    overfetch_wait_s: float
    overfetch_wire_bytes: float
    overfetch_decompressed_bytes: float
    #: the fetch's wall-clock share (spend.WallClock) apportioned to its rows like the wait, by outcome
    wall_by_outcome: dict[Outcome, float] = field(default_factory=dict)
    overfetch_wall_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RowsRequested:
    """A GetLines left the client: its rows counted by cause."""

    conn: int
    serial: int
    causes: dict[Cause, int]
    crossed: bool


@dataclass(frozen=True, slots=True)
class BonusRowsDelivered:
    """A push's bonus lines, counted by outcome."""

    conn: int
    outcomes: dict[Outcome, int]


@dataclass(frozen=True, slots=True)
class BurstClosed:
    """A resize burst ended: its summary (the ``resize_burst`` log event's fields)."""

    summary: BurstSummary
    settle_s: float
    rows_requested: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """A connection ended: its summary (the ``connection_summary`` log event's fields)."""

    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NoteSeen:
    """A note the relay wrote into the event stream (a capture note, a dropped-chunk count...)."""

    conn: int
    info: dict[str, Any] = field(default_factory=dict)


Result = (PduSeen | CodecVersionSeen | DecodeErrorSeen | RpcCompleted | FetchJudged | RowsRequested
          | BonusRowsDelivered | BurstClosed | ConnectionClosed | NoteSeen)
