"""Running the real tshark with wireshark/muxscope.lua, and reading what it dissected.

tshark writes PDML (its XML packet tree); each ``wezmux`` protocol element is one
PDU (or one run of garbage) with its named fields. Missing tshark skips the
test, or fails it under ``MUXSCOPE_REQUIRE_INTEGRATION=1`` (tests/components.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from proxy.capture.format import OPEN, encode_header, encode_record
from tests.components import REPO, require_binary

LUA = REPO / "wireshark" / "muxscope.lua"


@dataclass
class WezPdu:
    """One ``wezmux`` tree of a packet: its fields by name (each a list: a field may repeat)."""

    frame: int
    src_port: int
    fields: dict[str, list[str]] = field(default_factory=dict)

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    @property
    def is_frame(self) -> bool:
        return "wezmux.serial" in self.fields


@dataclass
class Packet:
    number: int
    time_epoch: str
    src_port: int
    comments: list[str]
    pdus: list[WezPdu]


def _fields(elem: ET.Element, out: dict[str, list[str]]) -> None:
    for child in elem:
        name = child.get("name")
        if name:
            out.setdefault(name, []).append(child.get("show", ""))
        _fields(child, out)


def dissect(pcap: Path, *options: str) -> list[Packet]:
    """Every packet of ``pcap`` as tshark (two passes, the dissector loaded) shows it."""
    tshark = require_binary("tshark")
    argv = [tshark, "-n", "-2", "-X", f"lua_script:{LUA}", "-r", str(pcap), "-T", "pdml"]
    for opt in options:
        argv += ["-o", opt]
    proc = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"tshark failed ({proc.returncode}): {err}"
    assert "Lua" not in err and "Error" not in err, f"tshark reported a problem: {err}"
    assert b"Lua Error" not in proc.stdout, "the dissector raised a Lua error (search the PDML for 'Lua Error')"
    packets = []
    for pkt in ET.fromstring(proc.stdout).iter("packet"):
        meta: dict[str, list[str]] = {}
        for proto in pkt.findall("proto[@name='frame']") + pkt.findall("proto[@name='pkt_comment']"):
            _fields(proto, meta)
        tcp: dict[str, list[str]] = {}
        for proto in pkt.findall("proto[@name='tcp']"):
            _fields(proto, tcp)
        number = int(meta["frame.number"][0])
        port = int(tcp.get("tcp.srcport", ["0"])[0])
        comments = list(meta.get("frame.comment", []))
        pdus = []
        for proto in pkt.findall("proto[@name='wezmux']"):
            wp = WezPdu(number, port)
            _fields(proto, wp.fields)
            pdus.append(wp)
        packets.append(Packet(number, meta.get("frame.time_epoch", [""])[0], port, comments, pdus))
    return packets


def tshark_fields(pcap: Path, fields: list[str], *options: str) -> list[list[str]]:
    """``tshark -T fields`` (dissector loaded, two passes): one row per packet."""
    argv = [require_binary("tshark"), "-n", "-2", "-X", f"lua_script:{LUA}", "-r", str(pcap), "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    for opt in options:
        argv += ["-o", opt]
    proc = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return [line.split("\t") for line in proc.stdout.decode().splitlines()]


def frames(packets: list[Packet]) -> list[WezPdu]:
    return [p for pkt in packets for p in pkt.pdus if p.is_frame]


def muxscope_decode(path: Path) -> list[dict[str, Any]]:
    """``muxscope decode --json PATH``, one dict per line (PDUs and errors).

    Exit status 1 means some bytes did not decode (the records say which); only 2, unreadable, is a failure.
    """
    proc = subprocess.run([sys.executable, "-m", "proxy.cli", "decode", "--json", str(path)],
                          capture_output=True, timeout=300, check=False, cwd=REPO)
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert proc.returncode == (1 if any("error" in r for r in records) else 0), proc.stderr.decode()
    return records


def export(capture: Path, out: Path, *extra: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "proxy.cli", "export", "--pcapng", str(out), *extra, str(capture)],
                          capture_output=True, timeout=300, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stderr.decode()


def write_capture(path: Path, records: list[tuple[int, int, int, str, bytes]], *, cut: int = 0,
                  started_at: str = "2026-01-02T03:04:05.000006+00:00") -> None:
    """A .muxcap of ``records`` (kind, t_ns, conn_id, direction, payload), each flushed as its own
    zstd frame; ``cut`` drops that many bytes off the end (a capture the proxy was killed in)."""
    header = {"format": "muxcap", "version": 1, "muxscope_version": "test", "started_at": started_at,
              "t0_monotonic_ns": 0, "host": "test", "listen": "tcp:127.0.0.1:1", "upstream": "tcp:127.0.0.1:2",
              "options": {}}
    cctx = zstandard.ZstdCompressor()
    body = b"".join(cctx.compress(encode_record(*rec)) for rec in records)
    data = encode_header(header) + body
    path.write_bytes(data[: len(data) - cut] if cut else data)


def open_record(t_ns: int = 0, conn_id: int = 1) -> tuple[int, int, int, str, bytes]:
    return (OPEN, t_ns, conn_id, "", json.dumps({"client": "test"}).encode())

