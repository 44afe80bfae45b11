"""Fuzzing the codec and the stream decoder (issue #13): hypothesis frames, then mutated golden frames.

No exception but the codec's own (:class:`codec.CodecError`), no input over 100 ms, and
memory that stays bounded. ``python -m bench.bench_fuzz --seconds N`` runs the second part
for as long as wanted; here it runs for a few seconds.
"""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import bench_fuzz, bench_resync
from codec import CodecError, FrameDecoder, PduStream, decode_frame
from codec.schema.versions import KNOWN_IDENTS
from codec.wire.framing import encode_frame
from tests import golden

needs_golden = pytest.mark.skipif(not golden.available(), reason="golden vectors not found (tests/golden)")

idents = st.one_of(st.sampled_from(sorted(KNOWN_IDENTS)), st.integers(0, (1 << 64) - 1))
frames = st.builds(
    encode_frame,
    ident=idents,
    serial=st.integers(0, (1 << 64) - 1),
    payload=st.binary(max_size=300),
    compressed=st.booleans(),
)
streams = st.lists(st.one_of(frames, st.binary(max_size=64)), max_size=8).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=streams, version=st.sampled_from([42, 44, 45]), cut=st.integers(0, 4000))
def test_hypothesis_frames_raise_only_codec_errors(data, version, cut):
    t0 = time.perf_counter()
    dec = FrameDecoder()
    dec.feed(data)
    for frame in dec.frames_skipping_errors(lambda exc, off: None):
        with contextlib.suppress(CodecError):
            decode_frame(frame, version, bench_fuzz.MAX_DECOMPRESSED, summary=True,
                         max_objects=bench_fuzz.MAX_OBJECTS)
    stream = PduStream(version, summary_lines=True, max_objects=bench_fuzz.MAX_OBJECTS)
    for part in (data[:cut], data[cut:]):
        list(stream.feed(part))
    assert time.perf_counter() - t0 < 1.0  # generous for a loaded CI machine; the bench holds 100 ms


@needs_golden
def test_mutated_golden_frames_for_a_few_seconds():
    rep = bench_fuzz.run(seconds=4.0, seed=random.randrange(1 << 30))
    assert rep.inputs > 500
    assert rep.crashes == [], rep.crashes[:3]
    assert rep.rss_growth_mb < 200
    # inputs over 100 ms of CPU (not wall: a busy machine's neighbours do not count); a first run may
    # pay for a warm-up, so each is timed again alone, with room for a noisy CPU clock
    for _, _, data in rep.slow:
        t0 = time.thread_time()
        bench_fuzz.check(data)
        assert time.thread_time() - t0 < 0.1 * 2


@needs_golden
def test_resync_recovers_every_pdu_in_99_percent_of_1000_trials():
    out = bench_resync.run(1000, seed=random.randrange(1 << 30))
    assert out.rate >= 0.99, out
