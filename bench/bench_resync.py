"""Resynchronisation after garbage: how often the stream decoder recovers every real PDU.

Each trial puts 1-5 KB of random bytes in front of 25 frames made by WezTerm's own Rust types
(the golden vectors, codec 44), feeds the lot in random chunks to a :class:`codec.PduStream`,
and counts the trial recovered when all 25 come out decoded, in order, after whatever the
garbage produced. Issue #13's target: at least 99% of 1,000 trials.

    python -m bench.bench_resync [--trials 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

from codec import PduStream
from codec.pdu import Pdu

STREAM_PDUS = 25


@dataclass(frozen=True)
class Outcome:
    trials: int
    recovered: int
    bogus_pdus: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.recovered / self.trials if self.trials else 0.0


def golden_frames() -> list[bytes]:
    """Golden v44 frames that decode cleanly as a stream of their own (the real frames of a trial)."""
    from tests import golden

    frames = []
    for entry in golden.entries("v44"):
        data = golden.frame_bytes("v44", entry)
        out = list(PduStream(44, summary_lines=True).feed(data))
        if len(out) == 1 and isinstance(out[0], Pdu) and out[0].known and out[0].trailing == 0:
            frames.append(data)
    return frames


_payloads: dict[bytes, bytes] = {}


def _payload(frame: bytes) -> bytes:
    if frame not in _payloads:
        (pdu,) = PduStream(44, summary_lines=True).feed(frame)
        _payloads[frame] = bytes(pdu.payload)  # type: ignore[union-attr]
    return _payloads[frame]


def trial(rnd: random.Random, frames: list[bytes]) -> tuple[bool, int]:
    """(every real PDU recovered?, PDUs decoded out of the garbage)."""
    real = [rnd.choice(frames) for _ in range(STREAM_PDUS)]
    data = rnd.randbytes(rnd.randint(1024, 5120)) + b"".join(real)
    stream = PduStream(44, summary_lines=True)  # as the analysis decodes
    got: list[Pdu] = []
    pos = 0
    while pos < len(data):
        step = rnd.choice((1, 7, 64, 512, 4096, 65536))
        got += [p for p in stream.feed(data[pos : pos + step]) if isinstance(p, Pdu)]
        pos += step
    wire = [bytes(p.payload) for p in got]
    expected = [_payload(f) for f in real]
    ok = len(wire) >= STREAM_PDUS and wire[-STREAM_PDUS:] == expected
    return ok, max(0, len(wire) - STREAM_PDUS) if ok else len(wire)


def run(trials: int, seed: int) -> Outcome:
    frames = golden_frames()
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    recovered = bogus = 0
    for _ in range(trials):
        ok, extra = trial(rnd, frames)
        recovered += ok
        bogus += extra if ok else 0
    return Outcome(trials, recovered, bogus, time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = run(args.trials, args.seed)
    print(f"resync: {out.recovered}/{out.trials} trials recovered all {STREAM_PDUS} PDUs "
          f"({out.rate:.1%}; target >= 99%), {out.bogus_pdus} PDUs decoded out of garbage, "
          f"{out.seconds:.1f} s")


if __name__ == "__main__":
    main()
