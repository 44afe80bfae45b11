"""Make the sample captures in this directory (re-runnable; fixed seeds).

Each sample is a real recording: the emulated mux server behind an in-process
muxscope proxy (optionally over a shaped link) recording with ``capture=``,
and the emulated wezterm-gui client playing one scenario through it. Seeds
fix the content and the scenario's steps; timings are as measured on the
machine that ran this, so re-running gives equivalent, not byte-identical,
files.

    python captures/make_captures.py                 # all samples
    python captures/make_captures.py typing          # just one
    python captures/make_captures.py --sanitise      # only rewrite the records of the files here

The proxy records the sockets it used in each connection's ``open`` record; the
recording runs in a temporary directory, so :func:`sanitise` rewrites those
records (and nothing else: data records and timings stay byte for byte) to the
fixed names the header already uses, as it does for files made before it existed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from dataclasses import dataclass

import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from muxscope_emulator.client import ClientOptions, EmulatedClient  # noqa: E402
from muxscope_emulator.server import EmulatedMuxServer, ServerOptions  # noqa: E402
from proxy.capture.format import KIND_BY_NAME, encode_header, encode_record, open_capture  # noqa: E402
from proxy.observe import logs  # noqa: E402
from proxy.relay.endpoints import UnixAddress  # noqa: E402
from proxy.relay.shaping import LinkShape, shaper_for  # noqa: E402
from proxy.runtime import ProxyRuntime, RuntimeOptions  # noqa: E402

MAX_BYTES = 2 * 1024 * 1024
#: What a sample's connection records say instead of the temporary directory's sockets.
FIXED_ADDRESSES = {"listen": "unix:proxy.sock", "upstream": "unix:mux.sock (emulated server)"}


def sanitise(path: str) -> int:
    """Rewrite ``path`` with fixed socket names in its open/close/note records; returns records changed."""
    reader = open_capture(path)
    changed = 0
    out = bytearray(encode_header(reader.header))
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    try:
        for rec in reader.records():
            payload = rec.data
            if rec.kind != "data" and payload:
                info = rec.info
                fixed = {k: FIXED_ADDRESSES[k] if k in FIXED_ADDRESSES and isinstance(v, str) else v
                         for k, v in info.items()}
                if fixed != info:
                    changed += 1
                    payload = json.dumps(fixed).encode()
            out += cobj.compress(encode_record(KIND_BY_NAME[rec.kind], rec.t_ns, rec.conn_id, rec.direction,
                                               payload))
        if reader.truncated:
            raise SystemExit(f"{path}: truncated ({reader.truncation_reason}); not rewritten")
    finally:
        reader.f.close()
    out += cobj.flush()
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(out)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return changed


@dataclass(frozen=True)
class Sample:
    name: str
    scenario: str
    shape: str | None
    seed: int
    what: str
    resizes: int = 20


SAMPLES = [
    Sample("resize-drag-40ms", "resize-drag", "rtt=40ms,bandwidth=20mbit", 1,
           "a window corner dragged through 20 sizes in ~1 s over a 40 ms / 20 Mbit link"),
    Sample("typing", "typing", None, 2, "three commands typed key by key (SendKeyDown), echo pushed back"),
]


async def make(sample: Sample, out_dir: str = HERE) -> str:
    """Record ``sample`` to ``out_dir/<name>.muxcap``; returns the path."""
    path = os.path.join(out_dir, f"{sample.name}.muxcap")
    with tempfile.TemporaryDirectory(prefix="muxscope-capture-") as tmp:
        server = EmulatedMuxServer(ServerOptions(seed=sample.seed))
        upstream = await server.start(UnixAddress(os.path.join(tmp, "mux.sock")))
        listen = UnixAddress(os.path.join(tmp, "proxy.sock"))
        wrap = shaper_for(LinkShape.parse(sample.shape)) if sample.shape else None
        meta = {
            "host": "muxscope-sample",  # not the machine's hostname: these files are committed
            "listen": "unix:proxy.sock",
            "upstream": "unix:mux.sock (emulated server)",
            "options": {"made_by": "captures/make_captures.py", "scenario": sample.scenario,
                        "shape": sample.shape, "seed": sample.seed},
        }
        rt = ProxyRuntime(RuntimeOptions(listen=listen, upstream=upstream, capture=path, wrap_side=wrap,
                                         capture_meta=meta, capture_force=True))
        await rt.start()
        try:
            client = EmulatedClient(ClientOptions(scenario=sample.scenario, seed=sample.seed,
                                                  resizes=sample.resizes))
            report = await client.run(listen)
        finally:
            await rt.stop()
            await server.stop()
    sanitise(path)  # also makes it 0644: the writer makes captures private; these samples are meant to be shared
    size = os.path.getsize(path)
    print(f"{path}: {size} bytes; client fetched {report.rows_fetched} rows, settled={report.settled}")
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over the {MAX_BYTES} byte budget for samples")
    return path


def main(argv: list[str]) -> int:
    logs.configure("console", "warning")
    if argv == ["--sanitise"]:
        for sample in SAMPLES:
            path = os.path.join(HERE, f"{sample.name}.muxcap")
            print(f"{path}: {sanitise(path)} records rewritten")
        return 0
    wanted = set(argv) or {s.name for s in SAMPLES}
    unknown = wanted - {s.name for s in SAMPLES}
    if unknown:
        print(f"unknown sample(s): {', '.join(sorted(unknown))}; known: {', '.join(s.name for s in SAMPLES)}")
        return 2
    for sample in SAMPLES:
        if sample.name in wanted:
            asyncio.run(make(sample))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
