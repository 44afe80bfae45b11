"""The relay's side of the hand-off when the analysis runs in a process of its own.

:meth:`RingTap.submit` is what the relay calls for every chunk it forwards: one put into
the shared-memory ring (proxy/relay/channel.py), which either fits or is dropped and
counted; it never waits and never decodes. The capture writer, which must outlive a
dead analysis, keeps its own lane (a thread of this process, proxy/relay/tap.py).

Control events (a connection opened or closed, a note) must not be lost when the ring is
momentarily full, or the analysis would never learn that a connection ended: they wait in
a small bounded backlog that is flushed before the next chunk (and by the supervisor's
timer); a chunk that arrives while the backlog cannot be flushed is dropped, so the
analysis still sees events in the order they happened.
"""

from __future__ import annotations

import collections
import json
import time
from typing import Any

from proxy.relay.channel import Direction, Kind, RingWriter
from proxy.relay.relay import CLIENT_TO_SERVER
from proxy.relay.tap import DEFAULT_QUEUE_CHUNKS, Consumer, Lane, TapEvent

# plain ints for the hot path (an IntEnum member's attribute lookup is a few hundred ns a chunk)
_DATA, _C2S, _S2C = int(Kind.DATA), int(Direction.CLIENT_TO_SERVER), int(Direction.SERVER_TO_CLIENT)

#: control events kept while the ring is full (one open and one close per connection)
MAX_BACKLOG = 10_000


class RingTap:
    """Bounded, drop-don't-block hand-off to the analysis process (and the capture lane)."""

    def __init__(self, ring: RingWriter | None, capture: Consumer | None = None,
                 on_error: Any = None, max_chunks: int = DEFAULT_QUEUE_CHUNKS) -> None:
        self.ring = ring
        self.capture_lane = (
            Lane(capture, "capture", max_chunks, None, on_error, None) if capture is not None else None
        )
        self._seq: dict[tuple[int, str], int] = {}
        self._backlog: collections.deque[tuple[Kind, int, int, bytes]] = collections.deque()
        #: connections open now, with their open info (announced again to a restarted analysis)
        self.live: dict[int, dict[str, Any]] = {}
        self.put_chunks = 0
        #: chunks the analysis reported handled (its heartbeat)
        self.consumed = 0
        self.dropped_chunks = 0
        self.dropped_bytes = 0
        self.dropped_control = 0
        self.consumer_errors = 0

    # -- the hot path ------------------------------------------------------------------
    def submit(self, conn_id: int, direction: str, t_ns: int, data: bytes) -> None:
        key = (conn_id, direction)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        ring = self.ring
        d = _C2S if direction == CLIENT_TO_SERVER else _S2C
        if ring is None or (self._backlog and not self.flush_backlog()) or not ring.put(
            _DATA, d, conn_id, seq, t_ns, data
        ):
            self.dropped_chunks += 1
            self.dropped_bytes += len(data)
        else:
            self.put_chunks += 1
        if self.capture_lane is not None:
            self.capture_lane.put(TapEvent("data", conn_id, t_ns, direction, data, seq), False)

    # -- control events ----------------------------------------------------------------
    def open(self, conn_id: int, info: dict[str, Any]) -> None:
        self.live[conn_id] = dict(info)
        self._control(Kind.OPEN, "open", conn_id, info)

    def close(self, conn_id: int, info: dict[str, Any]) -> None:
        self.live.pop(conn_id, None)
        self._seq.pop((conn_id, "client_to_server"), None)
        self._seq.pop((conn_id, "server_to_client"), None)
        self._control(Kind.CLOSE, "close", conn_id, info)

    def note(self, conn_id: int, info: dict[str, Any]) -> None:
        self._control(Kind.NOTE, "note", conn_id, info)

    def announce(self, conn_id: int, info: dict[str, Any]) -> None:
        """Tell a restarted analysis about a connection that is already open (not recorded again)."""
        self._control(Kind.OPEN, "", conn_id, info)

    def note_capture(self, conn_id: int, info: dict[str, Any]) -> None:
        """A note for the capture only (what the analysis learnt, e.g. the codec version)."""
        if self.capture_lane is not None:
            self.capture_lane.put(TapEvent("note", conn_id, time.monotonic_ns(), info=info), True)

    def _control(self, kind: Kind, name: str, conn_id: int, info: dict[str, Any]) -> None:
        t_ns = time.monotonic_ns()
        if len(self._backlog) < MAX_BACKLOG:
            self._backlog.append((kind, conn_id, t_ns, json.dumps(info, default=str).encode()))
        else:
            self.dropped_control += 1
        self.flush_backlog()
        if self.capture_lane is not None and name:
            self.capture_lane.put(TapEvent(name, conn_id, t_ns, info=info), True)

    def flush_backlog(self) -> bool:
        """Move waiting control events into the ring; True when none is left waiting."""
        ring = self.ring
        while self._backlog:
            if ring is None:
                return False
            kind, conn_id, t_ns, payload = self._backlog[0]
            if not ring.put(kind, Direction.NONE, conn_id, 0, t_ns, payload):
                return False
            self._backlog.popleft()
        return True

    def replace_ring(self, ring: RingWriter | None) -> None:
        """A new analysis process, a new ring: what the old one held is gone with it."""
        old, self.ring = self.ring, ring
        self._backlog.clear()
        self.put_chunks = self.consumed = 0
        if old is not None:
            old.close()

    def live_sequences(self) -> dict[tuple[int, str], int]:
        return dict(self._seq)

    # -- lifecycle and figures ------------------------------------------------------------
    def start(self) -> None:
        if self.capture_lane is not None:
            self.capture_lane.start()

    def stop(self, timeout: float = 1.0) -> None:
        if self.capture_lane is not None:
            self.capture_lane.stop(timeout)
            self.consumer_errors += self.capture_lane.errors

    @property
    def queued(self) -> int:
        """Chunks handed to the analysis and not yet handled (as of its last heartbeat)."""
        return max(0, self.put_chunks - self.consumed) if self.ring is not None else 0

    @property
    def queued_bytes(self) -> int:
        return self.ring.queued_bytes if self.ring is not None else 0
