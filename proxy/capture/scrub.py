"""Scrubbing a capture: every piece of text replaced by placeholders of the same display width.

``scrub`` exists because a capture holds everything the terminal showed and
the user typed. It writes a copy in which every piece of text is replaced by
placeholders of the same display width while the structure stays: rows,
cells, attributes, colours, sizes, serials, timings. That keeps the copy
useful for what captures are for (fetch analysis, replay) and useless for
reading someone's terminal. The text-replacement engine lives in
:class:`Placeholders` and :class:`BodyScrubber`; :func:`scrub_capture` does
the stream surgery (decode, scrub, re-encode, re-frame).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import zstandard

from codec.direction import Direction
from codec.pdu import Pdu, PduStream, StreamErrorKind, encode_pdu
from codec.wire.varbincode import (
    BYTES,
    CHAR,
    PATH,
    STR,
    Array,
    Custom,
    Enum,
    Map,
    Newtype,
    Option,
    Ref,
    Schema,
    Seq,
    Struct,
    Tuple,
)
from proxy.capture.format import (
    DATA,
    KIND_BY_NAME,
    NOTE,
    Record,
    encode_header,
    encode_record,
    open_capture,
)
from proxy.capture.placeholders import Placeholders, is_kept
from proxy.files import create_private

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
#: (PDU, field) pairs whose text is not the user's: kept as they are
KEEP_FIELDS = frozenset({("GetCodecVersionResponse", "version_string")})


class BodyScrubber:
    """Walks a decoded PDU body alongside its schema and replaces every text value.

    Schema-directed, not a blind walk over strings: enum variant names and
    field names are structure and must survive. The cells of a vector-storage
    ``Line`` are scrubbed together, so a word spread over cells is one word.
    ``counts`` tallies replacements by ``Struct.field``.
    """

    def __init__(self, placeholders: Placeholders) -> None:
        self.ph = placeholders
        self.counts: Counter[str] = Counter()

    def scrub(self, name: str, schema: Schema, body: Any) -> Any:
        return self._walk(schema, body, name)

    def _walk(self, schema: Schema, value: Any, where: str) -> Any:
        if value is None:
            return value
        if schema is STR or schema is PATH:
            if not value:
                return value
            self.counts[where] += 1
            return self.ph.string(value)
        if schema is BYTES:
            if not value:
                return value
            self.counts[where] += 1
            return self.ph.data(bytes(value))
        if schema is CHAR:
            self.counts[where] += 1
            return self.ph.keystroke(value)
        if isinstance(schema, Struct):
            if schema.name == "VecStorage":
                return {**value, "cells": self._cells(schema, value["cells"])}
            out = dict(value)
            for fname, fschema in schema.fields:
                if where == schema.name and (schema.name, fname) in KEEP_FIELDS:
                    continue
                if fname in out:
                    out[fname] = self._walk(fschema, out[fname], f"{schema.name}.{fname}")
            return out
        if isinstance(schema, Option | Newtype):
            return self._walk(schema.inner, value, where)
        if isinstance(schema, Ref):
            return self._walk(schema.target, value, where)
        if isinstance(schema, Seq | Array):
            items = [self._walk(schema.item, v, where) for v in value]
            return items if isinstance(value, list) else type(value)(items)
        if isinstance(schema, Tuple):
            items = [self._walk(s, v, where) for s, v in zip(schema.items, value, strict=True)]
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(schema, Map):
            return self._walk_map(schema, value, where)
        if isinstance(schema, Enum):
            if isinstance(value, str):
                return value  # a unit variant: structure
            ((vname, payload),) = value.items()
            _, variant = schema.by_name[vname]
            if variant.payload is None:
                return value
            return {vname: self._walk(variant.payload, payload, f"{schema.name}::{vname}")}
        if isinstance(schema, Custom) and schema.name == "OsString":
            if not value:
                return value
            self.counts[where] += 1
            scrubbed = self.ph.string(str(value))
            return type(value)(scrubbed) if type(value) is not str else scrubbed
        return value  # numbers, bools, flags, palettes: structure

    def _cells(self, storage: Struct, cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A line's cell texts, scrubbed as one string so a word spanning cells is one word."""
        cell = storage.fields[0][1].item  # type: ignore[attr-defined]
        attrs = dict(cell.fields)["attrs"]
        texts = self.ph.graphemes([c["text"] for c in cells])
        self.counts["Cell.text"] += sum(1 for c in cells if not is_kept(c["text"]))
        return [{**c, "text": t, "attrs": self._walk(attrs, c["attrs"], "Cell.attrs")}
                for c, t in zip(cells, texts, strict=True)]

    def _walk_map(self, schema: Map, value: Any, where: str) -> Any:
        out: dict[Any, Any] = {}
        for k, v in value.items():
            nk = self._walk(schema.key, k, where + ".key")
            n = 0
            while nk in out:  # two keys scrubbed alike: keep both entries
                n += 1
                nk = self.ph.string(f"{k}\x00{n}") if isinstance(k, str) else nk
            out[nk] = self._walk(schema.value, v, where)
        return out


