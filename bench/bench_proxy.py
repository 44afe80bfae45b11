"""What muxscope costs on the wire, measured against socat in the same run.

Three paths over unix sockets to one mux peer (a separate process): direct,
through socat (Debian package; the baseline relay), and through `muxscope
proxy` with full analysis (decode, attribution, logging at info). Printed:

* added round-trip latency of small PDUs (Ping/Pong): p50 and p99 over the
  direct path, and muxscope's ratio to socat's (target: p50 at most 2x);
* bulk throughput of large compressed GetLinesResponse frames (target: at
  least half of socat's);
* whether the analysis kept up with a 20,000 rows/s stream of GetLinesResponse
  without dropping (muxscope_analysis_dropped_chunks_total stays 0);
* muxscope's peak RSS (target: under 150 MB).

    python -m bench.bench_proxy [--pings 2000] [--bulk-mb 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from codec import encode_pdu

from .content import get_lines_response

PEER = r'''
import os, socket, sys, threading
from codec import PduStream, encode_pdu
from bench.content import get_lines_response
path = sys.argv[1]
big = get_lines_response("coloured", 120, 400)           # ~60 KB compressed frame
srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(64)
def serve(conn):
    stream = PduStream()
    try:
        while True:
            data = conn.recv(1 << 16)
            if not data:
                break
            for p in stream.feed(data):
                if p.name == "Ping":
                    conn.sendall(encode_pdu("Pong", {}, p.serial))
                elif p.name == "GetLines":          # bulk: body.lines[0].end frames of `big`
                    for _ in range(p.body["lines"][0]["end"]):
                        conn.sendall(big)
    except OSError:
        pass
    conn.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


def _wait(path: str) -> None:
    for _ in range(500):
        if os.path.exists(path):
            return
        time.sleep(0.01)
    raise TimeoutError(path)


def _connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s


def _recv_exact(s: socket.socket, n: int) -> None:
    got = 0
    while got < n:
        chunk = s.recv(min(1 << 20, n - got))
        if not chunk:
            raise ConnectionError("closed")
        got += len(chunk)


def ping_rtts(path: str, count: int) -> list[float]:
    s = _connect(path)
    rtts = []
    for serial in range(1, count + 1):
        t0 = time.perf_counter()
        s.sendall(encode_pdu("Ping", {}, serial))
        _recv_exact(s, len(encode_pdu("Pong", {}, serial)))  # 3 bytes, 4 from serial 128 on
        rtts.append(time.perf_counter() - t0)
    s.close()
    return rtts[count // 10:]  # drop warm-up


def bulk_mb_s(path: str, frames: int, frame_len: int) -> float:
    s = _connect(path)
    t0 = time.perf_counter()
    s.sendall(encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": frames}]}, 1))
    _recv_exact(s, frames * frame_len)
    dt = time.perf_counter() - t0
    s.close()
    return frames * frame_len / dt / 1e6


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--bulk-mb", type=float, default=64)
    ap.add_argument("--rows-per-s", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    socat = shutil.which("socat")
    tmp = tempfile.mkdtemp(prefix="muxbench-")
    peer_path, socat_path, mux_path = (os.path.join(tmp, n) for n in ("peer.sock", "socat.sock", "mux.sock"))
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-c", PEER, peer_path]))
        _wait(peer_path)
        if socat:
            procs.append(subprocess.Popen([socat, f"UNIX-LISTEN:{socat_path},fork", f"UNIX-CONNECT:{peer_path}"]))
            _wait(socat_path)
        mux = subprocess.Popen([sys.executable, "-m", "proxy.cli", "proxy", "--listen", f"unix:{mux_path}",
                                "--upstream", f"unix:{peer_path}", "--metrics", "127.0.0.1:0", "--log-level",
                                "info", "--log-file", os.path.join(tmp, "mux.log"), "--log-format", "json"])
        procs.append(mux)
        _wait(mux_path)
        paths = {"direct": peer_path, "muxscope": mux_path}
        if socat:
            paths["socat"] = socat_path
        rtts = {name: ping_rtts(p, args.pings) for name, p in paths.items()}
        base = statistics.median(rtts["direct"])
        print(f"Ping/Pong round trips ({args.pings} each, unix sockets); added latency over direct:")
        added = {}
        for name in ("socat", "muxscope"):
            if name not in rtts:
                continue
            p50 = statistics.median(rtts[name]) - base
            p99 = pct(rtts[name], 0.99) - pct(rtts["direct"], 0.99)
            added[name] = (p50, p99)
            print(f"  {name:9} p50 +{p50 * 1e6:7.1f} us   p99 +{p99 * 1e6:7.1f} us")
        print(f"  direct    p50 {base * 1e6:7.1f} us (baseline); round trips p50: "
              + ", ".join(f"{n} {statistics.median(v) * 1e6:.1f} us" for n, v in rtts.items()))
        if "socat" in added:
            print(f"  muxscope/socat added p50 ratio: {added['muxscope'][0] / added['socat'][0]:.2f} (target <= 2)")
        frame_len = len(get_lines_response("coloured", 120, 400))
        frames = max(1, int(args.bulk_mb * 1e6 / frame_len))
        print(f"Bulk: {frames} compressed GetLinesResponse frames of {frame_len / 1024:.1f} KiB (400 rows each)")
        bulk = {name: bulk_mb_s(p, frames, frame_len) for name, p in paths.items()}
        for name, v in bulk.items():
            print(f"  {name:9} {v:8.1f} MB/s")
        if "socat" in bulk:
            print(f"  muxscope/socat throughput ratio: {bulk['muxscope'] / bulk['socat']:.2f} (target >= 0.5)")
        # analysis keeping up: 20,000 rows/s = 50 frames of 400 rows per second, paced
        per_s = max(1, args.rows_per_s // 400)
        s = _connect(mux_path)
        t_end = time.monotonic() + args.seconds
        sent = 0
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            s.sendall(encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": per_s // 10 or 1}]}, 1))
            _recv_exact(s, (per_s // 10 or 1) * frame_len)
            sent += (per_s // 10 or 1) * 400
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
        s.close()
        time.sleep(1.0)
        port = None
        for line in Path(os.path.join(tmp, "mux.log")).read_text().splitlines():
            if '"metrics_listening"' in line:
                port = int(line.split("127.0.0.1:")[1].split("/")[0])
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        dropped = next(float(ln.split()[-1]) for ln in text.splitlines()
                       if ln.startswith("muxscope_analysis_dropped_chunks_total"))
        rows_seen = next(float(ln.split()[-1]) for ln in text.splitlines()
                         if ln.startswith("muxscope_pdus_total") and "GetLinesResponse" in ln)
        print(f"Analysis at {sent / args.seconds:,.0f} rows/s for {args.seconds:g} s: dropped chunks {dropped:.0f}, "
              f"GetLinesResponse decoded {rows_seen:.0f} (target: 0 dropped)")
        print(f"muxscope peak RSS: {peak_rss_mb(mux.pid):.1f} MB (target < 150 MB)")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if not socat:
        print("socat not installed: ratios to socat not measured (apt-get install socat)")


if __name__ == "__main__":
    main()
