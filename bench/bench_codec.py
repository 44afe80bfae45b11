"""Decode throughput of GetLinesResponse, full decode and the fingerprint fast path.

Prints rows/s for realistic content (plain, coloured, wide characters; 80 and
200 columns) with the input sizes, and ratios against a baseline measured in
the same run (zstd decompression of the same frame, which every decode pays),
so noisy machines still give comparable numbers. Target (issue 2): the fast
path at >= 100,000 rows/s on one core, over three times the ~30,000 rows/s
WezTerm's own client decodes the golden ``big2000`` frame at on this kind of
machine.

    python -m bench.bench_codec [--rows 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from codec import FrameDecoder, decode_frame
from codec.wire.compression import decompress

from .content import get_lines_response

GOLDEN_BIG = Path(__file__).resolve().parents[1] / "tests" / "golden" / "v44" / "GetLinesResponse__big2000.bin"


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(frame_bytes: bytes, repeat: int) -> dict[str, float]:
    dec = FrameDecoder()
    dec.feed(frame_bytes)
    (frame,) = list(dec.frames())
    full = decode_frame(frame)
    rows = len(full.body["lines"]["lines"])
    t_base = _best(lambda: decompress(frame.payload) if frame.compressed else frame.payload, repeat)
    t_fast = _best(lambda: decode_frame(frame, summary=True), repeat)
    t_full = _best(lambda: decode_frame(frame), max(2, repeat // 3))
    return {
        "rows": rows,
        "wire": len(frame_bytes),
        "payload": len(full.payload),
        "fast_rows_s": rows / t_fast,
        "full_rows_s": rows / t_full,
        "fast_vs_base": t_fast / t_base,
        "full_vs_base": t_full / t_base,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    cases = []
    if GOLDEN_BIG.is_file():
        cases.append(("golden big2000 (WezTerm-made)", GOLDEN_BIG.read_bytes()))
    for kind in ("plain", "coloured", "wide"):
        for cols in (80, 200):
            cases.append((f"{kind} {cols} cols", get_lines_response(kind, cols, args.rows)))
    print(f"{'content':32} {'rows':>5} {'wire KiB':>9} {'payload KiB':>11} {'fast rows/s':>12} {'full rows/s':>12} "
          f"{'fast/zstd':>9} {'full/zstd':>9}")
    worst = float("inf")
    for name, data in cases:
        r = measure(data, args.repeat)
        worst = min(worst, r["fast_rows_s"]) if "80" in name or "golden" in name else worst
        print(f"{name:32} {r['rows']:5d} {r['wire'] / 1024:9.1f} {r['payload'] / 1024:11.1f} "
              f"{r['fast_rows_s']:12,.0f} {r['full_rows_s']:12,.0f} {r['fast_vs_base']:9.1f} {r['full_vs_base']:9.1f}")
    print()
    print("fast/zstd, full/zstd: time relative to zstd-decompressing the same frame (baseline, same run).")
    print(f"target: fast path >= 100,000 rows/s on 80-column content (slowest here: {worst:,.0f} rows/s); "
          "WezTerm's own decode of big2000 on this kind of machine: ~30,000 rows/s.")


if __name__ == "__main__":
    main()
