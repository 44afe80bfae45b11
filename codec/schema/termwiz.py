"""Schemas of the termwiz types the mux protocol carries: lines, cells, colours, images, keys.

Each constant mirrors one Rust type of WezTerm's source at codec version 44
(``termwiz`` built with feature ``use_serde``; colours from
``wezterm-color-types``, ``Modifiers`` from ``wezterm-input-types``), plus the
line-transport structs of ``codec/src/lib.rs`` (``SerializedLines`` and the
types it lifts hyperlinks and images into).

Serde details that shape the wire here (checked against the source):

* ``Cell.text`` is a ``TeenyString`` with ``serialize_with =
  "serialize_teenystring"``: a plain ``str``. The cell *width* is not sent;
  the receiver recomputes it from the text (``TeenyString::from_str(&text,
  None, None)``), see :mod:`codec.lines`.
* ``ClusteredLine.is_double_wide`` is an ``Option<Box<FixedBitSet>>`` with a
  custom ``serialize_bitset``: a ``Vec<usize>`` of the set bit indices
  (``[]`` for ``None``).
* ``LineBits`` is a bitflags **2** type: an integer (u16 LEB128) on the wire,
  ``"A | B"`` in serde_json, hence :class:`Flags`. ``Modifiers`` is a
  bitflags **1** type (the workspace pins ``bitflags = "1.3"`` for
  wezterm-input-types): a derived struct ``{bits: u16}``.
* ``Arc``/``Box`` are transparent (serde ``rc``); ``ImageData.data`` is a
  ``Mutex<ImageDataType>``, serialized as the inner enum.
* ``ImageDataType::EncodedLease`` uses ``wezterm_blob_leases::lease_bytes``:
  the lease's bytes as a ``Vec<u8>`` (same bytes as ``EncodedFile``).
* ``TextureCoordinate`` fields are ``NotNan<f32>`` with
  ``serialize_notnan``: plain f32.
* ``std::time::Duration`` is serde's struct ``{secs: u64, nanos: u32}``.
* ``NonZeroU8`` serializes as its ``u8`` (a raw byte).
* ``Line.appdata`` is ``#[serde(skip)]``; ``Line`` is
  ``{cells, zones, seqno, bits}`` in that order.
* ``StableRowIndex`` is ``isize``: signed LEB128.
* ``ColorSpec`` derives no serde and never appears on the wire.
"""

from __future__ import annotations

from codec.schema.common import SRGBA_TUPLE
from codec.wire.varbincode import (
    BOOL,
    BYTES,
    CHAR,
    F32,
    I32,
    ISIZE,
    STR,
    U8,
    U16,
    U32,
    U64,
    USIZE,
    Array,
    Enum,
    Flags,
    Map,
    Option,
    Range,
    Seq,
    Struct,
    Tuple,
    Variant,
)

# ---------------------------------------------------------------------------
# colours (termwiz/src/color.rs, termwiz/src/cell.rs)

#: ``termwiz::color::PaletteIndex = u8``: one raw byte.
PALETTE_INDEX = U8

#: ``termwiz::color::ColorAttribute`` (color.rs).
COLOR_ATTRIBUTE = Enum(
    "ColorAttribute",
    [
        Variant("TrueColorWithPaletteFallback", Tuple(SRGBA_TUPLE, PALETTE_INDEX)),
        Variant("TrueColorWithDefaultFallback", SRGBA_TUPLE),
        Variant("PaletteIndex", PALETTE_INDEX),
        Variant("Default"),
    ],
)

#: ``termwiz::color::AnsiColor`` (color.rs): a fieldless enum, serialized by variant index.
ANSI_COLOR = Enum(
    "AnsiColor",
    [
        "Black", "Maroon", "Green", "Olive", "Navy", "Purple", "Teal", "Silver",
        "Grey", "Red", "Lime", "Yellow", "Blue", "Fuchsia", "Aqua", "White",
    ],
)  # fmt: skip

#: ``termwiz::cell::SmallColor`` (cell.rs, private): the compact colour of ``CellAttributes``.
SMALL_COLOR = Enum("SmallColor", [Variant("Default"), Variant("PaletteIndex", PALETTE_INDEX)])

# ---------------------------------------------------------------------------
# hyperlinks (termwiz/src/hyperlink.rs)

