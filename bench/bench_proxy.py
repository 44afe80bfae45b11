"""What muxscope costs on the wire, measured against socat in the same run.

Paths over unix sockets to one mux peer (a separate process): direct, through
socat (Debian package; the baseline relay), and through `muxscope proxy` with
full analysis (decode, attribution, logging at info) in its own process, once
per event loop (uvloop when installed, and asyncio's). Every measurement runs
the paths interleaved, in rounds with the order rotated, so a busy moment of a
shared machine is not charged to one path. Printed, with issue #13's targets:

* added round-trip latency of small PDUs (Ping/Pong) over the direct path, as
  ratios to socat's: p50 at most 1.0x, p99 at most 3x;
* bulk throughput of large compressed GetLinesResponse frames: at least 0.8x socat's;
* 64 connections at 2,000 round trips/s in total: added p50 under 1 ms, p99
  under 10 ms, 0 bytes lost;
* whether the analysis kept up with 100,000 rows/s of GetLinesResponse without
  dropping (muxscope_analysis_dropped_chunks_total stays 0);
* peak RSS: the relay's process under 60 MB, relay and analysis together under 200 MB.

    python -m bench.bench_proxy [--pings 2000] [--bulk-mb 64] [--rows-per-s 100000] [--seconds 60] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
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
from proxy.eventloop import uvloop_available

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


async def _load_client(path: str, rate: float, until: float, rtts: list[float], lost: list[int]) -> None:
    import asyncio

    try:
        reader, writer = await asyncio.open_unix_connection(path)
    except OSError:
        lost.append(1)
        return
    serial = 0
    await asyncio.sleep(random.random() / rate)  # independent clients: not all in phase
    while time.monotonic() < until:
        serial += 1
        req, resp = encode_pdu("Ping", {}, serial), encode_pdu("Pong", {}, serial)
        t0 = time.perf_counter()
        writer.write(req)
        try:
            got = await asyncio.wait_for(reader.readexactly(len(resp)), 5)
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            lost.append(len(resp))
            break
        rtts.append(time.perf_counter() - t0)
        if got != resp:
            lost.append(len(resp))
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t0)))
    writer.close()


def load_rtts(path: str, conns: int, total_rate: float, seconds: float) -> tuple[list[float], int]:
    """``conns`` connections doing ``total_rate`` Ping round trips/s in all; (RTTs, bytes lost)."""
    import asyncio

    rtts: list[float] = []
    lost: list[int] = []

    async def run() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(_load_client(path, total_rate / conns, until, rtts, lost) for _ in range(conns)))

    asyncio.run(run())
    return rtts[len(rtts) // 10 :], sum(lost)


def tree_peak_rss_mb(pid: int) -> tuple[float, float]:
    """(the process's peak RSS, its and its children's together) in MB."""
    own = peak_rss_mb(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own, own + sum(peak_rss_mb(int(c)) for c in children)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _mux_cmd(tmp: str, name: str, loop: str, peer_path: str) -> list[str]:
    return [sys.executable, "-m", "proxy.cli", "proxy", "--listen", f"unix:{os.path.join(tmp, name + '.sock')}",
            "--upstream", f"unix:{peer_path}", "--metrics", "127.0.0.1:0", "--log-level", "info",
            "--log-file", os.path.join(tmp, name + ".log"), "--log-format", "json", "--event-loop", loop]


def _start(tmp: str, socat: str | None) -> tuple[list[subprocess.Popen], dict[str, str], dict[str, subprocess.Popen]]:
    """The echo peer, socat and a muxscope per event loop in front of it: (processes, the paths to
    compare, the muxscope processes by name)."""
    peer_path, socat_path = os.path.join(tmp, "peer.sock"), os.path.join(tmp, "socat.sock")
    procs = [subprocess.Popen([sys.executable, "-c", PEER, peer_path])]
    _wait(peer_path)
    paths = {"direct": peer_path}
    if socat:
        procs.append(subprocess.Popen([socat, f"UNIX-LISTEN:{socat_path},fork,backlog=128",
                                       f"UNIX-CONNECT:{peer_path}"]))
        _wait(socat_path)
        paths["socat"] = socat_path
    muxes = {}
    for loop in ("uvloop", "asyncio") if uvloop_available() else ("asyncio",):
        name = f"mux-{loop}"
        muxes[name] = subprocess.Popen(_mux_cmd(tmp, name, loop, peer_path))
        procs.append(muxes[name])
        paths[name] = os.path.join(tmp, name + ".sock")
        _wait(paths[name])
    return procs, paths, muxes


def _interleaved(paths: dict[str, str], rounds: int, measure) -> dict[str, list]:
    """``measure(path)`` for every path, ``rounds`` times, the order rotated each round: a slow
    moment of the machine falls on all paths alike, not on whichever ran then."""
    names = list(paths)
    out: dict[str, list] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            out[name].append(measure(paths[name]))
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a (socat added nothing measurable)"


def _latency(paths: dict[str, str], pings: int, rounds: int) -> None:
    per = max(50, pings // rounds)
    runs = _interleaved(paths, rounds, lambda p: ping_rtts(p, per))
    rtts = {n: [x for run in v for x in run] for n, v in runs.items()}
    base50, base99 = statistics.median(rtts["direct"]), pct(rtts["direct"], 0.99)
    print(f"Ping/Pong round trips ({per * rounds} per path in {rounds} interleaved rounds); added over direct:")
    added = {n: (statistics.median(v) - base50, pct(v, 0.99) - base99) for n, v in rtts.items() if n != "direct"}
    for name, (p50, p99) in added.items():
        print(f"  {name:13} p50 +{p50 * 1e6:7.1f} us   p99 +{p99 * 1e6:7.1f} us")
    print(f"  direct        p50 {base50 * 1e6:7.1f} us   p99 {base99 * 1e6:7.1f} us (baseline)")
    if "socat" in added:
        s50, s99 = added["socat"]
        for name, (p50, p99) in added.items():
            if name.startswith("mux"):
                print(f"  {name}/socat added latency: p50 {_ratio(p50, s50)} (target <= 1.0x), "
                      f"p99 {_ratio(p99, s99)} (target <= 3x)")


def _bulk(paths: dict[str, str], bulk_mb: float, rounds: int) -> int:
    """Bulk throughput per path (the median of the rounds); returns the frame length used."""
    frame_len = len(get_lines_response("coloured", 120, 400))
    frames = max(1, int(bulk_mb * 1e6 / frame_len / rounds))
    print(f"Bulk: {frames} compressed GetLinesResponse frames of {frame_len / 1024:.1f} KiB (400 rows each), "
          f"{rounds} interleaved rounds")
    runs = _interleaved({n: p for n, p in paths.items() if n != "direct"} | {"direct": paths["direct"]}, rounds,
                        lambda p: bulk_mb_s(p, frames, frame_len))
    bulk = {n: statistics.median(v) for n, v in runs.items()}
    for name, v in bulk.items():
        print(f"  {name:13} {v:8.1f} MB/s (median; rounds {min(runs[name]):.0f}-{max(runs[name]):.0f})")
    if "socat" in bulk:
        for name in (n for n in bulk if n.startswith("mux")):
            print(f"  {name}/socat throughput ratio: {bulk[name] / bulk['socat']:.2f} (target >= 0.8)")
    return frame_len


def _load(paths: dict[str, str], seconds: float, rounds: int) -> None:
    print(f"64 connections at 2,000 round trips/s, {seconds:g} s per path in {rounds} interleaved rounds; "
          "added over direct:")
    runs = _interleaved(paths, rounds, lambda p: load_rtts(p, 64, 2000, seconds / rounds))
    load = {n: ([x for rt, _ in v for x in rt], sum(lost for _, lost in v)) for n, v in runs.items()}
    d50, d99 = statistics.median(load["direct"][0]), pct(load["direct"][0], 0.99)
    added = {}
    for name, (rt, lost) in load.items():
        if name != "direct":
            added[name] = (statistics.median(rt) - d50, pct(rt, 0.99) - d99)
            print(f"  {name:13} p50 +{added[name][0] * 1e3:6.3f} ms  p99 +{added[name][1] * 1e3:6.3f} ms  "
                  f"{len(rt) / seconds / 0.9:,.0f} rt/s  lost {lost} B (targets: < 1 ms, < 10 ms, 0 B)")
    if "socat" in added:
        for name in (n for n in added if n.startswith("mux")):
            print(f"  {name}/socat under load: p50 {_ratio(added[name][0], added['socat'][0])}, "
                  f"p99 {_ratio(added[name][1], added['socat'][1])}")


def _metric(port: int, prefix: str, contains: str = "") -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith(prefix) and contains in ln)


def _analysis_keeps_up(log_path: str, mux_path: str, frame_len: int, rows_per_s: int, seconds: float) -> None:
    """100,000 rows/s = 250 frames of 400 rows per second, paced; then what the analysis dropped."""
    port = None
    for line in Path(log_path).read_text().splitlines():
        if '"metrics_listening"' in line:
            port = int(line.split("127.0.0.1:")[1].split("/")[0])
    time.sleep(3.0)  # let the analysis finish (or drop) what the bulk run gave it
    dropped0 = _metric(port, "muxscope_analysis_dropped_chunks_total")
    seen0 = _metric(port, "muxscope_pdus_total", "GetLinesResponse")
    per_tick = max(1, rows_per_s // 400) // 10 or 1
    s = _connect(mux_path)
    t_end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < t_end:
        t0 = time.monotonic()
        s.sendall(encode_pdu("GetLines", {"pane_id": 0, "lines": [{"start": 0, "end": per_tick}]}, 1))
        _recv_exact(s, per_tick * frame_len)
        sent += per_tick * 400
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
    s.close()
    time.sleep(2.0)  # the analysis sends its figures once a second
    dropped = _metric(port, "muxscope_analysis_dropped_chunks_total") - dropped0
    rows_seen = _metric(port, "muxscope_pdus_total", "GetLinesResponse") - seen0
    print(f"Analysis at {sent / seconds:,.0f} rows/s for {seconds:g} s: dropped chunks {dropped:.0f}, "
          f"GetLinesResponse decoded {rows_seen:.0f} of {sent // 400} (target: 0 dropped)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--bulk-mb", type=float, default=64)
    ap.add_argument("--rows-per-s", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the analysis is fed rows")
    ap.add_argument("--load-seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per measurement")
    args = ap.parse_args()
    socat = shutil.which("socat")
    tmp = tempfile.mkdtemp(prefix="muxbench-")
    procs: list[subprocess.Popen] = []
    try:
        procs, paths, muxes = _start(tmp, socat)
        _latency(paths, args.pings, args.rounds)
        frame_len = _bulk(paths, args.bulk_mb, args.rounds)
        _load(paths, args.load_seconds, args.rounds)
        first = next(iter(muxes))
        if args.seconds > 0:
            print(f"({first})")
            _analysis_keeps_up(os.path.join(tmp, first + ".log"), paths[first], frame_len, args.rows_per_s,
                               args.seconds)
        for name, mux in muxes.items():
            relay_mb, all_mb = tree_peak_rss_mb(mux.pid)
            print(f"{name} peak RSS: relay process {relay_mb:.1f} MB (target < 60), with the analysis "
                  f"{all_mb:.1f} MB (target < 200)")
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
