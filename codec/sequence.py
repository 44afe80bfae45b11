"""Chunk numbers per (connection, direction): given by the producer, checked by every consumer.

The relay's tap numbers each chunk of bytes it hands on, per connection and direction; a
consumer that sees a number jump knows the chunks in between were dropped before it reached
them (a full queue: the relay never waits), so the frame in progress cannot be completed and
the drop must be reported, not hidden. Replaying a capture numbers its records the same way
and skips numbers where the capture recorded a drop. One class serves both sides, so the
numbering rule is written once.
"""

from __future__ import annotations

from collections.abc import Hashable

from codec.direction import Direction


class ChunkNumbers:
    """The next chunk number of each key (``(conn_id, direction)``, or a bare direction)."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}

    def take(self, key: Hashable) -> int:
        """Producer side: the number of the chunk about to be handed on."""
        n = self._next.get(key, 0)
        self._next[key] = n + 1
        return n

    def skip(self, key: Hashable, count: int) -> None:
        """Producer side: ``count`` chunks were lost here; the next chunk shows the gap."""
        self._next[key] = self._next.get(key, 0) + count

    def expected(self, key: Hashable) -> int:
        """The number the next chunk of ``key`` should carry (how many have been seen, if none was lost)."""
        return self._next.get(key, 0)

    def arrived(self, key: Hashable, number: int) -> int:
        """Consumer side: chunk ``number`` arrived; returns how many were skipped before it (0 in order)."""
        missed = number - self._next.get(key, 0)
        self._next[key] = number + 1
        return missed

    def forget_connection(self, conn_id: int) -> None:
        """Drop both directions of a closed connection (ids may be reused)."""
        for direction in Direction:
            self._next.pop((conn_id, direction), None)