def scrub_info(info: Any, ph: Placeholders) -> Any:
    """Open/close/note JSON and header values: every string except a few structural keys."""
    if isinstance(info, dict):
        return {k: v if k in _SAFE_INFO_KEYS else scrub_info(v, ph) for k, v in info.items()}
    if isinstance(info, list):
        return [scrub_info(v, ph) for v in info]
    if isinstance(info, str):
        scheme = _ADDRESS_SCHEME.match(info)
        keep = scheme.group() if scheme else ""
        return keep + ph.string(info[len(keep):])
    return info


#: The scheme of a muxscope address (``unix:``, ``tcp:``, ``ssh://``, ``exec:``, ``stdio``) is structure, not
#: content: a scrubbed capture still says which kind of listener and upstream it was recorded through.
_ADDRESS_SCHEME = re.compile(r"^(?:stdio$|(?:unix|tcp|ssh|exec)(?::(?://)?))")


_SAFE_INFO_KEYS = frozenset({"closed_by", "format", "version", "muxscope_version", "started_at",
                             "t0_monotonic_ns", "codec_version", "continued"})


# ============================================================================
# scrub: the stream surgery


@dataclass
class _Out:
    """One output record; data records fill up as the frames they carried are re-encoded."""

    rec: Record
    payload: bytearray = field(default_factory=bytearray)
    resolved: bool = False


@dataclass
class _Span:
    out: _Out
    start: int
    end: int


@dataclass
class _Direction:
    stream: PduStream
    fed: int = 0
    pending: list[_Span] = field(default_factory=list)


