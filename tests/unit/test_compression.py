"""zstd as the codec uses it, from several threads at once.

The proxy decodes on its analysis thread while other code in the same process
(the emulated client in the tests, a user's script around the library) decodes
on its own; zstd contexts must not be shared between threads ("use one
context per thread", zstd manual). A shared context corrupts payloads
intermittently: seen as "unknown CellStorage variant" on a GetLinesResponse
that decoded fine everywhere else.
"""

from __future__ import annotations

import os
import threading

from codec.schema.versions import get_version
from codec.wire.compression import compress_like_wezterm, decompress


def _payloads(n: int) -> list[bytes]:
    # compressible but distinct, a few KiB to a few hundred KiB: long enough that two
    # threads' calls overlap inside zstd
    return [(f"payload {i} ".encode() + os.urandom(64)) * (40 + 97 * i) for i in range(n)]


def test_decompress_from_many_threads_at_once():
    payloads = _payloads(8)
    for version in (44, 45):
        frames = [compress_like_wezterm(p, get_version(version).compression) for p in payloads]
        assert all(compressed for _, compressed in frames)
        failures: list[str] = []
        start = threading.Barrier(len(frames))

        def work(i: int, data: bytes, start: threading.Barrier, failures: list[str]) -> None:
            start.wait()
            for _ in range(40):
                out = decompress(data)
                if out != payloads[i]:
                    failures.append(f"thread {i}: {len(out)} bytes, expected {len(payloads[i])}")
                    return

        threads = [threading.Thread(target=work, args=(i, f, start, failures)) for i, (f, _) in enumerate(frames)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not failures, failures


def test_compress_from_many_threads_at_once():
    payloads = _payloads(8)
    failures: list[str] = []
    start = threading.Barrier(len(payloads))

    def work(i: int) -> None:
        start.wait()
        for _ in range(20):
            for version in (44, 45):
                data, compressed = compress_like_wezterm(payloads[i], get_version(version).compression)
                if not compressed or decompress(data) != payloads[i]:
                    failures.append(f"thread {i}, codec {version}: round trip failed")
                    return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
