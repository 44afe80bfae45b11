"""Declarative varbincode schemas and the one interpreter that decodes and encodes them.

WezTerm serializes every PDU with serde into the ``varbincode`` format
(github.com/wez/varbincode, ``src/ser.rs``/``src/de.rs``). The rules, checked
against that source:

* ``u8``/``i8`` are one raw byte; ``u16..u64``/``usize`` are unsigned LEB128;
  ``i16..i64`` are *signed* LEB128 (not zigzag); out-of-range values are errors.
* ``bool`` is written as LEB128 0/1 and read back as a raw byte: same bytes.
* ``f32``/``f64`` are little-endian IEEE754.
* ``char`` is the LEB128 of its code point (not UTF-8).
* ``str``/``String``/``PathBuf``/``Vec<u8>``/``&[u8]`` are a u64 length then the bytes.
* ``Option`` is a raw ``u8`` tag (0 = None, 1 = Some, anything else an error).
* sequences and maps are a u64 count followed by the elements (keys and values interleaved).
* enum variants are the LEB128 of the variant index, then the payload (if any).
* structs, tuples, tuple structs and fixed arrays are their fields in order,
  with no count; newtypes are their inner value; unit structs and ``()`` take no bytes.

A schema is a tree of :class:`Schema` objects, declared once per Rust type in
``codec/schema/``. Each schema compiles (lazily) into a pair of closures,
``decode(buf, pos) -> (value, pos)`` and ``encode(value, out)``, which is
where all the speed comes from: no per-value dispatch on the schema's class.

Decoded values have the shape ``serde_json`` gives the Rust value, so a PDU
body can be compared field by field with WezTerm's own rendering:
struct -> ``dict`` by field name, tuple/tuple struct -> ``tuple``, newtype ->
inner value, unit struct/``()`` -> ``None``, unit variant -> ``"Name"``, other
variants -> ``{"Name": payload}``, ``Option`` -> ``None`` or the value, map ->
``dict``, ``Vec<u8>``/``[u8; N]`` -> ``bytes``. :func:`to_json` finishes the job
(tuples become lists, bytes become lists of ints, map keys become strings).

The package, one job per module: :mod:`.base` (the Schema base and error plumbing),
:mod:`.primitives`, :mod:`.containers` (Option, sequences, maps, tuples, arrays),
:mod:`.structs`, :mod:`.enums` (enums and bitflags), :mod:`.serde_json` (rendering) and
:mod:`.derive` (describing one codec version by its differences from another).
"""

from codec.wire.varbincode.base import Custom, Decoder, Encoder, Ref, Schema
from codec.wire.varbincode.containers import Array, Map, Option, Seq, Tuple
from codec.wire.varbincode.derive import substitute
from codec.wire.varbincode.enums import Enum, Flags, FlagsValue, Variant
from codec.wire.varbincode.primitives import (
    BOOL,
    BYTES,
    CHAR,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    ISIZE,
    PATH,
    STR,
    U8,
    U16,
    U32,
    U64,
    UNIT,
    USIZE,
    Primitive,
)
from codec.wire.varbincode.serde_json import to_json
from codec.wire.varbincode.structs import Newtype, Range, Struct, UnitStruct

__all__ = [
    "BOOL",
    "BYTES",
    "CHAR",
    "F32",
    "F64",
    "I8",
    "I16",
    "I32",
    "I64",
    "ISIZE",
    "PATH",
    "STR",
    "U8",
    "U16",
    "U32",
    "U64",
    "UNIT",
    "USIZE",
    "Array",
    "Custom",
    "Decoder",
    "Encoder",
    "Enum",
    "Flags",
    "FlagsValue",
    "Map",
    "Newtype",
    "Option",
    "Primitive",
    "Range",
    "Ref",
    "Schema",
    "Seq",
    "Struct",
    "Tuple",
    "UnitStruct",
    "Variant",
    "substitute",
    "to_json",
]
