"""Fuzz the codec and the stream decoder with mutated golden frames, for as long as asked.

Each input is one or more frames made by WezTerm's own Rust types (the golden vectors),
mutated: bits flipped, bytes inserted, deleted or overwritten, lengths rewritten, frames
cut or spliced, and compressed payloads inflated, mutated and compressed again (so the
mutation reaches the schema decoders, not only zstd). Every input goes through
``decode_frame`` frame by frame and through a :class:`~codec.PduStream` fed in two chunks,
with the budgets the analysis process uses. What counts as a failure: any exception other
than the codec's own, any input that takes over 100 ms, peak RSS growth over 200 MB.

    python -m bench.bench_fuzz --seconds 60 [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import zstandard

from codec import CodecError, FrameDecoder, PduStream, decode_frame
from codec.wire.framing import encode_frame
from codec.wire.leb128 import encode_unsigned

SLOW_S = 0.1
MAX_OBJECTS = 250_000  # proxy.analysis.connection.MAX_OBJECTS_PER_FRAME (not imported: codec-only run)
MAX_DECOMPRESSED = 64 * 1024 * 1024


@dataclass
class Report:
    inputs: int = 0
    codec_errors: int = 0
    #: (CPU seconds, wall seconds, input) of the inputs over SLOW_S of CPU
    slow: list[tuple[float, float, bytes]] = field(default_factory=list)
    crashes: list[tuple[str, bytes]] = field(default_factory=list)
    max_s: float = 0.0
    max_cpu_s: float = 0.0
    rss_growth_mb: float = 0.0

    def merge(self, other: Report) -> None:
        self.inputs += other.inputs
        self.codec_errors += other.codec_errors
        self.slow += other.slow
        self.crashes += other.crashes
        self.max_s = max(self.max_s, other.max_s)
        self.max_cpu_s = max(self.max_cpu_s, other.max_cpu_s)
        self.rss_growth_mb = max(self.rss_growth_mb, other.rss_growth_mb)


def golden_frames() -> list[bytes]:
    from tests import golden

    return [golden.frame_bytes(v, e) for v, e in golden.all_entries()]


def _mutate_bytes(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(6)
        i = rnd.randrange(len(b) + 1) if b else 0
        if op == 0 and b:
            b[min(i, len(b) - 1)] ^= 1 << rnd.randrange(8)
        elif op == 1:
            b[i:i] = rnd.randbytes(rnd.randint(1, 8))
        elif op == 2 and b:
            del b[i : i + rnd.randint(1, 8)]
        elif op == 3 and b:
            b[min(i, len(b) - 1)] = rnd.choice((0, 0x7F, 0x80, 0xFF))
        elif op == 4:
            b[i:i] = encode_unsigned(rnd.choice((0, 1, 127, 128, 1 << 20, 1 << 31, 1 << 40, (1 << 63) - 1)))
        elif op == 5:
            b = b[: rnd.randrange(len(b) + 1)]
    return bytes(b)


def mutate(rnd: random.Random, frames: list[bytes]) -> bytes:
    frame = rnd.choice(frames)
    how = rnd.randrange(4)
    if how == 0:
        return _mutate_bytes(rnd, frame)
    if how == 1:  # mutate inside the compressed payload, so the schema decoder sees it
        stream = list(PduStream(summary_lines=True).feed(frame))
        pdu = stream[0] if stream else None
        if pdu is not None and hasattr(pdu, "payload") and pdu.compressed:
            payload = _mutate_bytes(rnd, pdu.payload)
            return encode_frame(pdu.ident, pdu.serial, zstandard.ZstdCompressor().compress(payload), True)
        return _mutate_bytes(rnd, frame)
    if how == 2:  # splice: a cut frame followed by real ones
        return frame[: rnd.randrange(len(frame) + 1)] + b"".join(rnd.choice(frames) for _ in range(3))
    return b"".join(_mutate_bytes(rnd, rnd.choice(frames)) if rnd.random() < 0.3 else rnd.choice(frames)
                    for _ in range(rnd.randint(2, 6)))


def check(data: bytes, version: int = 44) -> int:
    """Run one input through the codec; returns the codec errors seen. Anything else raises."""
    errors = 0
    dec = FrameDecoder()
    dec.feed(data)
    for frame in dec.frames_skipping_errors(lambda exc, off: None):
        try:
            decode_frame(frame, version, MAX_DECOMPRESSED, summary=True, max_objects=MAX_OBJECTS)
        except CodecError:
            errors += 1
    stream = PduStream(version, summary_lines=True, max_decompressed=MAX_DECOMPRESSED, max_objects=MAX_OBJECTS)
    cut = len(data) // 2
    for part in (data[:cut], data[cut:]):
        errors += sum(1 for item in stream.feed(part) if not hasattr(item, "name"))
    return errors


def inputs(seed: int) -> Iterator[bytes]:
    rnd = random.Random(seed)
    frames = golden_frames()
    while True:
        yield mutate(rnd, frames)


def run(seconds: float, seed: int = 1, max_inputs: int | None = None) -> Report:
    rep = Report()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    deadline = time.monotonic() + seconds
    for data in inputs(seed):
        if time.monotonic() >= deadline or (max_inputs is not None and rep.inputs >= max_inputs):
            break
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            rep.codec_errors += check(data)
        except Exception as exc:  # noqa: BLE001 - that is what we are looking for
            rep.crashes.append((f"{type(exc).__name__}: {exc}", data))
        dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
        rep.max_s = max(rep.max_s, dt)
        rep.max_cpu_s = max(rep.max_cpu_s, cpu)
        if cpu > SLOW_S:  # CPU, not wall: on a shared machine wall time measures the neighbours too
            rep.slow.append((cpu, dt, data))
        rep.inputs += 1
    rep.rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return rep


def _run_job(job: tuple[float, int, int | None]) -> Report:
    return run(*job)


def run_parallel(seconds: float, seed: int, max_inputs: int | None, jobs: int) -> Report:
    """``jobs`` processes, each with its own seed (seed, seed+1, ...) and its share of ``max_inputs``."""
    if jobs <= 1:
        return run(seconds, seed, max_inputs)
    import multiprocessing

    share = None if max_inputs is None else -(-max_inputs // jobs)
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        parts = pool.map(_run_job, [(seconds, seed + k, share) for k in range(jobs)])
    total = Report()
    for part in parts:
        total.merge(part)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-inputs", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1, help="processes fuzzing at once, each with its own seed")
    args = ap.parse_args()
    t0 = time.monotonic()
    rep = run_parallel(args.seconds, args.seed, args.max_inputs, args.jobs)
    dt = time.monotonic() - t0
    print(f"fuzz: {rep.inputs:,} inputs in {dt:.0f} s ({rep.inputs / dt:,.0f}/s), {rep.codec_errors:,} codec errors, "
          f"{len(rep.crashes)} other exceptions, {len(rep.slow)} inputs over {SLOW_S * 1000:.0f} ms of CPU "
          f"(slowest: {rep.max_cpu_s * 1000:.1f} ms CPU, {rep.max_s * 1000:.1f} ms wall), "
          f"peak RSS growth {rep.rss_growth_mb:.1f} MB")
    for msg, data in rep.crashes[:5]:
        print(f"  exception: {msg} on {data[:64].hex()}")
    for cpu, wall, data in sorted(rep.slow, reverse=True)[:5]:
        print(f"  slow: {cpu * 1000:.1f} ms CPU ({wall * 1000:.1f} ms wall) on {len(data)} bytes {data[:32].hex()}")


if __name__ == "__main__":
    main()