#: ``termwiz::hyperlink::Hyperlink {params: HashMap<String, String>, uri, implicit}``.
#: (``hyperlink::Rule`` is configuration, never on the mux wire.)
HYPERLINK = Struct(
    "Hyperlink",
    [("params", Map(STR, STR)), ("uri", STR), ("implicit", BOOL)],
)

# ---------------------------------------------------------------------------
# images (termwiz/src/image.rs)

#: ``[u8; 32]``: 32 raw bytes (a blake3 hash in ImageData / SerializedImageCell).
HASH32 = Array(U8, 32)

#: ``termwiz::image::TextureCoordinate {x: NotNan<f32>, y: NotNan<f32>}`` (serialize_notnan: f32).
TEXTURE_COORDINATE = Struct("TextureCoordinate", [("x", F32), ("y", F32)])

#: ``std::time::Duration``: serde's ``{secs: u64, nanos: u32}``.
DURATION = Struct("Duration", [("secs", U64), ("nanos", U32)])

#: ``termwiz::image::ImageDataType`` (image.rs).
IMAGE_DATA_TYPE = Enum(
    "ImageDataType",
    [
        Variant("EncodedFile", BYTES),
        # serde(with = "wezterm_blob_leases::lease_bytes"): the lease's data as Vec<u8>
        Variant("EncodedLease", BYTES),
        Variant(
            "Rgba8",
            Struct("Rgba8", [("data", BYTES), ("width", U32), ("height", U32), ("hash", HASH32)]),
        ),
        Variant(
            "AnimRgba8",
            Struct(
                "AnimRgba8",
                [
                    ("width", U32),
                    ("height", U32),
                    ("durations", Seq(DURATION)),
                    ("frames", Seq(BYTES)),
                    ("hashes", Seq(HASH32)),
                ],
            ),
        ),
    ],
)

#: ``termwiz::image::ImageData {data: Mutex<ImageDataType>, hash: [u8; 32]}``; the Mutex is transparent.
IMAGE_DATA = Struct("ImageData", [("data", IMAGE_DATA_TYPE), ("hash", HASH32)])

#: ``termwiz::image::ImageCell`` (image.rs); ``data: Arc<ImageData>`` is transparent.
IMAGE_CELL = Struct(
    "ImageCell",
    [
        ("top_left", TEXTURE_COORDINATE),
        ("bottom_right", TEXTURE_COORDINATE),
        ("data", IMAGE_DATA),
        ("z_index", I32),
        ("padding_left", U16),
        ("padding_top", U16),
        ("padding_right", U16),
        ("padding_bottom", U16),
        ("image_id", Option(U32)),
        ("placement_id", Option(U32)),
    ],
)

# ---------------------------------------------------------------------------
# cells (termwiz/src/cell.rs)

#: ``termwiz::cell::SemanticType`` (cell.rs): Output, Input, Prompt.
SEMANTIC_TYPE = Enum("SemanticType", ["Output", "Input", "Prompt"])
#: ``termwiz::cell::Intensity`` / ``Underline`` / ``Blink`` / ``VerticalAlign``: packed into
#: ``CellAttributes.attributes`` on the wire, but serde-derivable (AttributeChange uses them).
INTENSITY = Enum("Intensity", ["Normal", "Bold", "Half"])
UNDERLINE = Enum("Underline", ["None", "Single", "Double", "Curly", "Dotted", "Dashed"])
BLINK = Enum("Blink", ["None", "Slow", "Rapid"])
VERTICAL_ALIGN = Enum("VerticalAlign", ["BaseLine", "SuperScript", "SubScript"])

#: ``termwiz::cell::FatAttributes`` (private; boxed in ``CellAttributes.fat``).
FAT_ATTRIBUTES = Struct(
    "FatAttributes",
    [
        ("hyperlink", Option(HYPERLINK)),  # Option<Arc<Hyperlink>>
        ("image", Seq(IMAGE_CELL)),  # Vec<Box<ImageCell>>
        ("underline_color", COLOR_ATTRIBUTE),
        ("foreground", COLOR_ATTRIBUTE),
        ("background", COLOR_ATTRIBUTE),
    ],
)

#: ``termwiz::cell::CellAttributes``: the u32 bitfield (intensity bits 0-1, underline 2-4,
#: blink 5-6, italic 7, reverse 8, strikethrough 9, invisible 10, wrapped 11, overline 12,
#: semantic_type 13-14, vertical_align 15-16), two SmallColors and the optional fat part.
CELL_ATTRIBUTES = Struct(
    "CellAttributes",
    [
        ("attributes", U32),
        ("foreground", SMALL_COLOR),
        ("background", SMALL_COLOR),
        ("fat", Option(FAT_ATTRIBUTES)),  # Option<Box<FatAttributes>>
    ],
)

