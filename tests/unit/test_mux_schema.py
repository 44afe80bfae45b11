"""Golden-vector tests for ``codec/schema/mux.py``.

Each golden payload whose PDU is built from mux/term/config/pty types is
decoded with a small PDU struct composed here (mirroring ``codec/src/lib.rs``,
deliberately independent of ``codec/schema/pdus.py``), compared with the
manifest's serde_json rendering (or ``facts`` where serde_json could not
render the value), and re-encoded to the exact payload bytes.
"""

from __future__ import annotations

import json
import math
import struct
from functools import cache
from typing import Any

import pytest

from codec.errors import PayloadError
from codec.schema.mux import (
    ALERT,
    ALERT_V42,
    CLIENT_ID,
    CLIENT_ID_V42,
    CLIENT_INFO,
    CLIENT_INFO_V42,
    CLIPBOARD_SELECTION,
    COLOR_PALETTE,
    COMMAND_BUILDER,
    MOUSE_EVENT,
    OS_STRING,
    PANE_DIRECTION,
    PANE_NODE,
    PANE_NODE_MAX_DEPTH,
    PATTERN,
    RENDERABLE_DIMENSIONS,
    SCROLLBACK_ERASE_MODE,
    SEARCH_RESULT,
    SPAWN_TAB_DOMAIN,
    SPLIT_REQUEST,
    STABLE_CURSOR_POSITION,
    TERMINAL_SIZE,
    WindowsOsString,
)
from codec.wire.varbincode import (
    BOOL,
    ISIZE,
    STR,
    U32,
    USIZE,
    Map,
    Option,
    Range,
    Seq,
    Struct,
    to_json,
)
from tests import golden

GOLDEN = golden.GOLDEN

PANE_ID = TAB_ID = WINDOW_ID = USIZE


#: The PDU structs of ``codec/src/lib.rs`` that consist of this module's types and are the same in
#: every codec version (declarative, like the schemas they check).
_SAME_IN_EVERY_VERSION: dict[str, Struct] = {
    "ListPanesResponse": Struct(
        "ListPanesResponse",
        [
            ("tabs", Seq(PANE_NODE)),
            ("tab_titles", Seq(STR)),
            ("window_titles", Map(WINDOW_ID, STR)),
        ],
    ),
    "SpawnResponse": Struct(
        "SpawnResponse",
        [("tab_id", TAB_ID), ("pane_id", PANE_ID), ("window_id", WINDOW_ID), ("size", TERMINAL_SIZE)],
    ),
    "SpawnV2": Struct(
        "SpawnV2",
        [
            ("domain", SPAWN_TAB_DOMAIN),
            ("window_id", Option(WINDOW_ID)),
            ("command", Option(COMMAND_BUILDER)),
            ("command_dir", Option(STR)),
            ("size", TERMINAL_SIZE),
            ("workspace", STR),
        ],
    ),
    "SplitPane": Struct(
        "SplitPane",
        [
            ("pane_id", PANE_ID),
            ("split_request", SPLIT_REQUEST),
            ("command", Option(COMMAND_BUILDER)),
            ("command_dir", Option(STR)),
            ("domain", SPAWN_TAB_DOMAIN),
            ("move_pane_id", Option(PANE_ID)),
        ],
    ),
    "Resize": Struct(
        "Resize", [("containing_tab_id", TAB_ID), ("pane_id", PANE_ID), ("size", TERMINAL_SIZE)]
    ),
    "SetPalette": Struct("SetPalette", [("pane_id", PANE_ID), ("palette", COLOR_PALETTE)]),
    "SendMouseEvent": Struct("SendMouseEvent", [("pane_id", PANE_ID), ("event", MOUSE_EVENT)]),
    "SearchScrollbackRequest": Struct(
        "SearchScrollbackRequest",
        [
            ("pane_id", PANE_ID),
            ("pattern", PATTERN),
            ("range", Range(ISIZE)),
            ("limit", Option(U32)),
        ],
    ),
    "SearchScrollbackResponse": Struct("SearchScrollbackResponse", [("results", Seq(SEARCH_RESULT))]),
    "GetPaneRenderableDimensionsResponse": Struct(
        "GetPaneRenderableDimensionsResponse",
        [
            ("pane_id", PANE_ID),
            ("cursor_position", STABLE_CURSOR_POSITION),
            ("dimensions", RENDERABLE_DIMENSIONS),
        ],
    ),
    "SetClipboard": Struct(
        "SetClipboard",
        [("pane_id", PANE_ID), ("clipboard", Option(STR)), ("selection", CLIPBOARD_SELECTION)],
    ),
    "EraseScrollbackRequest": Struct(
        "EraseScrollbackRequest", [("pane_id", PANE_ID), ("erase_mode", SCROLLBACK_ERASE_MODE)]
    ),
    "ActivatePaneDirection": Struct(
        "ActivatePaneDirection", [("pane_id", PANE_ID), ("direction", PANE_DIRECTION)]
    ),
    "GetPaneDirection": Struct("GetPaneDirection", [("pane_id", PANE_ID), ("direction", PANE_DIRECTION)]),
    "AdjustPaneSize": Struct(
        "AdjustPaneSize", [("pane_id", PANE_ID), ("direction", PANE_DIRECTION), ("amount", USIZE)]
    ),
}


