"""``capture scrub`` keeps the scheme of an address (it is structure) and replaces the rest (it is personal)."""

from __future__ import annotations

from pathlib import Path

from proxy.capture.format import open_capture
from proxy.capture.scrub import scrub_capture
from proxy.capture.writer import CaptureConsumer
from proxy.relay.tap import TapEvent

ADDRESSES = {
    "listen": "unix:/home/alice/muxscope.sock",
    "upstream": "ssh://alice@prod-db-01:22",
    "client": "tcp:10.1.2.3:5555",
    "via": "exec:ssh alice@prod-db-01 wezterm cli proxy",
    "side": "stdio",
}


def test_schemes_survive_and_the_rest_does_not(tmp_path: Path) -> None:
    src, out = tmp_path / "in.muxcap", tmp_path / "out.muxcap"
    writer = CaptureConsumer(str(src), meta=dict(ADDRESSES))
    writer.open()
    writer.handle(TapEvent("open", 1, writer.t0_ns + 1, info=dict(ADDRESSES)))
    writer.handle(TapEvent("close", 1, writer.t0_ns + 2, info={"closed_by": "client"}))
    writer.close()
    scrub_capture(str(src), str(out), secret=b"k")
    reader = open_capture(str(out))
    (opened,) = [r.info for r in reader.records() if r.kind == "open"]
    for scrubbed in (reader.header, opened):
        for key, original in ADDRESSES.items():
            value = scrubbed[key]
            scheme = original.split(":")[0] if key != "side" else "stdio"
            assert value.startswith(scheme), (key, value)
            assert len(value) == len(original), (key, value)
            if key != "side":
                assert value != original
                for word in ("alice", "home", "prod", "muxscope", "wezterm"):
                    assert word not in value.split(":", 1)[1], (key, value)