#: ``termwiz::cell::Cell {text: TeenyString (serialized as str), attrs}``.
CELL = Struct("Cell", [("text", STR), ("attrs", CELL_ATTRIBUTES)])

# ---------------------------------------------------------------------------
# lines (termwiz/src/surface/line/*.rs)

#: ``termwiz::surface::line::VecStorage {cells: Vec<Cell>}`` (vecstorage.rs).
VEC_STORAGE = Struct("VecStorage", [("cells", Seq(CELL))])

#: ``clusterline::Cluster {cell_width: u16, attrs}`` (clusterline.rs, private).
CLUSTER = Struct("Cluster", [("cell_width", U16), ("attrs", CELL_ATTRIBUTES)])

#: ``clusterline::ClusteredLine`` (clusterline.rs). ``is_double_wide`` goes through
#: ``serialize_bitset``: the indices of the set bits as ``Vec<usize>``.
CLUSTERED_LINE = Struct(
    "ClusteredLine",
    [
        ("text", STR),
        ("is_double_wide", Seq(USIZE)),
        ("clusters", Seq(CLUSTER)),
        ("len", U16),
        ("last_cell_width", Option(U8)),  # Option<NonZeroU8>
    ],
)

#: ``storage::CellStorage`` (storage.rs): ``V(VecStorage)`` or ``C(ClusteredLine)``.
CELL_STORAGE = Enum("CellStorage", [Variant("V", VEC_STORAGE), Variant("C", CLUSTERED_LINE)])

#: ``line::ZoneRange {semantic_type, range: Range<u16>}`` (line.rs); ends are inclusive by convention.
ZONE_RANGE = Struct("ZoneRange", [("semantic_type", SEMANTIC_TYPE), ("range", Range(U16))])

#: ``linebits::LineBits``: bitflags 2 over u16, in declaration order (rendering follows it).
LINE_BITS = Flags(
    "LineBits",
    U16,
    {
        0: "NONE",
        1 << 1: "HAS_HYPERLINK",
        1 << 2: "SCANNED_IMPLICIT_HYPERLINKS",
        1 << 3: "HAS_IMPLICIT_HYPERLINKS",
        1 << 4: "DOUBLE_WIDTH",
        1 << 5: "DOUBLE_HEIGHT_TOP",
        1 << 6: "DOUBLE_HEIGHT_BOTTOM",
        (1 << 4) | (1 << 5) | (1 << 6): "DOUBLE_WIDTH_HEIGHT_MASK",
        1 << 0: "BIDI_ENABLED",
        1 << 7: "RTL",
        1 << 8: "AUTO_DETECT_DIRECTION",
    },
)

#: ``termwiz::surface::SequenceNo = usize``.
SEQUENCE_NO = USIZE

#: ``termwiz::surface::line::Line {cells, zones, seqno, bits}`` (line.rs; ``appdata`` is serde(skip)).
LINE = Struct(
    "Line",
    [("cells", CELL_STORAGE), ("zones", Seq(ZONE_RANGE)), ("seqno", SEQUENCE_NO), ("bits", LINE_BITS)],
)

# ---------------------------------------------------------------------------
# the line transport of codec/src/lib.rs

#: ``wezterm_term::StableRowIndex = isize``.
STABLE_ROW_INDEX = ISIZE

#: ``codec::CellCoordinates {line_idx: usize, cols: Range<usize>}``; ``line_idx`` indexes
#: ``SerializedLines.lines``, not the stable row.
CELL_COORDINATES = Struct("CellCoordinates", [("line_idx", USIZE), ("cols", Range(USIZE))])

#: ``codec::LineHyperlink {link: Hyperlink, coords: Vec<CellCoordinates>}``.
LINE_HYPERLINK = Struct("LineHyperlink", [("link", HYPERLINK), ("coords", Seq(CELL_COORDINATES))])

