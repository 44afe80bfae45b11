"""What is in a capture, without running the analysis: time span, connections, PDUs by type and
direction, bytes, codec version, and whether the file was cut off (and where chunks were dropped)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from codec.connection import DecodeFailed, MuxConnection, PduReceived
from codec.direction import Direction
from proxy.capture.format import Record, open_capture

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT


def capture_info(path: str) -> dict[str, Any]:
    """Everything ``capture info`` prints, as JSON-ready data."""
    reader = open_capture(path)
    try:
        tally = _Tally()
        for rec in reader.records():
            tally.record(rec)
        return {
            "file": path,
            "file_bytes": reader.total_bytes,
            "header": reader.header,
            "format_version": reader.header.get("version"),
            **tally.result(),
            "truncated": reader.truncated,
            "truncation_reason": reader.truncation_reason,
        }
    finally:
        reader.f.close()


class _Tally:
    """The counts of one pass over a capture's records."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.pdus: dict[str, Counter[str]] = {C2S: Counter(), S2C: Counter()}
        self.wire = {C2S: 0, S2C: 0}
        self.decompressed = {C2S: 0, S2C: 0}
        self.conns: dict[int, dict[str, Any]] = {}
        self.decoders: dict[int, MuxConnection] = {}
        self.codec_version: int | None = None
        self.codec_source: str | None = None
        self.dropped_records = self.dropped_chunks = self.decode_errors = self.after_close = 0
        self.notes: list[dict[str, Any]] = []
        self.first_t: int | None = None
        self.last_t = 0

    def record(self, rec: Record) -> None:
        self.kinds[rec.kind] += 1
        self.first_t = rec.t_ns if self.first_t is None else self.first_t
        self.last_t = rec.t_ns
        conn = self.conns.setdefault(rec.conn_id, _new_conn(rec.conn_id)) if rec.conn_id or rec.kind != "note" \
            else None
        if rec.kind == "open" and conn is not None:
            conn["opened_at_s"], conn["open"] = rec.t_ns / 1e9, rec.info
        elif rec.kind == "close" and conn is not None:
            conn["closed_at_s"], conn["close"] = rec.t_ns / 1e9, rec.info
        elif rec.kind == "dropped":
            self.dropped_records += 1
            self.dropped_chunks += max(0, int(rec.info.get("chunks", 1)))  # a negative gap is a writer's bug
        elif rec.kind == "note":
            info = rec.info
            self.notes.append(info)
            if "codec_version" in info and self.codec_source != "note":
                self.codec_version, self.codec_source = info["codec_version"], "note"
        elif rec.kind == "data" and conn is not None and conn["closed_at_s"] is not None:
            self.after_close += 1  # reached no one; report and replay skip these too
        elif rec.kind == "data" and conn is not None:
            self._data(rec, conn)

    def _data(self, rec: Record, conn: dict[str, Any]) -> None:
        self.wire[rec.direction] += len(rec.data)
        conn["wire_bytes"][rec.direction] += len(rec.data)
        decoder = self.decoders.get(rec.conn_id)
        if decoder is None:
            decoder = self.decoders[rec.conn_id] = MuxConnection(summary_lines=True)
        for ev in decoder.receive_data(rec.direction, rec.data):
            if isinstance(ev, DecodeFailed):
                self.decode_errors += 1
            if not isinstance(ev, PduReceived):
                continue
            item = ev.pdu
            self.pdus[rec.direction][item.name] += 1
            self.decompressed[rec.direction] += len(item.payload)
            conn["pdus"] += 1
            if item.name == "GetCodecVersionResponse" and self.codec_source is None:
                self.codec_version, self.codec_source = item.body["codec_vers"], "GetCodecVersionResponse"

    def result(self) -> dict[str, Any]:
        return {
            "duration_s": round((self.last_t - (self.first_t or 0)) / 1e9, 6) if self.first_t is not None else 0.0,
            "records": sum(self.kinds.values()),
            "records_by_kind": dict(self.kinds),
            "connections": {"count": len(self.conns), "list": [self.conns[c] for c in sorted(self.conns)]},
            "pdus": {d: dict(sorted(c.items())) for d, c in self.pdus.items()},
            "pdus_total": sum(sum(c.values()) for c in self.pdus.values()),
            "bytes": {"wire": self.wire, "decompressed_payload": self.decompressed},
            "codec_version": self.codec_version,
            "codec_version_source": self.codec_source,
            "dropped": {"records": self.dropped_records, "chunks": self.dropped_chunks},
            "decode_errors": self.decode_errors,
            "data_after_close": self.after_close,
            "notes": self.notes,
        }


def _new_conn(conn_id: int) -> dict[str, Any]:
    return {"conn_id": conn_id, "opened_at_s": None, "open": None, "closed_at_s": None, "close": None,
            "pdus": 0, "wire_bytes": {C2S: 0, S2C: 0}}


def format_info(info: dict[str, Any]) -> str:
    h = info["header"]
    out = [
        f"file            {info['file']} ({info['file_bytes']} bytes, format version {info['format_version']})",
        f"recorded        {h.get('started_at', '?')} on {h.get('host', '?')} by muxscope "
        f"{h.get('muxscope_version', '?')}",
        f"listen/upstream {h.get('listen', '?')} -> {h.get('upstream', '?')}",
        f"duration        {info['duration_s']:.3f} s, {info['records']} records "
        + ", ".join(f"{k} {v}" for k, v in sorted(info["records_by_kind"].items())),
        f"codec version   {info['codec_version']} (from {info['codec_version_source'] or 'nowhere'})",
        f"truncated       {'yes: ' + info['truncation_reason'] if info['truncated'] else 'no'}",
        f"dropped chunks  {info['dropped']['chunks']} in {info['dropped']['records']} records; "
        f"decode errors {info['decode_errors']}"
        + (f"; {info['data_after_close']} data records after their connection's close (skipped)"
           if info.get("data_after_close") else ""),
    ]
    w, d = info["bytes"]["wire"], info["bytes"]["decompressed_payload"]
    out.append(f"bytes           wire c->s {w[C2S]} s->c {w[S2C]}; decompressed payload c->s {d[C2S]} s->c {d[S2C]}")
    out.append(f"connections     {info['connections']['count']}")
    for c in info["connections"]["list"]:
        opened = "?" if c["opened_at_s"] is None else f"{c['opened_at_s']:.3f}s"
        closed = "open at end" if c["closed_at_s"] is None else (
            f"closed {c['closed_at_s']:.3f}s by {(c['close'] or {}).get('closed_by', '?')}")
        out.append(f"  #{c['conn_id']:<4} opened {opened} {json.dumps(c['open'] or {})}; {closed}; "
                   f"{c['pdus']} PDUs, wire c->s {c['wire_bytes'][C2S]} s->c {c['wire_bytes'][S2C]}")
    out.append(f"PDUs            {info['pdus_total']}")
    names = sorted(set(info["pdus"][C2S]) | set(info["pdus"][S2C]))
    out.append(f"  {'pdu':<40} {'c->s':>8} {'s->c':>8}")
    for n in names:
        out.append(f"  {n:<40} {info['pdus'][C2S].get(n, 0):>8} {info['pdus'][S2C].get(n, 0):>8}")
    return "\n".join(out)
