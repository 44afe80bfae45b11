"""What is in a capture, without running the analysis: time span, connections, PDUs by type and
direction, bytes, codec version, and whether the file was cut off (and where chunks were dropped)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from codec.connection import DecodeFailed, MuxConnection, PduReceived
from codec.direction import Direction
from proxy.capture.format import (
    open_capture,
)

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT



def capture_info(path: str) -> dict[str, Any]:
    """Everything ``capture info`` prints, as JSON-ready data."""
    reader = open_capture(path)
    try:
        kinds: Counter[str] = Counter()
        pdus: dict[str, Counter[str]] = {C2S: Counter(), S2C: Counter()}
        wire = {C2S: 0, S2C: 0}
        decompressed = {C2S: 0, S2C: 0}
        conns: dict[int, dict[str, Any]] = {}
        decoders: dict[int, MuxConnection] = {}
        codec_version: int | None = None
        codec_source: str | None = None
        dropped_records = dropped_chunks = decode_errors = 0
        notes: list[dict[str, Any]] = []
        first_t: int | None = None
        last_t = 0
        for rec in reader.records():
            kinds[rec.kind] += 1
            first_t = rec.t_ns if first_t is None else first_t
            last_t = rec.t_ns
            conn = conns.setdefault(rec.conn_id, _new_conn(rec.conn_id)) if rec.conn_id or rec.kind != "note" \
                else None
            if rec.kind == "open" and conn is not None:
                conn["opened_at_s"], conn["open"] = rec.t_ns / 1e9, rec.info
            elif rec.kind == "close" and conn is not None:
                conn["closed_at_s"], conn["close"] = rec.t_ns / 1e9, rec.info
            elif rec.kind == "dropped":
                dropped_records += 1
                dropped_chunks += int(rec.info.get("chunks", 1))
            elif rec.kind == "note":
                info = rec.info
                notes.append(info)
                if "codec_version" in info and codec_source != "note":
                    codec_version, codec_source = info["codec_version"], "note"
            elif rec.kind == "data" and conn is not None:
                wire[rec.direction] += len(rec.data)
                conn["wire_bytes"][rec.direction] += len(rec.data)
                decoder = decoders.get(rec.conn_id)
                if decoder is None:
                    decoder = decoders[rec.conn_id] = MuxConnection(summary_lines=True)
                for ev in decoder.receive_data(rec.direction, rec.data):
                    if isinstance(ev, DecodeFailed):
                        decode_errors += 1
                    if not isinstance(ev, PduReceived):
                        continue
                    item = ev.pdu
                    pdus[rec.direction][item.name] += 1
                    decompressed[rec.direction] += len(item.payload)
                    conn["pdus"] += 1
                    if item.name == "GetCodecVersionResponse" and codec_source is None:
                        codec_version, codec_source = item.body["codec_vers"], "GetCodecVersionResponse"
        return {
            "file": path,
            "file_bytes": reader.total_bytes,
            "header": reader.header,
            "format_version": reader.header.get("version"),
            "duration_s": round((last_t - (first_t or 0)) / 1e9, 6) if first_t is not None else 0.0,
            "records": sum(kinds.values()),
            "records_by_kind": dict(kinds),
            "connections": {"count": len(conns), "list": [conns[c] for c in sorted(conns)]},
            "pdus": {d: dict(sorted(c.items())) for d, c in pdus.items()},
            "pdus_total": sum(sum(c.values()) for c in pdus.values()),
            "bytes": {"wire": wire, "decompressed_payload": decompressed},
            "codec_version": codec_version,
            "codec_version_source": codec_source,
            "truncated": reader.truncated,
            "truncation_reason": reader.truncation_reason,
            "dropped": {"records": dropped_records, "chunks": dropped_chunks},
            "decode_errors": decode_errors,
            "notes": notes,
        }
    finally:
        reader.f.close()


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
        f"decode errors {info['decode_errors']}",
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
