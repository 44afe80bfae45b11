"""Codec versions 42 to 45: the one place that says what changed between them, and when.

Codec 44 (``pdus.PDU_TABLE_V44``) is the base. The others are derived by
naming only their differences, checked against WezTerm's git history
(``git log -p -- codec/src/lib.rs``, where each version bump is the line
``pub const CODEC_VERSION``, and the serde types the PDUs carry):

* **42** (tag 20240203-110809-5046fc22, the last stable release): ``Alert`` has
  no ``Progress`` variant; ``ClientId`` has no ``ssh_auth_sock`` (so neither do
  ``ClientInfo`` and ``GetClientListResponse``); ``SetClientId`` has no
  ``is_proxy``.
* **43** (6b93ee19e, 2024-05-09, "mux: record client ssh_auth_sock
  information"; the nightlies from May 2024 to Feb 2025): adds
  ``ClientId.ssh_auth_sock: Option<String>`` (mux/src/client.rs) and
  ``SetClientId.is_proxy: bool``, nothing else. So 43 is 44 without
  ``Alert::Progress``, and 42 plus those two fields. Between the 42 tag and
  6b93ee19e no serde type on the wire changed; between 6b93ee19e and the 44
  bump, codec/src/lib.rs changed only error messages (e19def7c9), metrics
  calls (6c890c399) and lint attributes (c0649ad4b), and no type the PDUs
  carry changed shape (``mux::pane::PatternType`` is new but never sent).
* **44** (44866cc13, 2025-02-09, "new: ConEmu progress reporting OSC
  sequence"): adds the trailing variant ``Alert::Progress(Progress)`` and the
  ``Progress`` enum (term/src/terminal.rs).
* **45** (upstream 7aadebfe4, 2025-03-08): ``ClusteredLine.len`` widened from
  u16 to u32 (same LEB128 bytes below 65536; a 44 decoder rejects more). The
  PDU table and structs are otherwise those of 44. One stored upstream version
  also moves the sender to a reused one-shot compressor at zstd level 1, whose
  frames declare their content size; main as of 2025-11 still streams at the
  default level. Decoding handles both; our v45 encoder follows the former
  (``CodecVersion.compression``), the choice only changes compressed bytes.

42 to 44 compress alike (a streaming ``zstd::Encoder`` at the default level).
Unknown idents are never an error: they decode as ``Unknown`` with the payload
kept, exactly as WezTerm's ``Pdu::Invalid`` (codec 46 is already in review).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from codec.schema import mux, pdus, termwiz
from codec.wire.compression import Compression
from codec.wire.varbincode import U32, Schema, substitute


@dataclass(frozen=True)
class CodecVersion:
    number: int
    #: ident -> schema; the schema's ``name`` is the PDU name in WezTerm's table
    table: Mapping[int, Schema]
    #: how this version's sender compresses (read by ``codec.pdu.encode_pdu``)
    compression: Compression
    notes: str = ""
    #: termwiz ``Line`` as this version serializes it (for decoding one line on its own)
    line: Schema = termwiz.LINE
    #: a ``wezterm --version`` string of a build speaking this version (what the emulated server announces)
    version_string: str = ""
    ident_by_name: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ident_by_name", {s.name: i for i, s in self.table.items()})

    def schema(self, name: str) -> Schema:
        return self.table[self.ident_by_name[name]]


def _derive(table: Mapping[int, Schema], replacements: Mapping[Schema, Schema]) -> dict[int, Schema]:
    memo: dict[int, Schema] = {}
    return {ident: substitute(schema, replacements, memo) for ident, schema in table.items()}


def _v42_table(v43: Mapping[int, Schema]) -> dict[int, Schema]:
    """42 is 43 before 6b93ee19e: no ``ClientId.ssh_auth_sock``, no ``SetClientId.is_proxy``."""
    table = _derive(v43, {mux.CLIENT_ID: mux.CLIENT_ID_V42})
    table[40] = table[40].replace(drop=["is_proxy"])  # type: ignore[attr-defined]
    return table


CLUSTERED_LINE_V45 = termwiz.CLUSTERED_LINE.replace(retype={"len": U32})

V44 = CodecVersion(
    44, pdus.PDU_TABLE_V44, Compression.STREAMING_LEVEL_3, "main 4ff581a8a (Feb 2025)",
    version_string="20250213-000000-4ff581a8",
)
V43 = CodecVersion(  # 44 before 44866cc13: no Alert::Progress
    43,
    _derive(pdus.PDU_TABLE_V44, {mux.ALERT: mux.ALERT_V42}),
    Compression.STREAMING_LEVEL_3,
    "nightlies from 6b93ee19e (May 2024) to before 44866cc13 (Feb 2025)",
    version_string="20240509-000000-6b93ee19",
)
V42 = CodecVersion(
    42, _v42_table(V43.table), Compression.STREAMING_LEVEL_3, "release 20240203-110809-5046fc22",
    version_string="20240203-110809-5046fc22",
)
V45 = CodecVersion(
    45,
    _derive(pdus.PDU_TABLE_V44, {termwiz.CLUSTERED_LINE: CLUSTERED_LINE_V45}),
    Compression.ONESHOT_LEVEL_1,
    "upstream 7aadebfe4 (Mar 2025) and later",
    substitute(termwiz.LINE, {termwiz.CLUSTERED_LINE: CLUSTERED_LINE_V45}, {}),
    version_string="20260101-000000-main",
)

VERSIONS: dict[int, CodecVersion] = {v.number: v for v in (V42, V43, V44, V45)}
#: Every codec version muxscope decodes and encodes, oldest first (the CLI's ``--codec-version`` choices).
SUPPORTED = tuple(sorted(VERSIONS))
#: Used until a GetCodecVersionResponse tells us otherwise.
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
