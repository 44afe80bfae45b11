"""The shipped sample captures: nothing of the machine that made them, and captures/README.md tells their sizes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from proxy.capture.format import open_capture
from tests.components import REPO

CAPTURES = REPO / "captures"
SAMPLES = sorted(CAPTURES.glob("*.muxcap"))


def test_there_are_samples() -> None:
    assert [p.name for p in SAMPLES] == ["resize-drag-40ms.muxcap", "typing.muxcap"]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_no_record_names_a_path_of_the_recording_machine(path: Path) -> None:
    """Header, open/close/note records and data alike: no temporary directory, no absolute socket path."""
    reader = open_capture(str(path))
    texts = [json.dumps(reader.header)]
    for rec in reader.records():
        texts.append(rec.data.decode("utf-8", "replace") if rec.kind == "data" else json.dumps(rec.info))
    reader.f.close()
    joined = "\n".join(texts)
    assert "muxscope-capture-" not in joined and "/tmp/" not in joined
    assert not re.search(r"unix:/", joined), re.search(r".{20}unix:/.{40}", joined)


def test_the_readme_gives_each_sample_its_size() -> None:
    readme = (CAPTURES / "README.md").read_text()
    for path in SAMPLES:
        m = re.search(rf"`{re.escape(path.name)}` \(~(\d+) KB\)", readme)
        assert m, f"captures/README.md gives no size for {path.name}"
        stated, actual = int(m.group(1)) * 1024, path.stat().st_size
        assert abs(stated - actual) <= 0.1 * actual, (path.name, stated, actual)


def test_sanitise_rewrites_only_the_connection_records(tmp_path: Path) -> None:
    """``make_captures.sanitise`` on a capture holding temporary socket paths: those change, nothing else."""
    import sys

    from proxy.capture.writer import CaptureConsumer
    from proxy.relay.tap import TapEvent

    sys.path.insert(0, str(CAPTURES))
    try:
        import make_captures
    finally:
        sys.path.remove(str(CAPTURES))
    path = tmp_path / "s.muxcap"
    writer = CaptureConsumer(str(path), meta={"listen": "unix:proxy.sock"})
    writer.open()
    tmpdir = "/tmp/muxscope-capture-abc123"
    writer.handle(TapEvent("open", 1, writer.t0_ns + 1000,
                           info={"client": "?", "listen": f"unix:{tmpdir}/proxy.sock",
                                 "upstream": f"unix:{tmpdir}/mux.sock"}))
    writer.handle(TapEvent("data", 1, writer.t0_ns + 2000, "client_to_server", b"\x03\x01\x01\x00", 0))
    writer.handle(TapEvent("close", 1, writer.t0_ns + 3000, info={"closed_by": "client"}))
    writer.close()
    before = list(open_capture(str(path)).records())
    assert make_captures.sanitise(str(path)) == 1
    after = list(open_capture(str(path)).records())
    assert [(r.kind, r.t_ns, r.conn_id, r.direction) for r in after] == \
        [(r.kind, r.t_ns, r.conn_id, r.direction) for r in before]
    assert after[0].info == {"client": "?", **make_captures.FIXED_ADDRESSES}
    assert [r.data for r in after[1:]] == [r.data for r in before[1:]]
