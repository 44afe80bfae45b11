"""``muxscope decode FILE``: print every PDU of a raw frame stream (or a capture).

Default output is a readable tree in the manner of ``tshark -V``; ``--json``
prints one JSON object per PDU per line, with ``body`` rendered as serde_json
renders the Rust value so it can be compared field by field with WezTerm's
own types. A frame that does not decode is reported with its offset and the
tool goes on with the next one it can find.

The output is always valid UTF-8: JSON carries an ``OsString`` as serde does
(``{"Unix": [bytes]}``), so arguments and environment values that are not
UTF-8 survive exactly; the tree shows such bytes as ``\\xNN``. The exit status
tells a script whether the input was what it hoped: 0 when every frame decoded
to a known PDU, 1 when some did not (errors, unknown idents) or there was
nothing to decode, 2 when the input could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from codec.direction import Direction
from codec.pdu import LINE_FIELDS, Pdu, PduStream, StreamError, StreamErrorKind, pdu_lines
from codec.schema.mux import UnixOsString, WindowsOsString
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
        epilog="exit status: 0 every frame decoded to a known PDU; 1 some did not (errors, unknown idents), "
        "or there was nothing to decode; 2 the input could not be read.",
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


def _readable(value: Any) -> Any:
    """For the tree: an ``OsString`` as text, its bytes that are not UTF-8 as ``\\xNN``."""
    if isinstance(value, UnixOsString):
        return value.raw().decode("utf-8", "backslashreplace")
    if isinstance(value, WindowsOsString):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "backslashreplace")
    if isinstance(value, dict):
        return {_readable(k): _readable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_readable(v) for v in value]
    return value


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
    body = to_json(_readable(pdu.body))
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


@dataclass
class Tally:
    """What a decode run met, for the summary line and the exit status."""

    pdus: int = 0
    unknown: int = 0
    errors: int = 0

    def summary(self) -> str:
        unknown = f", {self.unknown} of unknown ident" if self.unknown else ""
        return f"{self.pdus} PDUs{unknown}, {self.errors} errors"


def render(items: Iterator[tuple[Direction | str, Pdu | StreamError]], as_json: bool, cells: bool,
           out: IO[bytes]) -> Tally:
    """Write every item to ``out`` as UTF-8 (strict: an unencodable string is a bug, not output)."""
    tally = Tally()
    for direction, item in items:
        if isinstance(item, StreamError):
            tally.errors += 1
            if as_json:
                rec = {"error": item.reason, "offset": item.offset, "kind": item.kind}
                if direction:
                    rec["direction"] = direction
                text = json.dumps(rec, ensure_ascii=False)
            else:
                text = f"!! offset {item.offset}: {item.kind} error: {item.reason}"
        else:
            tally.pdus += 1
            tally.unknown += not item.known
            if as_json:
                text = json.dumps(json_record(item, direction), ensure_ascii=False)
            else:
                text = tree_record(item, tally.pdus, direction, cells)
        out.write(text.encode("utf-8") + b"\n")
    return tally


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
        try:
            if capture_format.is_capture(head):
                items = capture_format.iter_capture_pdus(f, version)
            else:
                items = iter_stream(read_chunks(f), version)
            sys.stdout.flush()
            tally = render(items, as_json, cells, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        except capture_format.CaptureError as exc:
            print(f"muxscope decode: {path}: {exc}", file=sys.stderr)
            return 2
    name = "stdin" if path == "-" else path
    if tally.pdus == tally.errors == 0:
        print(f"muxscope decode: {name} is empty: no frames to decode", file=sys.stderr)
        return 1
    print(tally.summary(), file=sys.stderr)
    if tally.pdus == tally.unknown:
        print(f"muxscope decode: no frame of {name} decoded to a known PDU: it does not look like a mux frame "
              "stream or a .muxcap capture", file=sys.stderr)
        return 1
    return 1 if tally.errors or tally.unknown else 0
