"""``muxscope decode FILE``: print every PDU of a raw frame stream (or a capture).

Default output is a readable tree in the manner of ``tshark -V``; ``--json``
prints one JSON object per PDU per line, with ``body`` rendered as serde_json
renders the Rust value so it can be compared field by field with WezTerm's
own types. A frame that does not decode is reported with its offset and the
tool goes on with the next one it can find.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from codec.direction import Direction
from codec.pdu import LINE_FIELDS, Pdu, PduStream, StreamError, StreamErrorKind, pdu_lines
from codec.schema.versions import DEFAULT_VERSION, SUPPORTED
from codec.wire.varbincode import to_json

CHUNK = 1 << 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="print every PDU of a raw frame stream or a capture",
        description="Decode a raw stream of mux frames (or a .muxcap capture) and print each PDU: "
        "a readable tree by default, one JSON object per line with --json. Bad frames are reported "
        "with their offset and decoding resumes at the next plausible frame.",
    )
    p.add_argument("file", help="raw frame stream or .muxcap capture ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per PDU per line")
    p.add_argument("--codec-version", type=int, choices=SUPPORTED, default=None,
                   help=f"decode as this codec version (default: from GetCodecVersionResponse, else {DEFAULT_VERSION})")
    p.add_argument("--cells", action="store_true", help="tree output: show every cell, not one line per row")
    p.set_defaults(func=lambda args: run(args.file, args.json, args.codec_version, args.cells))


def iter_stream(
    data_chunks: Iterator[bytes], version: int | None
) -> Iterator[tuple[Direction | str, Pdu | StreamError]]:
    """Decode a raw (single-direction) frame stream; yields ("", item)."""
    stream = PduStream(version)
    for chunk in data_chunks:
        for item in stream.feed(chunk):
            yield "", item
    left = stream.frames.close()
    if left:
        reason = f"stream ends inside a frame ({left} bytes left over)"
        yield "", StreamError(stream.frames.offset, reason, StreamErrorKind.FRAME)


def json_record(pdu: Pdu, direction: Direction | str = "") -> dict[str, Any]:
    rec: dict[str, Any] = {}
    if direction:
        rec["direction"] = direction
    rec.update(
        serial=pdu.serial,
        ident=pdu.ident,
        pdu=pdu.name,
        compressed=pdu.compressed,
        wire_bytes=pdu.wire_len,
        payload_bytes=len(pdu.payload),
        body=to_json(pdu.body),
    )
    if pdu.name in LINE_FIELDS:
        rec["lines"] = pdu_lines(pdu)
    return rec


def _tree(value: Any, indent: int, out: list[str], key: str) -> None:
    pad = "    " * indent
    if isinstance(value, dict):
        if not value:
            out.append(f"{pad}{key}: {{}}")
            return
        out.append(f"{pad}{key}:")
        for k, v in value.items():
            _tree(v, indent + 1, out, str(k))
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append(f"{pad}{key}: []")
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and len(value) <= 32:
            out.append(f"{pad}{key}: {list(value)}")
        else:
            out.append(f"{pad}{key}: ({len(value)} items)")
            for i, v in enumerate(value):
                _tree(v, indent + 1, out, f"[{i}]")
    elif isinstance(value, (bytes, bytearray)):
        shown = value[:48].hex(" ")
        out.append(f"{pad}{key}: {len(value)} bytes: {shown}{' ...' if len(value) > 48 else ''}")
    else:
        out.append(f"{pad}{key}: {json.dumps(value, ensure_ascii=False)}")


_ARROWS = {Direction.CLIENT_TO_SERVER: "client -> server ", Direction.SERVER_TO_CLIENT: "server -> client "}


def tree_record(pdu: Pdu, index: int, direction: Direction | str = "", cells: bool = False) -> str:
    flags = "compressed " if pdu.compressed else ""
    arrow = _ARROWS.get(direction, "")
    head = (
        f"Frame {index} @ offset {pdu.offset}: {arrow}{pdu.name} serial={pdu.serial} ident={pdu.ident} "
        f"{flags}wire={pdu.wire_len} B payload={len(pdu.payload)} B"
    )
    out = [head]
    if not pdu.known:
        out.append(f"    (unknown ident: {len(pdu.payload)} payload bytes kept)")
        return "\n".join(out)
    body = to_json(pdu.body)
    line_field = LINE_FIELDS.get(pdu.name)
    if isinstance(body, dict):
        for k, v in body.items():
            if k == line_field and not cells:
                lines = pdu_lines(pdu)
                out.append(f"    {k}: ({len(lines)} lines, {len(v.get('hyperlinks', []))} hyperlinks, "
                           f"{len(v.get('images', []))} images)")
                for ln in lines:
                    out.append(f"        row {ln['row']} seqno {ln['seqno']} fp {ln['fingerprint']}: "
                               f"{json.dumps(ln['text'], ensure_ascii=False)}")
            else:
                _tree(v, 1, out, k)
    elif body is not None:
        _tree(body, 1, out, "value")
    return "\n".join(out)


def render(
    items: Iterator[tuple[Direction | str, Pdu | StreamError]], as_json: bool, cells: bool, out: IO[str]
) -> tuple[int, int]:
    count = errors = 0
    for direction, item in items:
        if isinstance(item, StreamError):
            errors += 1
            if as_json:
                rec = {"error": item.reason, "offset": item.offset, "kind": item.kind}
                if direction:
                    rec["direction"] = direction
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                out.write(f"!! offset {item.offset}: {item.kind} error: {item.reason}\n")
            continue
        count += 1
        if as_json:
            out.write(json.dumps(json_record(item, direction), ensure_ascii=False) + "\n")
        else:
            out.write(tree_record(item, count, direction, cells) + "\n")
    return count, errors


def read_chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def run(path: str, as_json: bool, version: int | None, cells: bool = False) -> int:
    from proxy.capture import format as capture_format

    try:
        f = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        print(f"muxscope decode: cannot open {path}: {exc.strerror}", file=sys.stderr)
        return 2
    with f:
        head = f.peek(8)[:8] if hasattr(f, "peek") else b""
        if capture_format.is_capture(head):
            items = capture_format.iter_capture_pdus(f, version)
        else:
            items = iter_stream(read_chunks(f), version)
        try:
            count, errors = render(items, as_json, cells, sys.stdout)
        except BrokenPipeError:
            return 0
    print(f"{count} PDUs, {errors} errors", file=sys.stderr)
    return 1 if errors and not count else 0
