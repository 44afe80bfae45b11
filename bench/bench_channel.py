"""The relay-to-analysis channel: a non-blocking pipe against the shared-memory ring, same run.

What the relay pays per chunk handed over (the consumer, another process, copies every message
out), for chunk sizes from a Ping to a full 256 KB read, with the producer paced so the
consumer can keep up. proxy/relay/channel.py uses the ring; this is why.

    python -m bench.bench_channel
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

from proxy.relay.channel import HEADER, Direction, Kind, RingReader, RingWriter, create_ring

F_SETPIPE_SZ = 1031
CASES = ((40, 50_000, 5_000), (4096, 20_000, 10_000), (65536, 3000, 100_000), (262144, 1000, 400_000))


def _pipe_consumer(r: int, w: int) -> None:
    os.close(w)
    while os.read(r, 1 << 20):
        pass


def _spin(ns: int) -> None:
    t = time.perf_counter_ns()
    while time.perf_counter_ns() - t < ns:
        pass


def bench_pipe(size: int, n: int, gap_ns: int) -> tuple[float, int]:
    import fcntl

    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
    os.set_blocking(w, False)
    p = mp.Process(target=_pipe_consumer, args=(r, w))
    p.start()
    os.close(r)
    data = os.urandom(size)
    ok = drops = spent = 0
    for i in range(n):
        t0 = time.perf_counter_ns()
        try:
            os.write(w, HEADER.pack(Kind.DATA, Direction.CLIENT_TO_SERVER, 1, i, t0, len(data)) + data)
            ok += 1
            spent += time.perf_counter_ns() - t0
        except BlockingIOError:
            drops += 1
        _spin(gap_ns)
    os.close(w)
    p.join()
    return spent / max(ok, 1) / 1000, drops


def _ring_consumer(fd: int) -> None:
    reader = RingReader(fd)
    while True:
        for msg in reader.drain():
            if msg.kind == Kind.STOP:
                return
        reader.wait(0.05)


def bench_ring(size: int, n: int, gap_ns: int) -> tuple[float, int]:
    fd = create_ring()
    p = mp.Process(target=_ring_consumer, args=(fd,))
    p.start()
    ring = RingWriter(fd)
    data = os.urandom(size)
    ok = drops = spent = 0
    for i in range(n):
        t0 = time.perf_counter_ns()
        if ring.put(Kind.DATA, Direction.CLIENT_TO_SERVER, 1, i, t0, data):
            ok += 1
            spent += time.perf_counter_ns() - t0
        else:
            drops += 1
        _spin(gap_ns)
    while not ring.put(Kind.STOP, Direction.NONE, 0, 0, 0, b""):
        time.sleep(0.01)
    p.join()
    ring.close()
    os.close(fd)
    return spent / max(ok, 1) / 1000, drops


def main() -> None:
    print("producer cost per chunk handed to another process (us), drops when full:")
    for size, n, gap in CASES:
        pc, pd = bench_pipe(size, n, gap)
        rc, rd = bench_ring(size, n, gap)
        print(f"  {size:7d} B: pipe {pc:7.2f} us (drops {pd:5d})   ring {rc:6.2f} us (drops {rd:5d})   "
              f"pipe/ring {pc / rc:5.1f}x")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