class _Writer:
    """Writes a capture the way CaptureConsumer does, ending a zstd frame every few thousand records."""

    def __init__(self, path: str, header: dict[str, Any], force: bool = False) -> None:
        self.f = os.fdopen(create_private(path, "OUT", force=force), "wb")
        self.f.write(encode_header(header))
        self.cctx = zstandard.ZstdCompressor(level=3)
        self.cobj = self.cctx.compressobj()
        self.n = 0

    def write(self, kind: int, t_ns: int, conn_id: int, direction: Direction | str, payload: bytes) -> None:
        self.f.write(self.cobj.compress(encode_record(kind, t_ns, conn_id, direction, payload)))
        self.n += 1
        if self.n % 4096 == 0:
            self.f.write(self.cobj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
            self.cobj = self.cctx.compressobj()

    def close(self) -> None:
        self.f.write(self.cobj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        self.f.close()


class _Scrub:
    def __init__(self, writer: _Writer, ph: Placeholders) -> None:
        self.w = writer
        self.ph = ph
        self.bodies = BodyScrubber(ph)
        self.dirs: dict[tuple[int, str], _Direction] = {}
        self.queue: list[_Out] = []
        self.last_t = 0
        self.stats: dict[str, Any] = {
            "pdus_reencoded": Counter(), "frames_dropped": Counter(), "bytes_skipped": 0,
            "incomplete_tail_bytes": 0, "records_in": 0, "data_records_in": 0, "data_records_out": 0,
            "wire_bytes_in": Counter(), "wire_bytes_out": Counter(), "decompressed_bytes_in": 0,
            "decompressed_bytes_out": 0,
        }

    def record(self, rec: Record) -> None:
        self.stats["records_in"] += 1
        self.last_t = max(self.last_t, rec.t_ns)
        if rec.kind == "data":
            self._data(rec)
        else:
            if rec.kind == "dropped":
                self._reset(rec.conn_id, rec.direction)
            elif rec.kind == "close":
                for d in (C2S, S2C):
                    self._finish(rec.conn_id, d)
            data = rec.data if rec.kind == "dropped" else json.dumps(scrub_info(rec.info, self.ph)).encode()
            self.queue.append(_Out(Record(rec.kind, rec.t_ns, rec.conn_id, rec.direction, data), resolved=True))
        self._drain()

    def _direction(self, conn_id: int, direction: Direction) -> _Direction:
        d = self.dirs.get((conn_id, direction))
        if d is None:
            d = self.dirs[(conn_id, direction)] = _Direction(PduStream())
        return d

    def _data(self, rec: Record) -> None:
        self.stats["data_records_in"] += 1
        self.stats["wire_bytes_in"][rec.direction] += len(rec.data)
        d = self._direction(rec.conn_id, rec.direction)
        out = _Out(rec)
        self.queue.append(out)
        d.pending.append(_Span(out, d.fed, d.fed + len(rec.data)))
        d.fed += len(rec.data)
        skipped0 = d.stream.frames.skipped_bytes
        for item in d.stream.feed(rec.data):
            if isinstance(item, Pdu):
                self._pdu(rec, d, item)
            elif item.kind == StreamErrorKind.PAYLOAD and item.frame is not None:
                self._dropped(rec, "undecodable", ident=item.frame.ident, serial=item.frame.serial,
                              wire_bytes=item.frame.wire_len)
        skipped = d.stream.frames.skipped_bytes - skipped0
        if skipped:
            self.stats["bytes_skipped"] += skipped
            self._note(rec, {"scrub_dropped_bytes": {"direction": rec.direction, "bytes": skipped,
                                                     "why": "bytes that do not frame (may hold text)"}})
        while d.pending and d.pending[0].end <= d.stream.frames.offset:
            d.pending.pop(0).out.resolved = True

    def _note(self, rec: Record, info: dict[str, Any]) -> None:
        self.queue.append(_Out(Record("note", rec.t_ns, rec.conn_id, "", json.dumps(info).encode()), resolved=True))

    def _dropped(self, rec: Record, why: str, **frame: int) -> None:
        """A frame left out of OUT, marked by a note record where it was (its text may be anything)."""
        self.stats["frames_dropped"][why] += 1
        self._note(rec, {"scrub_dropped_frame": {"direction": rec.direction, "why": why, **frame}})

    def _pdu(self, rec: Record, d: _Direction, pdu: Pdu) -> None:
        version = d.stream.version
        if pdu.name == "GetCodecVersionResponse":
            peer = self._direction(rec.conn_id, C2S)
            peer.stream.observe_codec_version(pdu.body["codec_vers"])
        if not pdu.known:
            self._dropped(rec, f"unknown ident {pdu.ident}", ident=pdu.ident, serial=pdu.serial,
                          wire_bytes=pdu.wire_len)
            return
        self.stats["decompressed_bytes_in"] += len(pdu.payload)
        body = self.bodies.scrub(pdu.name, version.schema(pdu.name), pdu.body)
        data = encode_pdu(pdu.name, body, pdu.serial, version)
        self.stats["pdus_reencoded"][pdu.name] += 1
        self.stats["decompressed_bytes_out"] += len(version.schema(pdu.name).dumps(body))
        self._distribute(d, pdu.offset, pdu.offset + pdu.wire_len, data)

    @staticmethod
    def _distribute(d: _Direction, start: int, end: int, data: bytes) -> None:
        """Spread a re-encoded frame over the chunks its original spanned, in proportion."""
        spans = [(s, min(end, s.end) - max(start, s.start)) for s in d.pending if s.start < end and s.end > start]
        total = end - start
        given = cum = 0
        for i, (span, overlap) in enumerate(spans):
            cum += overlap
            upto = len(data) if i == len(spans) - 1 else round(len(data) * cum / total)
            span.out.payload += data[given:upto]
            given = upto

    def _finish(self, conn_id: int, direction: Direction) -> None:
        d = self.dirs.get((conn_id, direction))
        if d is None:
            return
        self.stats["incomplete_tail_bytes"] += d.stream.frames.buffered
        for span in d.pending:
            span.out.resolved = True
        d.pending.clear()

    def _reset(self, conn_id: int, direction: Direction) -> None:
        """A gap in the recording: the frame in progress is lost; look for the next header."""
        self._finish(conn_id, direction)
        d = self._direction(conn_id, direction)
        d.stream.restart_after_gap()
        d.fed = 0

    def _drain(self) -> None:
        i = 0
        while i < len(self.queue) and self.queue[i].resolved:
            o = self.queue[i]
            if o.rec.kind == "data":
                if o.payload:
                    self.w.write(DATA, o.rec.t_ns, o.rec.conn_id, o.rec.direction, bytes(o.payload))
                    self.stats["data_records_out"] += 1
                    self.stats["wire_bytes_out"][o.rec.direction] += len(o.payload)
            else:
                self.w.write(KIND_BY_NAME[o.rec.kind], o.rec.t_ns, o.rec.conn_id, o.rec.direction, o.rec.data)
            i += 1
        del self.queue[:i]

    def finish(self) -> None:
        for conn_id, direction in list(self.dirs):
            self._finish(conn_id, direction)
        self._drain()


def scrub_capture(in_path: str, out_path: str, *, secret: bytes | None = None,
                  force: bool = False) -> dict[str, Any]:
    """Write a scrubbed copy of ``in_path`` to ``out_path``; returns the scrub report (also in OUT).

    Every frame is decoded, its body scrubbed (:class:`BodyScrubber`) and
    re-encoded with the same codec version and WezTerm's compression rule,
    then spread over the data records that carried the original frame (same
    timestamps, one record per original chunk unless a chunk is left empty).
    Frames that do not decode, unknown idents and bytes that do not frame
    are dropped: they could hold text. The report goes into OUT as a
    ``scrub_report`` note record.
    """
    ph = Placeholders(secret if secret is not None else os.urandom(32))
    reader = open_capture(in_path)
    try:
        header = scrub_info(reader.header, ph)
        header["scrubbed"] = True
        writer = _Writer(out_path, header, force)
        try:
            job = _Scrub(writer, ph)
            for rec in reader.records():
                job.record(rec)
            job.finish()
            st = job.stats
            report = {
                "source_truncated": reader.truncation_reason if reader.truncated else None,
                "replaced": dict(sorted(job.bodies.counts.items())),
                "strings_replaced": sum(job.bodies.counts.values()),
                "pdus_reencoded": dict(sorted(st["pdus_reencoded"].items())),
                "frames_dropped": dict(st["frames_dropped"]),
                "bytes_skipped": st["bytes_skipped"],
                "incomplete_tail_bytes": st["incomplete_tail_bytes"],
                "records_in": st["records_in"],
                "data_records": {"in": st["data_records_in"], "out": st["data_records_out"]},
                "wire_bytes": {"in": dict(st["wire_bytes_in"]), "out": dict(st["wire_bytes_out"])},
                "decompressed_bytes": {"in": st["decompressed_bytes_in"], "out": st["decompressed_bytes_out"]},
                "kept": sorted(f"{a}.{b}" for a, b in KEEP_FIELDS),
            }
            writer.write(NOTE, job.last_t, 0, "", json.dumps({"scrub_report": report}).encode())
        finally:
            writer.close()
        return report
    finally:
        reader.f.close()
