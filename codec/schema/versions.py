"""Codec versions 42, 44 and 45: the one place that says what changed between them.

Codec 44 (``pdus.PDU_TABLE_V44``) is the base. The others are derived by
naming only their differences, checked against WezTerm's source:

* **42** (tag 20240203-110809-5046fc22, the last stable release): ``Alert`` has
  no ``Progress`` variant; ``ClientId`` has no ``ssh_auth_sock`` (so neither do
  ``ClientInfo`` and ``GetClientListResponse``); ``SetClientId`` has no
  ``is_proxy``.
* **45** (upstream main, 2025-2026): the same PDU table and structs as 44; the
  sender compresses with a reused one-shot compressor at zstd level 1, so its
  frames may declare their content size. That changes encoding only.

Unknown idents are never an error: they decode as ``Unknown`` with the payload
kept, exactly as WezTerm's ``Pdu::Invalid`` (codec 46 is already in review).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..varbincode import Schema, Seq, Struct
from . import mux, pdus


@dataclass(frozen=True)
class CodecVersion:
    number: int
    #: ident -> schema; the schema's ``name`` is the PDU name in WezTerm's table
    table: Mapping[int, Schema]
    #: how this version's sender compresses (see codec.compression)
    compression: str
    notes: str = ""
    ident_by_name: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ident_by_name", {s.name: i for i, s in self.table.items()})

    def schema(self, name: str) -> Schema:
        return self.table[self.ident_by_name[name]]


def _v42_table() -> dict[int, Schema]:
    table = dict(pdus.PDU_TABLE_V44)
    client_info_v42 = mux.CLIENT_INFO.replace(retype={"client_id": mux.CLIENT_ID_V42})
    table[40] = pdus.SET_CLIENT_ID.replace(drop=["is_proxy"], retype={"client_id": mux.CLIENT_ID_V42})
    table[39] = pdus.NOTIFY_ALERT.replace(retype={"alert": mux.ALERT_V42})
    table[42] = Struct("GetClientListResponse", [("clients", Seq(client_info_v42))])
    return table


V44 = CodecVersion(44, pdus.PDU_TABLE_V44, "streaming-level-3", "main 4ff581a8a (Feb 2025)")
V42 = CodecVersion(42, _v42_table(), "streaming-level-3", "release 20240203-110809-5046fc22")
V45 = CodecVersion(45, pdus.PDU_TABLE_V44, "oneshot-level-1", "upstream main 2025-2026")

VERSIONS: dict[int, CodecVersion] = {v.number: v for v in (V42, V44, V45)}
SUPPORTED = tuple(sorted(VERSIONS))
#: Used until a GetCodecVersionResponse tells us otherwise: the newest we know.
DEFAULT_VERSION = 44
#: Idents that exist in any supported version (for resynchronising on garbage).
KNOWN_IDENTS = frozenset(i for v in VERSIONS.values() for i in v.table)


def get_version(number: int) -> CodecVersion:
    """The schemas for codec ``number``; an unsupported number falls back to the nearest.

    A peer that speaks a newer codec (46+) is decoded with the newest schemas we
    have, an older one with the oldest: most PDUs are unchanged between
    versions, and whatever did change shows up as a decode error on that PDU
    only, never as a broken relay.
    """
    if number in VERSIONS:
        return VERSIONS[number]
    if number > max(SUPPORTED):
        return VERSIONS[max(SUPPORTED)]
    if number < min(SUPPORTED):
        return VERSIONS[min(SUPPORTED)]
    return VERSIONS[min(SUPPORTED, key=lambda n: (abs(n - number), -n))]