def _pdu_schemas(version: str) -> dict[str, Struct]:
    """The PDU structs of ``codec/src/lib.rs`` that consist of this module's types."""
    v42 = version == "v42"
    client_id = CLIENT_ID_V42 if v42 else CLIENT_ID
    client_info = CLIENT_INFO_V42 if v42 else CLIENT_INFO
    alert = ALERT_V42 if v42 else ALERT
    set_client_id_fields = [("client_id", client_id)]
    if not v42:
        set_client_id_fields.append(("is_proxy", BOOL))
    return {
        **_SAME_IN_EVERY_VERSION,
        "NotifyAlert": Struct("NotifyAlert", [("pane_id", PANE_ID), ("alert", alert)]),
        "SetClientId": Struct("SetClientId", set_client_id_fields),
        "GetClientListResponse": Struct("GetClientListResponse", [("clients", Seq(client_info))]),
    }


PDUS = sorted(_pdu_schemas("v44"))


@cache
def _manifest(version: str) -> dict[str, Any]:
    return json.loads((GOLDEN / version / "manifest.json").read_text())


def _cases() -> list[Any]:
    cases = []
    for version in ("v44", "v42"):
        for entry in _manifest(version)["files"]:
            if entry["pdu"] in PDUS:
                cases.append(pytest.param(version, entry["file"], id=f"{version}/{entry['file']}"))
    return cases


CASES = _cases()


def _entry(version: str, file: str) -> dict[str, Any]:
    for entry in _manifest(version)["files"]:
        if entry["file"] == file:
            return entry
    raise KeyError(file)


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _normalize(value: Any) -> Any:
    """Round floats to f32 and drop the generator's explanatory notes."""
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items() if k != "wire_note"}
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        return _f32(value)
    return value


def _facts_view(value: Any) -> Any:
    """Render a decoded value the way the manifest's ``facts`` do: ``to_json`` (serde_json's
    rendering: an OsString as ``{"Unix": [bytes]}``, a ``CommandBuilder``'s ``envs``, whose OsString
    keys serde_json refuses, as ``[key, entry]`` pairs), with each OsString read back as text."""
    return _os_as_text(to_json(value))


def _os_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        if value.keys() == {"Unix"}:
            return bytes(value["Unix"]).decode("utf-8")
        return {k: _os_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_os_as_text(v) for v in value]
    return value


def test_cases_cover_both_versions() -> None:
    seen = {(p.values[0], _entry(p.values[0], p.values[1])["pdu"]) for p in CASES}
    for version in ("v44", "v42"):
        assert {pdu for v, pdu in seen if v == version} == set(PDUS)


