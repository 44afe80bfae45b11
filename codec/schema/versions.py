"""Codec versions 42, 44 and 45: the one place that says what changed between them.

Codec 44 (``pdus.PDU_TABLE_V44``) is the base. The others are derived by
naming only their differences, checked against WezTerm's source:

* **42** (tag 20240203-110809-5046fc22, the last stable release): ``Alert`` has
  no ``Progress`` variant; ``ClientId`` has no ``ssh_auth_sock`` (so neither do
  ``ClientInfo`` and ``GetClientListResponse``); ``SetClientId`` has no
  ``is_proxy``.
* **45** (upstream 7aadebfe4, 2025-03-08): ``ClusteredLine.len`` widened from
  u16 to u32 (same LEB128 bytes below 65536; a 44 decoder rejects more). The
  PDU table and structs are otherwise those of 44. One stored upstream version
  also moves the sender to a reused one-shot compressor at zstd level 1, whose
  frames declare their content size; main as of 2025-11 still streams at the
  default level. Decoding handles both; our v45 encoder follows the former
  (see ``compression``), the choice only changes compressed bytes.

Unknown idents are never an error: they decode as ``Unknown`` with the payload
kept, exactly as WezTerm's ``Pdu::Invalid`` (codec 46 is already in review).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from codec.schema import mux, pdus, termwiz
from codec.wire.varbincode import U32, Schema, substitute


@dataclass(frozen=True)
class CodecVersion:
    number: int
    #: ident -> schema; the schema's ``name`` is the PDU name in WezTerm's table
    table: Mapping[int, Schema]
    #: how this version's sender compresses (see codec.wire.compression)
    compression: str
    notes: str = ""
    #: termwiz ``Line`` as this version serializes it (for decoding one line on its own)
    line: Schema = termwiz.LINE
    ident_by_name: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ident_by_name", {s.name: i for i, s in self.table.items()})

    def schema(self, name: str) -> Schema:
        return self.table[self.ident_by_name[name]]


def _derive(table: Mapping[int, Schema], replacements: Mapping[Schema, Schema]) -> dict[int, Schema]:
    memo: dict[int, Schema] = {}
    return {ident: substitute(schema, replacements, memo) for ident, schema in table.items()}


def _v42_table() -> dict[int, Schema]:
    table = _derive(pdus.PDU_TABLE_V44, {mux.CLIENT_ID: mux.CLIENT_ID_V42, mux.ALERT: mux.ALERT_V42})
    table[40] = table[40].replace(drop=["is_proxy"])  # type: ignore[attr-defined]
    return table


CLUSTERED_LINE_V45 = termwiz.CLUSTERED_LINE.replace(retype={"len": U32})

V44 = CodecVersion(44, pdus.PDU_TABLE_V44, "streaming-level-3", "main 4ff581a8a (Feb 2025)")
V42 = CodecVersion(42, _v42_table(), "streaming-level-3", "release 20240203-110809-5046fc22")
V45 = CodecVersion(
    45,
    _derive(pdus.PDU_TABLE_V44, {termwiz.CLUSTERED_LINE: CLUSTERED_LINE_V45}),
    "oneshot-level-1",
    "upstream 7aadebfe4 (Mar 2025) and later",
    substitute(termwiz.LINE, {termwiz.CLUSTERED_LINE: CLUSTERED_LINE_V45}, {}),
)

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
