"""``muxscope decode``: its exit status tells whether the input was a mux stream, and its output is always
valid UTF-8 that keeps every byte of an ``OsString`` (rendered as serde does on Unix: ``{"Unix": [bytes]}``)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from codec import encode_pdu
from tests import golden
from tests.components import REPO

NOT_UTF8_ARG = b"/srv/caf\xe9"  # Latin-1 bytes, as a file name on a non-UTF-8 system has them
NOT_UTF8_VALUE = b"\xff\xfe-raw"


def decode(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run decode as a user's script would, in the C locale (where Python's stdout is least forgiving)."""
    return subprocess.run([sys.executable, "-m", "proxy.cli", "decode", *args], capture_output=True, timeout=120,
                          cwd=REPO, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", **env})


@pytest.mark.parametrize("kind", ["random", "text", "empty"])
def test_what_is_not_a_mux_stream_exits_non_zero(tmp_path: Path, kind: str) -> None:
    data = {"random": random.Random(15).randbytes(100_000), "text": (REPO / "README.md").read_bytes(),
            "empty": b""}[kind]
    f = tmp_path / kind
    f.write_bytes(data)
    res = decode(str(f))
    assert res.returncode == 1, res.stderr
    err = res.stderr.decode()
    assert "Traceback" not in err
    if kind == "empty":
        assert err.strip() == f"muxscope decode: {f} is empty: no frames to decode"
    else:
        assert " errors" in err


def test_a_whole_mux_stream_exits_zero() -> None:
    res = decode(str(golden.GOLDEN / "v44" / "stream.bin"))
    assert res.returncode == 0 and res.stderr.decode().strip().endswith(" PDUs, 0 errors")


def _spawn_with_bytes() -> bytes:
    command = {"args": [b"/usr/bin/ls", NOT_UTF8_ARG],
               "envs": {b"LANG": {"is_from_base_env": False, "preferred_key": b"LANG", "value": b"C"},
                        b"RAW": {"is_from_base_env": True, "preferred_key": b"RAW", "value": NOT_UTF8_VALUE}},
               "cwd": NOT_UTF8_ARG, "umask": None, "controlling_tty": True}
    spawn = {"domain": "DefaultDomain", "window_id": None, "command": command, "command_dir": None,
             "size": {"rows": 24, "cols": 80, "pixel_width": 0, "pixel_height": 0, "dpi": 0}, "workspace": "w"}
    split = {"pane_id": 1, "split_request": {"direction": "Vertical", "target_is_second": True, "top_level": False,
                                             "size": {"Percent": 50}},
             "command": command, "command_dir": None, "domain": "CurrentPaneDomain", "move_pane_id": None}
    return encode_pdu("SpawnV2", spawn, 1) + encode_pdu("SplitPane", split, 2)


def test_json_is_valid_utf8_and_keeps_every_byte(tmp_path: Path) -> None:
    f = tmp_path / "spawn.bin"
    f.write_bytes(_spawn_with_bytes())
    res = decode(str(f), "--json")
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.decode("utf-8").splitlines()]  # strict UTF-8
    assert [r["pdu"] for r in records] == ["SpawnV2", "SplitPane"]
    for rec in records:
        cmd = rec["body"]["command"]
        assert cmd["args"] == [{"Unix": list(b"/usr/bin/ls")}, {"Unix": list(NOT_UTF8_ARG)}]
        assert cmd["cwd"] == {"Unix": list(NOT_UTF8_ARG)}
        envs = {bytes(k["Unix"]): {**e, "value": bytes(e["value"]["Unix"])} for k, e in cmd["envs"]}
        assert envs[b"RAW"]["value"] == NOT_UTF8_VALUE and envs[b"LANG"]["value"] == b"C"
        assert list(envs) == [b"LANG", b"RAW"]  # BTreeMap order, as on the wire


def test_tree_is_valid_utf8_and_shows_raw_bytes_escaped(tmp_path: Path) -> None:
    f = tmp_path / "spawn.bin"
    f.write_bytes(_spawn_with_bytes())
    res = decode(str(f))
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode("utf-8")
    assert '"/srv/caf\\\\xe9"' in out and "RAW" in out


def test_golden_command_renders_as_serde_does() -> None:
    """WezTerm's own SpawnV2 frame: each OsString of the CommandBuilder is ``{"Unix": [its bytes]}``."""
    entry = next(e for e in golden.entries("v44") if e["file"] == "SpawnV2.bin")
    res = decode(str(golden.GOLDEN / "v44" / "SpawnV2.bin"), "--json")
    (rec,) = [json.loads(line) for line in res.stdout.decode("utf-8").splitlines()]
    facts = entry["facts"]["command"]
    assert rec["body"]["command"]["args"] == [{"Unix": list(a.encode())} for a in facts["args"]]
    assert rec["body"]["command"]["cwd"] == {"Unix": list(facts["cwd"].encode())}
    assert [bytes(k["Unix"]).decode() for k, _ in rec["body"]["command"]["envs"]] == [k for k, _ in facts["envs"]]
    assert rec["body"]["workspace"] == entry["facts"]["workspace"]  # a String stays a string
