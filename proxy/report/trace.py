"""A capture's timeline as a Chrome trace-event file, for Perfetto and chrome://tracing.

Why: the question behind muxscope is where wezterm-gui's time goes during a
resize. An off-CPU profile of wezterm-gui shows where its threads waited; this
file shows, on the same kind of timeline, what they waited for: each GetLines
from request to response with what its rows turned out to be, each Resize and
each push. Load both into Perfetto and read them side by side.

The file is the trace-event format's JSON object form (``{"traceEvents": [...],
"displayTimeUnit": "ms", "otherData": {...}}``):

- one process per connection (``pid`` = the capture's connection id), named by
  ``M`` (metadata) events;
- per pane, a thread for its Resizes and pushes (``i`` instant events, thread
  scope) and one thread per GetLines lane (the lanes of the HTML timeline: a
  fetch takes the first lane free when it is sent), since a thread's complete
  events must nest and concurrent fetches do not;
- per connection, threads for the resize bursts' settle windows;
- GetLines and bursts as ``X`` complete events with ``dur``, their figures in
  ``args``;
- ``ts`` and ``dur`` in microseconds on the capture's clock: time since the
  capture began (``--clock capture``), or CLOCK_MONOTONIC of the recording
  machine (``--clock monotonic``: the capture header's ``t0_monotonic_ns``
  added), the clock profilers such as perf can record with, so the two line up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from proxy.analysis.report_model import BurstSummary, Report
from proxy.analysis.timeline import FetchMark, Timeline
from proxy.report import lanes

CLOCKS = ("capture", "monotonic")
#: thread ids within a connection's process: bursts first, then per pane 1 + its GetLines lanes
BURST_TID_BASE = 1


def _us(t_ns: int, offset_ns: int) -> float:
    return round((t_ns + offset_ns) / 1000, 3)


def _meta(pid: int, tid: int | None, kind: str, value: str | int) -> dict[str, Any]:
    ev: dict[str, Any] = {"name": kind, "ph": "M", "pid": pid,
                          "args": {"sort_index" if kind.endswith("sort_index") else "name": value}}
    if tid is not None:
        ev["tid"] = tid
    return ev


class _Threads:
    """Thread ids per connection, each named once by a metadata event."""

    def __init__(self) -> None:
        self.ids: dict[tuple[int, str], int] = {}
        self.next: dict[int, int] = {}
        self.meta: list[dict[str, Any]] = []

    def tid(self, pid: int, name: str) -> int:
        key = (pid, name)
        if key not in self.ids:
            if pid not in self.next:
                self.next[pid] = BURST_TID_BASE
                self.meta += [_meta(pid, None, "process_name", f"mux connection {pid}"),
                              _meta(pid, None, "process_sort_index", pid)]
            tid = self.ids[key] = self.next[pid]
            self.next[pid] += 1
            self.meta += [_meta(pid, tid, "thread_name", name), _meta(pid, tid, "thread_sort_index", tid)]
        return self.ids[key]


def _fetch_event(f: FetchMark, tid: int, offset_ns: int) -> dict[str, Any]:
    over = f.rows["redundant"] + f.rows["superseded"]
    return {
        "name": "GetLines", "cat": "getlines", "ph": "X", "pid": f.conn, "tid": tid,
        "ts": _us(f.t_request_ns, offset_ns), "dur": round((f.t_response_ns - f.t_request_ns) / 1000, 3),
        # trace viewers' reserved colour names: mostly over-fetched rows are "bad"
        "cname": "bad" if f.rows_returned and 2 * over > f.rows_returned else "good",
        "args": {"serial": f.serial, "pane": f.pane, "rows_requested": f.rows_requested,
                 "rows_returned": f.rows_returned, **f.rows, "causes": dict(f.causes),
                 "wire_bytes": f.wire_bytes, "decompressed_bytes": f.decompressed_bytes,
                 "latency_ms": round(f.latency_s * 1000, 3), "wall_share_ms": round(f.wall_s * 1000, 3),
                 "burst": f.burst, "answered": f.answered},
    }


def _burst_events(bursts: Sequence[BurstSummary], threads: _Threads, offset_ns: int) -> list[dict[str, Any]]:
    lane, _ = lanes.assign(bursts, lambda b: b.conn, lambda b: b.t_first_s, lambda b: b.t_first_s + b.settle_s)
    out = []
    for b, n in zip(bursts, lane, strict=True):
        # the burst's JSON fields, but for those the event's own ts and dur already say
        args = {k: v for k, v in b.to_json().items() if k not in ("resize_offsets_s", "t_first_s")}
        out.append({"name": f"resize burst {b.burst}", "cat": "burst", "ph": "X", "pid": b.conn,
                    "tid": threads.tid(b.conn, f"resize bursts {n + 1}"),
                    "ts": _us(round(b.t_first_s * 1e9), offset_ns), "dur": round(b.settle_s * 1e6, 3),
                    "args": args})
    return out


def trace_events(rep: Report, tl: Timeline, offset_ns: int = 0) -> list[dict[str, Any]]:
    """The trace events of one analysed capture (metadata events first)."""
    threads = _Threads()
    events = _burst_events(rep.bursts, threads, offset_ns)
    fetches = tl.fetches + tl.unanswered
    lane, _ = lanes.assign(fetches, lambda f: (f.conn, f.pane), lambda f: f.t_request_ns, lambda f: f.t_response_ns)
    marks = sorted([(r.conn, r.pane) for r in tl.resizes] + [(p.conn, p.pane) for p in tl.pushes]
                   + [(f.conn, f.pane) for f in fetches])
    for conn, pane in dict.fromkeys(marks):  # name the panes' threads in order
        threads.tid(conn, f"pane {pane} · Resize, push")
    for f, n in zip(fetches, lane, strict=True):
        events.append(_fetch_event(f, threads.tid(f.conn, f"pane {f.pane} · GetLines {n + 1}"), offset_ns))
    for r in tl.resizes:
        events.append({"name": "Resize", "cat": "resize", "ph": "i", "s": "t", "pid": r.conn,
                       "tid": threads.tid(r.conn, f"pane {r.pane} · Resize, push"), "ts": _us(r.t_ns, offset_ns),
                       "args": {"pane": r.pane, "rows": r.rows, "cols": r.cols, "kind": r.kind, "burst": r.burst}})
    for p in tl.pushes:
        events.append({"name": "render-changes push", "cat": "push", "ph": "i", "s": "t", "pid": p.conn,
                       "tid": threads.tid(p.conn, f"pane {p.pane} · Resize, push"), "ts": _us(p.t_ns, offset_ns),
                       "args": {"pane": p.pane, "seqno": p.seqno, "dirty_rows": p.dirty_rows,
                                "bonus_rows": p.bonus_rows}})
    events.sort(key=lambda e: (e["ts"], e["pid"], e["tid"]))
    return threads.meta + events


def trace_document(rep: Report, tl: Timeline, header: dict[str, Any], clock: str = "capture") -> dict:
    if clock not in CLOCKS:
        raise ValueError(f"clock {clock!r}: expected one of {', '.join(CLOCKS)}")
    t0 = int(header.get("t0_monotonic_ns") or 0)
    if clock == "monotonic" and not t0:
        raise ValueError("this capture's header has no t0_monotonic_ns: use --clock capture")
    offset = t0 if clock == "monotonic" else 0
    verdict, capture = rep.context()
    return {
        "traceEvents": trace_events(rep, tl, offset),
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "muxscope export --trace",
            "capture": str(capture.file),
            "clock": ("CLOCK_MONOTONIC of the recording machine" if clock == "monotonic"
                      else "time since the capture began"),
            "t0_monotonic_ns": t0,
            "host": header.get("host"),
            "started_at": header.get("started_at"),
            "verdict": verdict,
            "timeline_complete": tl.complete(),
        },
    }


def write_trace(out: TextIO, rep: Report, tl: Timeline, header: dict[str, Any], clock: str = "capture") -> int:
    """Write the trace JSON; returns the number of events."""
    doc = trace_document(rep, tl, header, clock)
    json.dump(doc, out, separators=(",", ":"))
    out.write("\n")
    return len(doc["traceEvents"])
