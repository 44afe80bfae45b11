"""Would a pump of one OS thread per direction relay small PDUs as fast as socat? (issue #13)

bench/bench_proxy.py shows muxscope's added round-trip latency at 1.4-3.4x socat's and a bare
asyncio/uvloop relay costing the same: the event loop (a poll, then a read, then a write, each
through the loop's machinery) is the cost. socat does select+read+write per chunk in C. A thread
blocked in ``recv_into`` needs no poll at all: recv, then ``sendall``, the GIL released during
both, two system calls per chunk. This prototype measures that against socat in one run,
interleaved in rounds with the order rotated (as bench_proxy does), over unix sockets:

* ``pump``: the bare threaded pump;
* ``pump+tap``: the same, every chunk also put into the shared-memory ring
  (proxy/relay/channel.py) through :class:`proxy.relay.ringtap.RingTap` under a lock (the two
  pump threads share one single-producer ring), with a separate process draining the ring as
  the analysis would: the hand-off muxscope's relay makes, non-blocking, drop-and-count;
* ``pump+ring``: the same hand-off with nobody draining the ring (big enough for a latency run):
  the put's own cost without the analysis process's polling competing for the cores;
* ``pump+lean``: drained, the ring's put alone (no RingTap bookkeeping): how much a leaner
  hand-off would win back;
* ``pump+tapfirst``: as pump+tap, the hand-off before the send instead of after;
* ``mux-<loop>``: ``muxscope proxy`` itself, for reference.

Printed per round and over all rounds: added p50/p99 over the direct path for Ping/Pong, as
ratios to socat's, and bulk throughput ratios.

Findings (session 20; 2 cores shared by six helpers; 12 runs, most of 24,000 pings and 32 MB per
path in 8 rounds): the bare pump beats socat at p50 in 10 of 12 runs (0.48-0.99x, about +20 us
added against socat's +24 us; 1.27x and 1.97x in the other two) and at bulk (1.33-3.61x). With
the tap it does not: pump+tap 1.06-2.77x at p50 in all 12 runs (+30 to +67 us), pump+tapfirst
0.90x and 1.28x, while mux-uvloop, the relay muxscope has now, was 0.70-1.45x in the same runs.
The put alone is about 1.3 us (pump+ring, undrained: 1.04-1.81x); the drained variants vary
most (pump+lean 1.19-2.66x), so the likely cost is the process polling the ring competing with
two pump threads that wake in turn for two cores (likely, not proven). No fast path was built
on it (#13).

    python -m bench.bench_threadpump [--pings 3000] [--rounds 5] [--bulk-mb 32] [--no-mux] [--pumps pump,pump+tap]
    python -m bench.bench_threadpump --serve LISTEN UPSTREAM [--tap drain|nodrain|lean] [--tap-first]
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
import threading
import time

from proxy.eventloop import uvloop_available

from .bench_proxy import PEER, _mux_cmd, _wait, bulk_mb_s, pct, ping_rtts
from .content import get_lines_response

BUF = 256 * 1024

DRAIN = r'''
import os, sys
from proxy.relay.channel import RingReader
r = RingReader(int(sys.argv[1]))
parent = os.getppid()
n = 0
while os.getppid() == parent:  # ends with the pump
    if r.wait(1.0):
        for _ in r.drain(1024):
            n += 1
'''


def pump(src: socket.socket, dst: socket.socket, submit, conn_id: int, direction: str, done,
         first: bool = False) -> None:
    """Blocking copy ``src`` -> ``dst``: recv_into, sendall, hand-off (``first``: the hand-off before the
    send, so the reply's thread never finds this one holding the GIL); EOF becomes a half-close."""
    buf = bytearray(BUF)
    view = memoryview(buf)
    recv_into, sendall, now = src.recv_into, dst.sendall, time.monotonic_ns
    try:
        while True:
            n = recv_into(buf)
            if not n:
                break
            t_ns = now()
            if first and submit is not None:
                submit(conn_id, direction, t_ns, view[:n])
            sendall(view[:n])
            if not first and submit is not None:
                submit(conn_id, direction, t_ns, view[:n])
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    done()


def serve(listen: str, upstream: str, tap: str, first: bool) -> None:
    submit = None
    if tap:
        from proxy.relay.channel import RingWriter, create_ring
        from proxy.relay.ringtap import RingTap

        fd = create_ring()
        if tap != "nodrain":
            subprocess.Popen([sys.executable, "-c", DRAIN, str(fd)], pass_fds=(fd,))
        ring_tap = RingTap(RingWriter(fd))
        lock = threading.Lock()

        def submit(conn_id: int, direction: str, t_ns: int, data) -> None:
            with lock:
                ring_tap.submit(conn_id, direction, t_ns, data)

        if tap == "lean":  # the put alone: no per-chunk dict look-ups, backlog or capture checks
            put, seqs, dirs = ring_tap.ring.put, {}, {"client_to_server": 1, "server_to_client": 2}

            def submit(conn_id: int, direction: str, t_ns: int, data) -> None:
                key = (conn_id, direction)
                seq = seqs[key] = seqs.get(key, -1) + 1
                with lock:
                    put(1, dirs[direction], conn_id, seq, t_ns, data)

    srv = socket.socket(socket.AF_UNIX)
    srv.bind(listen)
    srv.listen(128)
    conn_id = 0
    while True:
        c, _ = srv.accept()
        u = socket.socket(socket.AF_UNIX)
        u.connect(upstream)
        conn_id += 1
        left = [2]
        lk = threading.Lock()

        def done(c=c, u=u, left=left, lk=lk) -> None:
            with lk:
                left[0] -= 1
                if left[0] == 0:
                    c.close()
                    u.close()

        for a, b, d in ((c, u, "client_to_server"), (u, c, "server_to_client")):
            threading.Thread(target=pump, args=(a, b, submit, conn_id, d, done, first),
                             daemon=True).start()


PUMPS = {"pump": [], "pump+tap": ["--tap", "drain"], "pump+ring": ["--tap", "nodrain"],
         "pump+lean": ["--tap", "lean"], "pump+tapfirst": ["--tap", "drain", "--tap-first"]}


def _start(tmp: str, socat: str, with_mux: bool, pumps: list[str]) -> tuple[list[subprocess.Popen], dict[str, str]]:
    peer = os.path.join(tmp, "peer.sock")
    procs = [subprocess.Popen([sys.executable, "-c", PEER, peer])]
    _wait(peer)
    paths = {"direct": peer, "socat": os.path.join(tmp, "socat.sock")}
    procs.append(subprocess.Popen([socat, f"UNIX-LISTEN:{paths['socat']},fork,backlog=128",
                                   f"UNIX-CONNECT:{peer}"]))
    for name, extra in ((n, PUMPS[n]) for n in pumps):
        paths[name] = os.path.join(tmp, name + ".sock")
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.bench_threadpump", "--serve",
                                       paths[name], peer, *extra]))
    if with_mux:
        loop = "uvloop" if uvloop_available() else "asyncio"
        paths[f"mux-{loop}"] = os.path.join(tmp, f"mux-{loop}.sock")
        procs.append(subprocess.Popen(_mux_cmd(tmp, f"mux-{loop}", loop, peer), stderr=subprocess.DEVNULL))
    for p in paths.values():
        _wait(p)
    return procs, paths


