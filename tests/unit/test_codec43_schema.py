"""Codec 43 (WezTerm nightlies May 2024 - Feb 2025) against WezTerm's own frames.

No golden vectors were made at codec 43, but its layout is fixed by WezTerm's history
(see codec/schema/versions.py): 6b93ee19e bumped to 43 adding ``ClientId.ssh_auth_sock`` and
``SetClientId.is_proxy``, and 44866cc13 bumped to 44 adding ``Alert::Progress``. So every v44
golden frame that carries no ``Progress`` alert is also a codec 43 frame and must decode to the
same value; the ``Progress`` ones must be refused the way a 43 peer refuses them; and v42's
frames of the PDUs that gained fields must not pass for 43.
"""

from __future__ import annotations

import pytest

from codec import CodecError, FrameDecoder, decode_frame, encode_payload
from codec.schema.versions import V42, V43, V44, get_version
from codec.wire.varbincode import to_json
from tests import golden

V44_CASES = golden.entries("v44")
PROGRESS = [e for e in V44_CASES if e["file"].startswith("NotifyAlert__progress")]
SHARED = [e for e in V44_CASES if e not in PROGRESS]
V42_CHANGED = [
    e for e in golden.entries("v42")
    if e["pdu"] in ("SetClientId", "GetClientListResponse")
]


def _frame(version: str, entry: dict):
    dec = FrameDecoder()
    dec.feed(golden.frame_bytes(version, entry))
    (frame,) = dec.frames()
    return frame


def test_43_is_its_own_version_between_42_and_44():
    assert get_version(43) is V43
    assert V43.number == 43
    assert V43.compression == V42.compression == V44.compression


def test_43_differs_from_44_only_in_notify_alert_and_from_42_only_in_client_ids():
    """The table says what the history says: nothing else is rebuilt."""
    assert {i for i in V44.table if V43.table[i] is not V44.table[i]} == {V44.ident_by_name["NotifyAlert"]}
    differs_from_42 = {V43.table[i].name for i in V42.table if V43.table[i] is not V42.table[i]}
    assert differs_from_42 == {"SetClientId", "GetClientListResponse"}
    fields = [name for name, _ in V43.schema("SetClientId").fields]  # type: ignore[attr-defined]
    assert fields == ["client_id", "is_proxy"]


@pytest.mark.parametrize("entry", SHARED, ids=[e["file"] for e in SHARED])
def test_v44_frame_without_progress_decodes_the_same_as_43(entry):
    frame = _frame("v44", entry)
    as43 = decode_frame(frame, 43)
    as44 = decode_frame(frame, 44)
    assert as43.name == entry["pdu"]
    assert as43.trailing == 0
    assert to_json(as43.body) == to_json(as44.body)
    if entry.get("expected") is not None:
        assert golden.normalise(to_json(as43.body)) == golden.normalise(entry["expected"])
    assert encode_payload(as43.name, as43.body, 43) == golden.payload_bytes("v44", entry)


def test_43_reads_the_fields_it_added():
    (entry,) = [e for e in SHARED if e["file"] == "SetClientId.bin"]
    body = decode_frame(_frame("v44", entry), 43).body
    assert body["is_proxy"] is True
    assert body["client_id"]["ssh_auth_sock"] == "/tmp/ssh-XXXX/agent.123"


@pytest.mark.parametrize("entry", PROGRESS, ids=[e["file"] for e in PROGRESS])
def test_progress_alert_is_not_codec_43(entry):
    frame = _frame("v44", entry)
    assert "Progress" in to_json(decode_frame(frame, 44).body)["alert"]
    with pytest.raises(CodecError, match="unknown Alert variant index 9"):
        decode_frame(frame, 43)


@pytest.mark.parametrize("entry", V42_CHANGED, ids=[e["file"] for e in V42_CHANGED])
def test_v42_client_id_frames_are_not_codec_43(entry):
    """A 42 ClientId has no ssh_auth_sock: read as 43, the value runs out (or misreads) where 43 wants more."""
    frame = _frame("v42", entry)
    try:
        pdu = decode_frame(frame, 43)
    except CodecError:
        return
    assert golden.normalise(to_json(pdu.body)) != golden.normalise(entry["expected"])
