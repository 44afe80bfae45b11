"""The bounded channel from the relay's process to the analysis process: a shared-memory ring.

One producer (the relay's event loop) and one consumer (the analysis process) share a
``memfd`` mapped by both. The producer copies a chunk in and publishes it by advancing
``tail``; the consumer copies it out and advances ``head``. When the chunk does not fit,
:meth:`RingWriter.put` returns False at once: the caller drops and counts it, it never waits.

Why a ring and not a pipe (bench/bench_channel.py measures both in the same run): a
pipe write is a system call that also wakes the reader, so on two busy cores every
relayed chunk costs a context switch; a put into the ring is a ``memcpy`` and an 8-byte
store, several times cheaper for small chunks and tens of times for 64 KB ones, and
nobody is woken: the consumer polls. A ``memfd`` (not ``multiprocessing.shared_memory``)
has no name to leak and needs no resource-tracker process: it is freed when the last
process holding it ends, however it ends.

Layout: a 64-byte header (``tail`` at 0, ``head`` at 8, each a little-endian u64 that only
grows), then ``capacity`` bytes of messages. A message is a :data:`HEADER` then its payload,
padded to 8 bytes; one that would cross the end is preceded by a pad marker and starts again
at 0. ``tail`` is stored after the message bytes, so on x86 (stores are not reordered) the
consumer never sees a published message half written.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

#: kind, direction, conn_id, seq, t_ns, payload length
HEADER = struct.Struct("<BBxxIQQI")
_U64 = struct.Struct("<Q")
_META = 64
_TAIL, _HEAD = 0, 8
DEFAULT_CAPACITY = 8 * 1024 * 1024
_HEADER_SIZE = HEADER.size
_pack_header, _pack_u64, _unpack_u64 = HEADER.pack_into, _U64.pack_into, _U64.unpack_from


class Kind(IntEnum):
    PAD = 0
    DATA = 1
    OPEN = 2
    CLOSE = 3
    NOTE = 4
    STOP = 5


class Direction(IntEnum):
    NONE = 0
    CLIENT_TO_SERVER = 1
    SERVER_TO_CLIENT = 2


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    direction: Direction
    conn_id: int
    seq: int
    t_ns: int
    payload: bytes


def _aligned(n: int) -> int:
    return (n + 7) & ~7


def create_ring(capacity: int = DEFAULT_CAPACITY) -> int:
    """A new ring's file descriptor (inheritable, to pass to the consumer's process)."""
    fd = os.memfd_create("muxscope-ring", 0)
    os.ftruncate(fd, _META + capacity)
    return fd


class _Mapped:
    def __init__(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        self._mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.buf = memoryview(self._mm)
        self.capacity = size - _META

    def _load(self, off: int) -> int:
        return _U64.unpack_from(self.buf, off)[0]

    def close(self) -> None:
        self.buf.release()
        self._mm.close()


class RingWriter(_Mapped):
    """The producer's end: :meth:`put` never blocks and never raises on a full ring."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self._tail = self._load(_TAIL)
        #: the largest message accepted; bigger chunks are dropped (the relay reads at most 256 KB)
        self.max_message = self.capacity // 4

    def put(self, kind: int, direction: int, conn_id: int, seq: int, t_ns: int, payload: bytes) -> bool:
        """(Runs for every relayed chunk: written for speed, with the module's structs bound locally.)"""
        n = len(payload)
        need = (_HEADER_SIZE + n + 7) & ~7
        tail, cap = self._tail, self.capacity
        pos = tail % cap
        pad = cap - pos if pos + need > cap else 0
        buf = self.buf
        if need > self.max_message or tail + pad + need - _unpack_u64(buf, _HEAD)[0] > cap:
            return False
        if pad:
            if pad >= _HEADER_SIZE:
                _pack_header(buf, _META + pos, 0, 0, 0, 0, 0, 0)  # Kind.PAD
            tail += pad
            pos = 0
        at = _META + pos + _HEADER_SIZE
        _pack_header(buf, at - _HEADER_SIZE, kind, direction, conn_id, seq, t_ns, n)
        buf[at : at + n] = payload
        self._tail = tail = tail + need
        _pack_u64(buf, _TAIL, tail)  # publish
        return True

    @property
    def queued_bytes(self) -> int:
        return self._tail - self._load(_HEAD)


class RingReader(_Mapped):
    """The consumer's end: :meth:`drain` yields what was published, then frees its space."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self._head = self._load(_HEAD)

    def pending(self) -> bool:
        return self._load(_TAIL) != self._head

    def drain(self, max_messages: int = 256) -> Iterator[Message]:
        """Up to ``max_messages`` messages; the space of each is released once the next is asked for."""
        buf, cap = self.buf, self.capacity
        tail = self._load(_TAIL)
        for _ in range(max_messages):
            if self._head >= tail:
                break
            pos = self._head % cap
            if cap - pos < HEADER.size or buf[_META + pos] == Kind.PAD:
                self._head += cap - pos
                continue
            kind, direction, conn_id, seq, t_ns, length = HEADER.unpack_from(buf, _META + pos)
            start = _META + pos + HEADER.size
            msg = Message(Kind(kind), Direction(direction), conn_id, seq, t_ns, bytes(buf[start : start + length]))
            self._head += _aligned(HEADER.size + length)
            _U64.pack_into(buf, _HEAD, self._head)
            yield msg

    def wait(self, timeout: float) -> bool:
        """Poll until something is published or ``timeout`` passes (no wake-ups cost the producer)."""
        deadline = time.monotonic() + timeout
        delay = 0.0002
        while not self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.005)
        return True