def _rounds(paths: dict[str, str], rounds: int, measure) -> list[dict[str, object]]:
    names = list(paths)
    out = []
    for r in range(rounds):
        res = {}
        for name in names[r % len(names):] + names[: r % len(names)]:
            res[name] = measure(paths[name])
        out.append(res)
    return out


def _added(rtts: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    d50, d99 = statistics.median(rtts["direct"]), pct(rtts["direct"], 0.99)
    return {n: (statistics.median(v) - d50, pct(v, 0.99) - d99) for n, v in rtts.items() if n != "direct"}


def _ratios(added: dict[str, tuple[float, float]]) -> str:
    s50, s99 = added["socat"]
    return "  ".join(f"{n} {a50 / s50:.2f}x/{a99 / s99:.2f}x" for n, (a50, a99) in added.items() if n != "socat")


def latency(paths: dict[str, str], pings: int, rounds: int) -> None:
    per = max(100, pings // rounds)
    runs = _rounds(paths, rounds, lambda p: ping_rtts(p, per))
    print(f"Ping/Pong, {per} round trips per path per round; added p50/p99 as ratios to socat's:")
    for i, run in enumerate(runs):
        added = _added(run)  # type: ignore[arg-type]
        us = "  ".join(f"{n} +{a50 * 1e6:.1f}/+{a99 * 1e6:.1f}us" for n, (a50, a99) in added.items())
        print(f"  round {i + 1}: {_ratios(added)}    [{us}]")
    total = _added({n: [x for run in runs for x in run[n]] for n in paths})  # type: ignore[misc]
    d = statistics.median([x for run in runs for x in run["direct"]])  # type: ignore[union-attr]
    print(f"  all rounds: {_ratios(total)}    (direct p50 {d * 1e6:.1f} us)")
    for n, (a50, a99) in total.items():
        print(f"    {n:14} added p50 +{a50 * 1e6:6.1f} us  p99 +{a99 * 1e6:7.1f} us")


def bulk(paths: dict[str, str], bulk_mb: float, rounds: int) -> None:
    frame_len = len(get_lines_response("coloured", 120, 400))
    frames = max(1, int(bulk_mb * 1e6 / frame_len / rounds))
    runs = _rounds(paths, rounds, lambda p: bulk_mb_s(p, frames, frame_len))
    print(f"Bulk, {frames} frames of {frame_len / 1024:.1f} KiB per path per round; MB/s and ratio to socat:")
    for i, run in enumerate(runs):
        print(f"  round {i + 1}: " + "  ".join(f"{n} {v:.0f} ({v / run['socat']:.2f})" for n, v in run.items()
                                              if n != "direct"))
    med = {n: statistics.median(run[n] for run in runs) for n in paths}  # type: ignore[type-var]
    print("  median: " + "  ".join(f"{n} {v:.0f} ({v / med['socat']:.2f})" for n, v in med.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", nargs=2, metavar=("LISTEN", "UPSTREAM"))
    ap.add_argument("--tap", choices=("", "drain", "nodrain", "lean"), default="",
                    help="hand chunks to a ring (drained by a process as the analysis would, or not drained)")
    ap.add_argument("--tap-first", action="store_true", help="hand the chunk to the tap before sending it")
    ap.add_argument("--pings", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bulk-mb", type=float, default=32)
    ap.add_argument("--no-mux", action="store_true")
    ap.add_argument("--pumps", default="pump,pump+tap",
                    help=f"comma-separated, of {','.join(PUMPS)} (each drained ring adds a polling process)")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], args.tap, args.tap_first)
        return
    socat = shutil.which("socat")
    if not socat:
        sys.exit("socat not installed")
    tmp = tempfile.mkdtemp(prefix="muxpump-")
    procs: list[subprocess.Popen] = []
    try:
        procs, paths = _start(tmp, socat, not args.no_mux, args.pumps.split(","))
        latency(paths, args.pings, args.rounds)
        bulk(paths, args.bulk_mb, args.rounds)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
