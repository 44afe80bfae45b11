"""Recording a capture from the tap (runs on its own lane, never on the relay).

Records are appended to a zstd compressor; a zstd frame is ended and flushed to
the file at least once a second (and whenever the lane goes idle), so a crash
loses at most the last second. Files are created 0600 by the rules of
:mod:`proxy.files` (never over an existing file without ``--force``); a first
file that cannot be created stops the start. A capture that later cannot be
written (disk full) logs one clear error event, counts it, and stops
recording; the relay carries on untouched. Chunks the lane had to drop
are recorded as ``dropped`` records, so a reader knows exactly where a gap is:
no silent data loss.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any

import zstandard

from codec.direction import Direction
from codec.sequence import ChunkNumbers
from proxy import __version__
from proxy.capture.format import (
    CLOSE,
    DATA,
    DROPPED,
    FORMAT_VERSION,
    NOTE,
    OPEN,
    encode_header,
    encode_record,
)
from proxy.files import OutputError, check_parent, create_private
from proxy.observe import logs
from proxy.relay.tap import TapEvent

FLUSH_INTERVAL_S = 1.0
ZSTD_LEVEL = 3


class CaptureConsumer:
    lane_name = "capture"

    def __init__(
        self,
        path: str,
        meta: dict[str, Any] | None = None,
        max_bytes: int | None = None,
        max_seconds: float | None = None,
        metrics: Any = None,
        force: bool = False,
        sniff_codec_version: bool = True,
    ) -> None:
        #: False when the analysis runs in another process and reports the version as a note:
        #: then nothing in the relay's process decodes
        self.sniff_codec_version = sniff_codec_version
        self.base_path = path
        self.force = force
        self.meta = dict(meta or {})
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.metrics = metrics
        self.log = logs.get_logger(capture=path)
        self.t0_ns = time.monotonic_ns()
        self.failed: str | None = None
        self.files: list[str] = []
        self._f: Any = None
        self._cobj: Any = None
        self._file_bytes = 0
        self._file_started = 0.0
        self._last_flush = 0.0
        self._pending = 0
        self._live: dict[int, dict[str, Any]] = {}
        self._codec_version: int | None = None
        self._chunks = ChunkNumbers()
        self._closed: set[int] = set()
        #: data chunks the relay handed over for a connection already closed (never written: see handle)
        self.late_chunks = 0
        self.records_written = 0
        self._cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)

    # -- file handling ---------------------------------------------------------
    def open(self) -> None:
        """Create the first file; :class:`~proxy.files.OutputError` (one line) when it cannot be.

        Called before the proxy accepts anything, so a capture that cannot be
        recorded stops the start instead of leaving a proxy that records nothing.
        """
        check_parent(self.base_path, "--capture")
        if (self.max_bytes is not None or self.max_seconds is not None) and not self.force:
            taken = sorted(n for n in os.listdir(os.path.dirname(os.path.abspath(self.base_path)) or ".")
                           if n.startswith(os.path.basename(self.base_path) + ".")
                           and n.rsplit(".", 1)[1].isdigit())
            if taken:
                raise OutputError(f"--capture {self.base_path}: rotation would write over {taken[0]}; "
                                  "pick another name, or add --force to replace them")
        self._open_file(self.base_path, create_private(self.base_path, "--capture", force=self.force))

    def _open_file(self, path: str, fd: int) -> None:
        try:
            self._f = os.fdopen(fd, "wb")
            header = {
                "format": "muxcap",
                "version": FORMAT_VERSION,
                "muxscope_version": __version__,
                "started_at": datetime.now(UTC).isoformat(),
                "t0_monotonic_ns": self.t0_ns,
                "host": socket.gethostname(),
                **self.meta,
            }
            head = encode_header(header)
            self._f.write(head)
            self._f.flush()
        except OSError as exc:
            self._fail(exc)
            return
        self.files.append(path)
        self._cobj = self._cctx.compressobj()
        self._file_bytes = len(head)
        self._file_started = time.monotonic()
        self._last_flush = time.monotonic()

    def _rotate(self) -> None:
        self._end_frame()
        self._f.close()
        path = f"{self.base_path}.{len(self.files)}"
        try:
            fd = create_private(path, "--capture", force=self.force)
        except OutputError as exc:
            self._f = None
            self._fail(exc)
            return
        self._open_file(path, fd)
        if self.failed:
            return
        # each file stands alone: re-announce the connections that are still open
        for conn_id, info in self._live.items():
            self._write(OPEN, time.monotonic_ns(), conn_id, "", json.dumps({**info, "continued": True}).encode())
        if self._codec_version is not None:
            self._write(NOTE, time.monotonic_ns(), 0, "", json.dumps({"codec_version": self._codec_version}).encode())

    def _fail(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        self.log.error("capture_failed", error=self.failed,
                       hint="check free disk space and permissions; the relay continues without capture")
        if self.metrics is not None:
            self.metrics.capture_errors.inc()
        try:
            if self._f is not None:
                self._f.close()
        except OSError:
            pass
        self._f = None
        self._cobj = None

    # -- consumer interface --------------------------------------------------
    def handle(self, event: TapEvent) -> None:
        if self._f is None:
            return
        if event.kind == "data":
            if event.conn_id in self._closed:
                # Bytes a relay handed over after it had closed the connection reached no one;
                # written, they would make a reader see a second connection (and a negative gap).
                self.late_chunks += 1
                return
            missed = self._chunks.arrived((event.conn_id, event.direction), event.seq)
            if missed > 0:
                self._write(DROPPED, event.t_ns, event.conn_id, event.direction,
                            json.dumps({"chunks": missed}).encode())
            self._write(DATA, event.t_ns, event.conn_id, event.direction, event.data)
            self._note_codec_version(event)
        elif event.kind == "open":
            self._live[event.conn_id] = dict(event.info or {})
            self._write(OPEN, event.t_ns, event.conn_id, "", json.dumps(event.info or {}).encode())
        elif event.kind == "close":
            self._live.pop(event.conn_id, None)
            self._closed.add(event.conn_id)
            self._chunks.forget_connection(event.conn_id)
            self._write(CLOSE, event.t_ns, event.conn_id, "", json.dumps(event.info or {}).encode())
        elif event.kind == "note":
            if isinstance((event.info or {}).get("codec_version"), int):
                self._codec_version = (event.info or {})["codec_version"]
            self._write(NOTE, event.t_ns, event.conn_id, "", json.dumps(event.info or {}).encode())
        self._maybe_flush()

    def _note_codec_version(self, event: TapEvent) -> None:
        """Record the codec version once seen (cheap check: GetCodecVersionResponse is ident 27)."""
        if not self.sniff_codec_version or self._codec_version is not None:
            return
        if event.direction != Direction.SERVER_TO_CLIENT:
            return
        from codec.pdu import PduStream

        # Only the first few KB of a connection can hold it; decode them once.
        if self._chunks.expected((event.conn_id, event.direction)) > 4:
            return
        for item in PduStream().feed(event.data):
            if getattr(item, "name", None) == "GetCodecVersionResponse":
                self._codec_version = item.body["codec_vers"]
                self._write(NOTE, event.t_ns, event.conn_id, "",
                            json.dumps({"codec_version": self._codec_version}).encode())
                return

    def _write(self, kind: int, t_ns: int, conn_id: int, direction: Direction | str, payload: bytes) -> None:
        if self._cobj is None:
            return
        rec = encode_record(kind, t_ns - self.t0_ns, conn_id, direction, payload)
        try:
            out = self._cobj.compress(rec)
            if out:
                self._f.write(out)
                self._file_bytes += len(out)
        except (OSError, zstandard.ZstdError) as exc:
            self._fail(exc)
            return
        self._pending += 1
        self.records_written += 1

    def _maybe_flush(self) -> None:
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def _end_frame(self) -> None:
        if self._cobj is None or self._f is None:
            return
        try:
            out = self._cobj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
            self._cobj = self._cctx.compressobj()
            if out:
                self._f.write(out)
                self._file_bytes += len(out)
            self._f.flush()
        except (OSError, zstandard.ZstdError) as exc:
            self._fail(exc)

    def flush(self) -> None:
        if self._f is None:
            return
        if self._pending:
            self._end_frame()
            self._pending = 0
        self._last_flush = time.monotonic()
        if self._f is not None and (
            (self.max_bytes is not None and self._file_bytes >= self.max_bytes)
            or (self.max_seconds is not None and time.monotonic() - self._file_started >= self.max_seconds)
        ):
            self._rotate()

    def close(self) -> None:
        if self._f is None:
            return
        if self.late_chunks:
            self._write(NOTE, time.monotonic_ns(), 0, "",
                        json.dumps({"late_chunks_after_close": self.late_chunks}).encode())
        self._end_frame()
        try:
            if self._f is not None:
                self._f.close()
        except OSError as exc:
            self._fail(exc)
        self._f = None
