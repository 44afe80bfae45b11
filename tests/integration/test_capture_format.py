"""The capture file itself: mode, rotation, version migration, and failing to write without hurting the relay."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from codec import encode_pdu
from proxy.capture import format as capture_format
from proxy.capture.format import CaptureError, encode_header, open_capture
from proxy.capture.writer import CaptureConsumer
from proxy.files import OutputError
from proxy.relay.endpoints import UnixAddress
from proxy.relay.tap import TapEvent
from proxy.runtime import ProxyRuntime, RuntimeOptions
from tests.support import LogCapture, ScriptedMux


def _events(n: int, size: int = 3000) -> list[TapEvent]:
    out = [TapEvent("open", 1, 1_000, info={"client": "t"})]
    for i in range(n):
        out.append(TapEvent("data", 1, 2_000 + i, "server_to_client", os.urandom(size), i))
    return out


def test_capture_file_is_private(tmp_path):
    path = tmp_path / "c.muxcap"
    c = CaptureConsumer(str(path))
    c.open()
    c.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_rotation_by_size_keeps_every_file_readable_on_its_own(tmp_path):
    path = tmp_path / "c.muxcap"
    c = CaptureConsumer(str(path), max_bytes=20_000)
    c.open()
    for ev in _events(40):
        c.handle(ev)
        c.flush()
    c.close()
    files = c.files
    assert len(files) >= 3 and files[0] == str(path) and files[1] == f"{path}.1"
    total = 0
    for i, f in enumerate(files):
        recs = list(open_capture(f).records())
        kinds = [r.kind for r in recs]
        if i:  # a rotated file re-announces the open connection first
            assert kinds[0] == "open" and recs[0].info.get("continued") is True
        total += kinds.count("data")
    assert total == 40


def test_newer_format_is_refused_and_older_is_migrated(tmp_path, monkeypatch):
    newer = tmp_path / "new.muxcap"
    newer.write_bytes(encode_header({"format": "muxcap", "version": capture_format.FORMAT_VERSION + 1}))
    with pytest.raises(CaptureError, match="newer than this muxscope reads"):
        open_capture(str(newer))

    # the migration mechanism: pretend the current format is 2 and version 1 needs one step
    path = tmp_path / "v1.muxcap"
    c = CaptureConsumer(str(path))
    c.open()
    for ev in _events(3, 10):
        c.handle(ev)
    c.close()

    def v1_to_v2(header, records):
        header = dict(header, version=2, migrated=True)
        return header, (capture_format.Record(r.kind, r.t_ns, r.conn_id + 100, r.direction, r.data) for r in records)

    monkeypatch.setattr(capture_format, "FORMAT_VERSION", 2)
    monkeypatch.setitem(capture_format.MIGRATIONS, 1, v1_to_v2)
    reader = open_capture(str(path))
    recs = list(reader.records())
    assert reader.header["migrated"] is True and reader.header["version"] == 2
    assert {r.conn_id for r in recs} == {101}


def test_a_capture_in_a_missing_directory_stops_the_start(tmp_path):
    rt = ProxyRuntime(RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")),
                                     upstream=UnixAddress(str(tmp_path / "m.sock")),
                                     capture=str(tmp_path / "no-such-dir" / "c.muxcap")))

    async def main():
        try:
            await rt.start()
        finally:
            await rt.stop(0)

    with pytest.raises(OutputError, match="does not exist; create it first"):
        asyncio.run(main())
    assert not (tmp_path / "p.sock").exists()  # nothing listened


def test_a_capture_that_fails_mid_run_is_one_error_and_the_relay_goes_on(tmp_path):
    logs = LogCapture()
    target = tmp_path / "c.muxcap"

    async def main():
        mux = ScriptedMux()
        await mux.start_unix(str(tmp_path / "m.sock"))
        rt = ProxyRuntime(RuntimeOptions(listen=UnixAddress(str(tmp_path / "p.sock")),
                                         upstream=UnixAddress(str(tmp_path / "m.sock")), capture=str(target),
                                         capture_max_bytes=1))
        await rt.start()
        (tmp_path / "c.muxcap.1").mkdir()  # the rotation's next file cannot be created
        try:
            got = []
            for serial in (1, 2):
                reader, writer = await asyncio.open_unix_connection(str(tmp_path / "p.sock"))
                writer.write(encode_pdu("Ping", {}, serial))
                await writer.drain()
                got.append(await asyncio.wait_for(reader.readexactly(3), 5))
                writer.close()
                await rt.server.wait_idle()
                await asyncio.get_running_loop().run_in_executor(None, rt.tap.wait_idle, 5.0)
            return got, rt
        finally:
            await rt.stop()
            await mux.stop()

    got, rt = asyncio.run(main())
    assert got == [encode_pdu("Pong", {}, 1), encode_pdu("Pong", {}, 2)]
    errors = logs.events("capture_failed")
    assert len(errors) == 1 and "c.muxcap.1" in errors[0]["error"]
    samples = {s.name: s.value for m in rt.metrics.registry.collect() for s in m.samples}
    assert samples["muxscope_capture_errors_total"] == 1
    assert json.loads(json.dumps(errors[0]))["hint"]
