"""``muxscope replay FILE --drive ADDR``: play the recorded *client* against a live mux server.

Why: an A/B test of a server (a new build, another machine, another link)
with exactly the requests and pacing of a real session. The recorded
requests go out byte for byte except their serials, renumbered 1..n in
recorded order (the mapping is kept in the report), at their recorded
offsets from the connection's start divided by ``speed``. Each answer is
timed and sized, and the report puts recorded and measured side by side per
PDU: count, p50/p95 latency, answer bytes. The recorded latencies are those
the recording proxy saw; drive through a muxscope proxy for a like-for-like
comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from codec import CodecError, FrameDecoder, decode_frame
from codec.schema.versions import KNOWN_IDENTS, get_version
from proxy.capture.format import CaptureError
from proxy.capture.replay_serve import Conversation, load_conversations, pick
from proxy.relay.endpoints import AddressError, TcpAddress, UnixAddress, parse_upstream


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


@dataclass
class PduComparison:
    """Recorded vs now for one request PDU name."""

    name: str
    count: int = 0
    answered: int = 0
    errors_now: int = 0
    latency_recorded_ms: list[float] = field(default_factory=list)
    latency_now_ms: list[float] = field(default_factory=list)
    bytes_recorded: int = 0
    bytes_now: int = 0

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "count": self.count, "answered": self.answered, "errors_now": self.errors_now,
            "p50_ms": {"recorded": r(percentile(self.latency_recorded_ms, 50)),
                       "now": r(percentile(self.latency_now_ms, 50))},
            "p95_ms": {"recorded": r(percentile(self.latency_recorded_ms, 95)),
                       "now": r(percentile(self.latency_now_ms, 95))},
            "bytes": {"recorded": self.bytes_recorded, "now": self.bytes_now},
        }


@dataclass
class DriveReport:
    recorded_conn: int
    speed: float
    pdus: dict[str, PduComparison] = field(default_factory=dict)
    #: new serial -> recorded serial
    serial_map: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    unanswered: int = 0
    pushes_recorded: int = 0
    pushes_now: int = 0
    push_bytes_recorded: int = 0
    push_bytes_now: int = 0
    duration_s: float = 0.0
    closed_early: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "recorded_conn": self.recorded_conn, "speed": self.speed, "sent": self.sent,
            "unanswered": self.unanswered, "duration_s": round(self.duration_s, 3),
            "pushes": {"recorded": self.pushes_recorded, "now": self.pushes_now},
            "push_bytes": {"recorded": self.push_bytes_recorded, "now": self.push_bytes_now},
            "closed_early": self.closed_early,
            "pdus": {n: c.to_json() for n, c in sorted(self.pdus.items())},
        }

    def table(self) -> str:
        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        head = (f"{'request':<28} {'count':>6} {'answered':>8} {'err':>4} {'p50 rec ms':>10} {'p50 now ms':>10} "
                f"{'p95 rec ms':>10} {'p95 now ms':>10} {'answer B rec':>12} {'answer B now':>12}")
        lines = ["latency: request sent to answer read, in milliseconds (rec: as recorded in the capture; now: "
                 "this run); answer B: bytes of the answers on the wire", head, "-" * len(head)]
        for name, c in sorted(self.pdus.items()):
            lines.append(
                f"{name:<28} {c.count:>6} {c.answered:>8} {c.errors_now:>4} "
                f"{ms(percentile(c.latency_recorded_ms, 50)):>10} {ms(percentile(c.latency_now_ms, 50)):>10} "
                f"{ms(percentile(c.latency_recorded_ms, 95)):>10} {ms(percentile(c.latency_now_ms, 95)):>10} "
                f"{c.bytes_recorded:>12} {c.bytes_now:>12}"
            )
        lines.append("-" * len(head))
        lines.append(f"{self.sent} requests sent (recorded connection {self.recorded_conn}, speed {self.speed}), "
                     f"{self.unanswered} unanswered; pushes recorded {self.pushes_recorded} "
                     f"({self.push_bytes_recorded} B) vs now {self.pushes_now} ({self.push_bytes_now} B); "
                     f"took {self.duration_s:.2f} s")
        if self.closed_early:
            lines.append(f"the server closed the connection early: {self.closed_early}")
        return "\n".join(lines)


class _Driver:
    def __init__(self, conv: Conversation, speed: float) -> None:
        self.conv = conv
        self.speed = speed
        self.report = DriveReport(conv.conn_id, speed)
        #: new serial -> (request index, time sent in ns)
        self.inflight: dict[int, tuple[int, int]] = {}
        self.all_answered = asyncio.Event()
        self.done_sending = False
        for req in conv.requests:
            c = self.report.pdus.setdefault(req.name, PduComparison(req.name))
            c.count += 1
            replies = conv.replies.get(req.serial) or []
            if replies:
                c.latency_recorded_ms.append((replies[-1].t_ns - req.t_ns) / 1e6)
                c.bytes_recorded += sum(r.frame.wire_len for r in replies)
        self.report.pushes_recorded = len(conv.pushes)
        self.report.push_bytes_recorded = sum(p.frame.wire_len for p in conv.pushes)

    async def send_all(self, writer: asyncio.StreamWriter) -> None:
        start = time.monotonic()
        for i, req in enumerate(self.conv.requests, 1):
            delay = start + req.t_ns / 1e9 / self.speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.report.serial_map[i] = req.serial
            self.inflight[i] = (i - 1, time.perf_counter_ns())
            writer.write(req.with_serial(i))
            self.report.sent += 1
            await writer.drain()
        self.done_sending = True
        self._check_done()

    async def read_all(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder(known_idents=KNOWN_IDENTS)
        version = self.conv.codec_version
        while data := await reader.read(256 * 1024):
            now = time.perf_counter_ns()
            decoder.feed(data)
            for frame in decoder.frames_skipping_errors():
                if frame.serial == 0:
                    self.report.pushes_now += 1
                    self.report.push_bytes_now += frame.wire_len
                    continue
                entry = self.inflight.pop(frame.serial, None)
                if entry is None:
                    continue
                idx, sent_ns = entry
                req = self.conv.requests[idx]
                c = self.report.pdus[req.name]
                c.answered += 1
                c.latency_now_ms.append((now - sent_ns) / 1e6)
                c.bytes_now += frame.wire_len
                schema = get_version(version).table.get(frame.ident)
                if schema is not None and schema.name == "ErrorResponse":
                    c.errors_now += 1
                elif schema is not None and schema.name == "GetCodecVersionResponse":
                    with contextlib.suppress(CodecError):
                        version = decode_frame(frame, version).body["codec_vers"]
            self._check_done()
        self.report.closed_early = None if self.done_sending and not self.inflight else "connection closed"
        self.all_answered.set()

    def _check_done(self) -> None:
        if self.done_sending and not self.inflight:
            self.all_answered.set()


async def _connect(addr: UnixAddress | TcpAddress) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if isinstance(addr, UnixAddress):
        return await asyncio.open_unix_connection(addr.path, limit=1 << 20)
    if isinstance(addr, TcpAddress):
        return await asyncio.open_connection(addr.host, addr.port, limit=1 << 20)
    raise AddressError(f"--drive {addr}: replay drives unix: or tcp: addresses")


async def drive_capture(
    capture_path: str,
    upstream_addr: UnixAddress | TcpAddress | str,
    *,
    conn: int | None = None,
    speed: float = 1.0,
    answer_timeout: float = 5.0,
) -> DriveReport:
    """Send the recorded client's requests to ``upstream_addr`` and compare the answers with the recording.

    Requests are sent at the recorded pacing regardless of answers (as the
    recorded client pipelined them); after the last one, answers are awaited
    for up to ``answer_timeout`` seconds.
    """
    if speed <= 0:
        raise ValueError("--speed must be positive")
    if isinstance(upstream_addr, str):
        upstream_addr = parse_upstream(upstream_addr)  # type: ignore[assignment]
    conv = pick(load_conversations(capture_path), conn)
    driver = _Driver(conv, speed)
    reader, writer = await _connect(upstream_addr)  # type: ignore[arg-type]
    t0 = time.monotonic()
    read_task = asyncio.create_task(driver.read_all(reader))
    try:
        await driver.send_all(writer)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(driver.all_answered.wait(), answer_timeout)
    except (ConnectionError, OSError) as exc:
        driver.report.closed_early = f"{type(exc).__name__}: {exc}"
    finally:
        driver.report.duration_s = time.monotonic() - t0
        driver.report.unanswered = len(driver.inflight)
        read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await read_task
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return driver.report


def run_drive(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(drive_capture(args.file, args.drive, conn=args.conn, speed=args.speed or 1.0))
    except (AddressError, ValueError) as exc:
        print(f"muxscope replay --drive: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"muxscope replay --drive: cannot connect to {args.drive}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except CaptureError:
        raise
    print(report.table())
    return 0 if not report.unanswered else 1

