"""The plain-Lua zstd decoder inside wireshark/muxscope.lua, run by tshark's own Lua on its own.

Wireshark before 4.3 has no zstd in its Lua API, so the dissector carries a decoder (RFC 8878). The
source, ``wireshark/src/zstd.lua``, is given a small runner (tshark's Lua runs it as it loads),
and fed frames made by the zstandard library at every kind of setting; its output must be the input,
byte for byte, and damaged frames must fail with a zstd error, never a Lua error or a hang.
"""

from __future__ import annotations

import os
import random
import subprocess

import zstandard

from proxy.capture.pcapng import PcapngWriter, TcpFlow
from tests.components import require_binary
from tests.tshark import LUA

ZSTD_LUA = LUA.parent / "src" / "zstd.lua"

RUNNER = r"""
local f = io.open(os.getenv("ZSTD_IN"), "r")
local o = io.open(os.getenv("ZSTD_OUT"), "w")
local limit = tonumber(os.getenv("ZSTD_LIMIT"))
local function unhex(h) return (h:gsub("..", function(c) return string.char(tonumber(c, 16)) end)) end
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
for line in f:lines() do
  local ok, res = pcall(zstd.decompress, unhex(line), limit)
  if ok then o:write("OK ", hex(res), "\n")
  elseif type(res) == "table" then o:write("ZSTD ", tostring(res.zstd), "\n")
  else o:write("LUA ", (tostring(res):gsub("\n", " | ")), "\n") end
end
o:close()
"""


def run_decoder(tmp_path, inputs: list[bytes], limit: int = 64 << 20) -> list[tuple[str, str]]:
    section = ZSTD_LUA.read_text()
    script = tmp_path / "zstd_runner.lua"
    script.write_text(section + RUNNER)
    pcap = tmp_path / "one.pcapng"
    with open(pcap, "wb") as f:  # tshark needs a file to read; the script runs as it loads
        PcapngWriter(f, userappl="test").packet(0, TcpFlow.for_connection(1).handshake()[0])
    (tmp_path / "in.txt").write_text("".join(b.hex() + "\n" for b in inputs))
    env = dict(os.environ, ZSTD_IN=str(tmp_path / "in.txt"), ZSTD_OUT=str(tmp_path / "out.txt"),
               ZSTD_LIMIT=str(limit))
    proc = subprocess.run([require_binary("tshark"), "-X", f"lua_script:{script}", "-r", str(pcap)],
                          env=env, capture_output=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = [line.partition(" ") for line in (tmp_path / "out.txt").read_text().splitlines()]
    assert len(out) == len(inputs)
    return [(kind, rest) for kind, _, rest in out]


def samples() -> list[bytes]:
    rng = random.Random(17)
    termwiz_like = b"".join(b"\x00" + bytes([rng.randrange(32, 127)]) + b"\x00\x00\x01\x00" for _ in range(3000))
    out = [b"", b"x", b"hello world " * 60, bytes(range(256)) * 50, rng.randbytes(7000), termwiz_like,
           LUA.read_bytes()]  # text big enough for several 128 KB blocks and 4-stream literals
    for _ in range(25):
        parts: list[bytes] = []
        for _ in range(rng.randrange(1, 25)):
            k = rng.random()
            if k < 0.3:
                parts.append(rng.randbytes(rng.randrange(0, 400)))
            elif k < 0.6:
                parts.append(bytes([rng.randrange(256)]) * rng.randrange(1, 5000))
            else:
                parts.append(rng.choice(parts) if parts else b"abc" * 9)
        out.append(b"".join(parts))
    return out


def compressed_variants(data: bytes, rng: random.Random) -> list[bytes]:
    frames = []
    for level in (1, 3, 19, -5, rng.choice([2, 6, 9, 12, 15, 22])):
        frames.append(zstandard.ZstdCompressor(level=level, write_content_size=rng.random() < 0.5,
                                               write_checksum=rng.random() < 0.5).compress(data))
    # WezTerm 42/44 stream at the default level: no content size in the frame header
    cobj = zstandard.ZstdCompressor(level=3, write_content_size=False).compressobj()
    frames.append(cobj.compress(data) + cobj.flush())
    return frames


def test_lua_zstd_inflates_what_zstandard_compresses(tmp_path):
    rng = random.Random(3)
    cases = [(data, frame) for data in samples() for frame in compressed_variants(data, rng)]
    two = zstandard.ZstdCompressor().compress(b"first ") + zstandard.ZstdCompressor().compress(b"second")
    skippable = b"\x50\x2a\x4d\x18\x03\x00\x00\x00abc" + zstandard.ZstdCompressor().compress(b"after a skip")
    cases += [(b"first second", two), (b"after a skip", skippable)]
    results = run_decoder(tmp_path, [frame for _, frame in cases])
    wrong = [(len(data), kind, rest[:80]) for (data, _), (kind, rest) in zip(cases, results, strict=True)
             if (kind, rest) != ("OK", data.hex())]
    assert wrong == []
    assert len(cases) > 190


def test_lua_zstd_fails_cleanly_on_damage_and_bombs(tmp_path):
    rng = random.Random(11)
    good = [f for data in samples()[:12] for f in compressed_variants(data, rng)]
    damaged = []
    for _ in range(300):
        frame = bytearray(rng.choice(good))
        if len(frame) > 8:
            for _ in range(rng.randrange(1, 4)):
                frame[rng.randrange(4, len(frame))] = rng.randrange(256)
            if rng.random() < 0.3:
                frame = frame[: rng.randrange(4, len(frame))]
        damaged.append(bytes(frame))
    results = run_decoder(tmp_path, damaged)
    assert [r for r in results if r[0] == "LUA"] == []  # every failure is a zstd error, none a Lua crash
    assert sum(r[0] == "ZSTD" for r in results) > 50
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\x00" * (8 << 20))
    (kind, msg), = run_decoder(tmp_path, [bomb], limit=1 << 20)
    assert kind == "ZSTD" and "limit" in msg


def test_runner_reads_back_a_known_frame(tmp_path):
    """The harness itself: a frame whose bytes are fixed here decodes to its text."""
    frame = bytes.fromhex("28b52ffd2005290000") + b"hello"  # one raw block, single segment, size 5
    assert zstandard.ZstdDecompressor().decompress(frame) == b"hello"
    assert run_decoder(tmp_path, [frame]) == [("OK", b"hello".hex())]