#: ``codec::SerializedImageCell``: an ImageCell lifted out of a cell, its data replaced by the
#: data hash; ``line_idx`` here IS the stable row (unlike CellCoordinates).
SERIALIZED_IMAGE_CELL = Struct(
    "SerializedImageCell",
    [
        ("line_idx", STABLE_ROW_INDEX),
        ("cell_idx", USIZE),
        ("top_left", TEXTURE_COORDINATE),
        ("bottom_right", TEXTURE_COORDINATE),
        ("data_hash", HASH32),
        ("z_index", I32),
        ("padding_left", U16),
        ("padding_top", U16),
        ("padding_right", U16),
        ("padding_bottom", U16),
        ("image_id", Option(U32)),
        ("placement_id", Option(U32)),
    ],
)

#: ``codec::SerializedLines {lines: Vec<(StableRowIndex, Line)>, hyperlinks, images}``.
SERIALIZED_LINES = Struct(
    "SerializedLines",
    [
        ("lines", Seq(Tuple(STABLE_ROW_INDEX, LINE))),
        ("hyperlinks", Seq(LINE_HYPERLINK)),
        ("images", Seq(SERIALIZED_IMAGE_CELL)),
    ],
)

# ---------------------------------------------------------------------------
# input (termwiz/src/input.rs, wezterm-input-types/src/lib.rs)

#: ``wezterm_input_types::Modifiers``: bitflags 1 over u16 with serde derive -> struct ``{bits}``.
MODIFIERS = Struct("Modifiers", [("bits", U16)])

#: ``termwiz::input::KeyCode``, every variant in declaration order (the order is the wire index).
KEY_CODE = Enum(
    "KeyCode",
    [Variant("Char", CHAR), "Hyper", "Super", "Meta", "Cancel", "Backspace", "Tab", "Clear", "Enter", "Shift", "Escape", "LeftShift", "RightShift", "Control", "LeftControl", "RightControl", "Alt", "LeftAlt", "RightAlt", "Menu", "LeftMenu", "RightMenu", "Pause", "CapsLock", "PageUp", "PageDown", "End", "Home", "LeftArrow", "RightArrow", "UpArrow", "DownArrow", "Select", "Print", "Execute", "PrintScreen", "Insert", "Delete", "Help", "LeftWindows", "RightWindows", "Applications", "Sleep", "Numpad0", "Numpad1", "Numpad2", "Numpad3", "Numpad4", "Numpad5", "Numpad6", "Numpad7", "Numpad8", "Numpad9", "Multiply", "Add", "Separator", "Subtract", "Decimal", "Divide", Variant("Function", U8), "NumLock", "ScrollLock", "Copy", "Cut", "Paste", "BrowserBack", "BrowserForward", "BrowserRefresh", "BrowserStop", "BrowserSearch", "BrowserFavorites", "BrowserHome", "VolumeMute", "VolumeDown", "VolumeUp", "MediaNextTrack", "MediaPrevTrack", "MediaStop", "MediaPlayPause", "ApplicationLeftArrow", "ApplicationRightArrow", "ApplicationUpArrow", "ApplicationDownArrow", "KeyPadHome", "KeyPadEnd", "KeyPadPageUp", "KeyPadPageDown", "KeyPadBegin", "InternalPasteStart", "InternalPasteEnd"],
)  # fmt: skip

#: ``termwiz::input::KeyEvent {key: KeyCode, modifiers: Modifiers}`` (no further fields).
KEY_EVENT = Struct("KeyEvent", [("key", KEY_CODE), ("modifiers", MODIFIERS)])

__all__ = [
    "ANSI_COLOR",
    "BLINK",
    "CELL",
    "CELL_ATTRIBUTES",
    "CELL_COORDINATES",
    "CELL_STORAGE",
    "CLUSTER",
    "CLUSTERED_LINE",
    "COLOR_ATTRIBUTE",
    "DURATION",
    "FAT_ATTRIBUTES",
    "HASH32",
    "HYPERLINK",
    "IMAGE_CELL",
    "IMAGE_DATA",
    "IMAGE_DATA_TYPE",
    "INTENSITY",
    "KEY_CODE",
    "KEY_EVENT",
    "LINE",
    "LINE_BITS",
    "LINE_HYPERLINK",
    "MODIFIERS",
    "PALETTE_INDEX",
    "SEMANTIC_TYPE",
    "SEQUENCE_NO",
    "SERIALIZED_IMAGE_CELL",
    "SERIALIZED_LINES",
    "SMALL_COLOR",
    "STABLE_ROW_INDEX",
    "TEXTURE_COORDINATE",
    "UNDERLINE",
    "VEC_STORAGE",
    "VERTICAL_ALIGN",
    "ZONE_RANGE",
]
