"""codec.connection.MuxConnection: version negotiation as its table says, chunk gaps, directions.

These test the connection's state, not the wire format (the golden tests do that): frames come
from our own encoder.
"""

from __future__ import annotations

import itertools

import pytest

from codec import encode_pdu
from codec.connection import (
    NEGOTIATION,
    ChunksMissed,
    DecodeFailed,
    MuxConnection,
    Negotiation,
    PduReceived,
    VersionNegotiated,
)
from codec.direction import Direction
from codec.sequence import ChunkNumbers

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
CLIENT_ID = {"hostname": "h", "username": "u", "pid": 1, "epoch": 2, "id": 3, "ssh_auth_sock": None}


def _version_response(vers: int, serial: int = 1) -> bytes:
    body = {"codec_vers": vers, "version_string": "x", "executable_path": "/w", "config_file_path": None}
    return encode_pdu("GetCodecVersionResponse", body, serial, 44)


def _set_client_id(version: int, serial: int = 2) -> bytes:
    cid = dict(CLIENT_ID)
    body: dict = {"client_id": cid, "is_proxy": False}
    if version == 42:
        del cid["ssh_auth_sock"]
        del body["is_proxy"]
    return encode_pdu("SetClientId", body, serial, version)


def test_the_table_covers_every_state_and_direction():
    assert set(NEGOTIATION) == set(itertools.product(Negotiation, Direction))
    assert all(not switched for (state, _), (_, switched) in NEGOTIATION.items() if state is Negotiation.FORCED)


def test_server_announcement_switches_both_directions():
    conn = MuxConnection()
    assert conn.state is Negotiation.DEFAULT and conn.version(C2S).number == 44
    list(conn.receive_data(C2S, encode_pdu("GetCodecVersion", {}, 1, 44)))
    events = list(conn.receive_data(S2C, _version_response(42)))
    assert [type(e) for e in events] == [PduReceived, VersionNegotiated]
    assert events[1] == VersionNegotiated(S2C, 42, Negotiation.NEGOTIATED, (S2C, C2S))
    assert conn.state is Negotiation.NEGOTIATED and conn.peer_version == 42
    assert conn.version(C2S).number == conn.version(S2C).number == 42
    (ev,) = conn.receive_data(C2S, _set_client_id(42))  # a 42 client's SetClientId: no is_proxy
    assert isinstance(ev, PduReceived) and ev.direction is C2S and "is_proxy" not in ev.pdu.body


def test_switch_applies_to_the_next_frame_of_the_same_chunk():
    conn = MuxConnection()
    chunk = _version_response(42) + encode_pdu(
        "GetClientListResponse",
        {"clients": [{"client_id": {k: v for k, v in CLIENT_ID.items() if k != "ssh_auth_sock"}, "connected_at": 1,
                      "active_workspace": None, "last_input": 2, "focused_pane_id": None}]},
        3, 42,
    )
    events = [e for e in conn.receive_data(S2C, chunk) if isinstance(e, (PduReceived, DecodeFailed))]
    assert [type(e) for e in events] == [PduReceived, PduReceived]
    assert "ssh_auth_sock" not in events[1].pdu.body["clients"][0]["client_id"]


def test_the_pdu_event_already_sees_the_new_version():
    conn = MuxConnection()
    for ev in conn.receive_data(S2C, _version_response(45)):
        if isinstance(ev, PduReceived):
            assert conn.version(S2C).number == 45 and conn.version(C2S).number == 45


def test_forced_version_records_the_announcement_but_keeps_decoding_as_forced():
    conn = MuxConnection(45)
    events = list(conn.receive_data(S2C, _version_response(42)))
    assert events[-1] == VersionNegotiated(S2C, 42, Negotiation.FORCED, ())
    assert conn.peer_version == 42
    assert conn.version(C2S).number == conn.version(S2C).number == 45


def test_a_response_from_the_client_switches_only_the_clients_direction():
    conn = MuxConnection()
    events = list(conn.receive_data(C2S, _version_response(42)))
    assert events[-1] == VersionNegotiated(C2S, 42, Negotiation.DEFAULT, (C2S,))
    assert conn.version(C2S).number == 42 and conn.version(S2C).number == 44
    assert conn.peer_version is None


def test_a_gap_in_chunk_numbers_drops_the_frame_in_progress_and_resynchronises():
    conn = MuxConnection()
    first = encode_pdu("Ping", {}, 1, 44)
    cut = encode_pdu("SendPaste", {"pane_id": 1, "data": "x" * 20}, 2, 44)
    after = encode_pdu("Pong", {}, 3, 44)
    assert [type(e) for e in conn.receive_data(C2S, first + cut[:5], 0)] == [PduReceived]
    # chunk 1 (the rest of the cut frame) never arrives
    events = list(conn.receive_data(C2S, after, 2))
    assert events[0] == ChunksMissed(C2S, 1, len(first), 2)
    assert [e.pdu.name for e in events if isinstance(e, PduReceived)] == ["Pong"]
    assert conn.gaps == 1


def test_chunks_without_numbers_are_numbered_in_arrival_order_and_never_missed():
    conn = MuxConnection()
    frame = encode_pdu("Ping", {}, 1, 44)
    chunks = [e.chunk for part in (frame, frame, frame) for e in conn.receive_data(S2C, part)]
    assert chunks == [0, 1, 2] and conn.gaps == 0


def test_garbage_is_a_decode_failure_and_decoding_goes_on():
    conn = MuxConnection()
    events = list(conn.receive_data(S2C, b"\x01\x01\x01" + encode_pdu("Pong", {}, 1, 44)))
    assert any(isinstance(e, DecodeFailed) and e.error.kind == "frame" for e in events)
    assert [e.pdu.name for e in events if isinstance(e, PduReceived)] == ["Pong"]


def test_directions_are_their_strings():
    assert Direction("client_to_server") is C2S and list(Direction) == [C2S, S2C]
    assert f"{S2C}" == "server_to_client" and {"client_to_server": 1}[C2S] == 1
    with pytest.raises(ValueError):
        Direction("")


def test_chunk_numbers_both_sides():
    n = ChunkNumbers()
    assert [n.take((1, C2S)) for _ in range(3)] == [0, 1, 2]
    n.skip((1, C2S), 2)
    assert n.take((1, C2S)) == 5 and n.take((1, S2C)) == 0
    n.forget_connection(1)
    assert n.expected((1, C2S)) == 0
    check = ChunkNumbers()
    assert [check.arrived("k", s) for s in (0, 1, 4, 5)] == [0, 0, 2, 0]
    assert check.expected("k") == 6