@pytest.mark.parametrize(("version", "file"), CASES)
def test_golden_payload(version: str, file: str) -> None:
    entry = _entry(version, file)
    payload = (GOLDEN / version / entry.get("payload_file", f"payload/{file}")).read_bytes()
    assert len(payload) == entry["payload_len"]
    schema = _pdu_schemas(version)[entry["pdu"]]

    value, end = schema.decode(payload, 0)
    assert end == len(payload), f"{len(payload) - end} trailing bytes"

    if entry.get("expected") is not None:
        assert _normalize(to_json(value)) == _normalize(entry["expected"])
    else:
        assert entry.get("facts") is not None, "neither expected nor facts"
        assert _normalize(_facts_view(value)) == _normalize(entry["facts"])

    assert schema.dumps(value) == payload


def test_v42_alert_has_no_progress() -> None:
    assert [v.name for v in ALERT.variants][:-1] == [v.name for v in ALERT_V42.variants]
    assert ALERT.variants[-1].name == "Progress"
    with pytest.raises(PayloadError):
        ALERT_V42.loads(ALERT.dumps({"Progress": {"Percentage": 5}}))


def test_os_string_non_utf8_round_trip() -> None:
    raw = b"ab\xff\xed\xb2\x80"  # invalid UTF-8 and a UTF-8-encoded surrogate
    wire = b"\x00" + bytes([len(raw)]) + raw
    value = OS_STRING.loads(wire)
    assert isinstance(value, str) and not isinstance(value, WindowsOsString)
    assert OS_STRING.dumps(value) == wire
    assert OS_STRING.dumps({"Unix": list(raw)}) == wire


def test_os_string_windows_round_trip() -> None:
    units = [ord("C"), 0xD83D, 0xDE00, 0xD800, ord(":")]  # a pair and a lone surrogate
    wire = bytearray([1, len(units)])
    for u in units:
        wire += _leb(u)
    value = OS_STRING.loads(bytes(wire))
    assert isinstance(value, WindowsOsString)
    assert value.units() == units
    assert OS_STRING.dumps(value) == bytes(wire)


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def test_command_builder_env_keys_keep_wire_order() -> None:
    cmd = {
        "args": ["sh"],
        "envs": {
            "B": {"is_from_base_env": True, "preferred_key": "B", "value": "1"},
            "A": {"is_from_base_env": False, "preferred_key": "A", "value": "\udcff"},
        },
        "cwd": None,
        "umask": None,
        "controlling_tty": False,
    }
    wire = COMMAND_BUILDER.dumps(cmd)
    back = COMMAND_BUILDER.loads(wire)
    assert list(back["envs"]) == ["B", "A"]
    assert back == cmd
    assert COMMAND_BUILDER.dumps(back) == wire


def test_palette_size_is_checked() -> None:
    good = _manifest("v44")  # ensures the golden folder exists for the next line
    assert good
    payload = (GOLDEN / "v44" / "payload" / "SetPalette.bin").read_bytes()
    # pane_id (1 byte), then the Vec length 256 as LEB128 (80 02): claim 255 instead
    assert payload[1:3] == b"\x80\x02"
    with pytest.raises(PayloadError, match="Palette256"):
        COLOR_PALETTE.loads(b"\xff\x01" + payload[3:])


def test_pane_node_depth_is_limited() -> None:
    # PaneNode::Split { left: <Split { left: ... }>, ... } nested too deep
    wire = b"\x01" * (PANE_NODE_MAX_DEPTH + 5) + b"\x00" * 64
    with pytest.raises(PayloadError, match="nested deeper"):
        PANE_NODE.loads(wire)
    shallow = b"\x01\x00\x00" + b"\x00" * 11
    assert PANE_NODE.loads(shallow) == {
        "Split": {
            "left": "Empty",
            "right": "Empty",
            "node": {
                "direction": "Horizontal",
                "first": {"rows": 0, "cols": 0, "pixel_width": 0, "pixel_height": 0, "dpi": 0},
                "second": {"rows": 0, "cols": 0, "pixel_width": 0, "pixel_height": 0, "dpi": 0},
            },
        }
    }
