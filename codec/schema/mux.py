"""Schemas for the non-termwiz types the PDUs of ``codec/src/lib.rs`` carry.

These mirror types from wezterm-term (``term/src``), mux (``mux/src``),
config (``config/src/keyassignment.rs``) and portable-pty (``pty/src``).
Every schema was checked against the WezTerm source at codec version 44
(main) and at tag ``20240203-110809-5046fc22`` (codec 42) with
``git diff 20240203-110809-5046fc22 HEAD -- <paths>``.

Codec 42 vs 44 differences in these types (all of them):

* ``wezterm_term::Alert`` gained the trailing variant ``Progress(Progress)``
  (and the ``Progress`` enum itself) in 44: :data:`ALERT_V42` lacks it.
* ``mux::client::ClientId`` gained the trailing field ``ssh_auth_sock:
  Option<String>`` in 44: :data:`CLIENT_ID_V42` / :data:`CLIENT_INFO_V42`.
* (Outside this module) ``codec::SetClientId`` gained ``is_proxy: bool`` in 44.

Everything else reachable from the PDUs (TerminalSize, ColorPalette,
MouseEvent, RenderableDimensions, StableCursorPosition, PaneNode/PaneEntry,
SplitRequest, SerdeUrl, ClientInfo, Pattern, SearchResult, SpawnTabDomain,
PaneDirection, ScrollbackEraseMode, CommandBuilder) is identical on the wire
in 42 and 44. (``mux::pane::PatternType`` is new in 44 but is not sent.)
"""

from __future__ import annotations

import struct as _struct
import threading
from collections.abc import Mapping
from typing import Any

from codec.errors import EncodeError, PayloadError
from codec.schema.common import SRGBA_TUPLE
from codec.wire.leb128 import decode_unsigned, encode_unsigned
from codec.wire.varbincode import (
    BOOL,
    I64,
    ISIZE,
    STR,
    U8,
    U16,
    U32,
    U64,
    USIZE,
    Custom,
    Decoder,
    Enum,
    Map,
    Newtype,
    Option,
    Range,
    Ref,
    Schema,
    Seq,
    Struct,
    Variant,
)

# ---------------------------------------------------------------------------
# id aliases (``pub type X = usize/isize``)

#: ``mux::pane::PaneId = usize``
PANE_ID = USIZE
#: ``mux::tab::TabId = usize``
TAB_ID = USIZE
#: ``mux::window::WindowId = usize``
WINDOW_ID = USIZE
#: ``wezterm_term::StableRowIndex = isize`` (signed LEB128 on the wire)
STABLE_ROW_INDEX = ISIZE
#: ``wezterm_term::VisibleRowIndex = i64``
VISIBLE_ROW_INDEX = I64

# ---------------------------------------------------------------------------
# wezterm-term: term/src/terminal.rs, term/src/color.rs, term/src/input.rs

#: ``wezterm_term::TerminalSize`` (term/src/terminal.rs).
TERMINAL_SIZE = Struct(
    "TerminalSize",
    [
        ("rows", USIZE),
        ("cols", USIZE),
        ("pixel_width", USIZE),
        ("pixel_height", USIZE),
        ("dpi", U32),
    ],
)

#: ``wezterm_term::ClipboardSelection`` (term/src/terminal.rs).
CLIPBOARD_SELECTION = Enum("ClipboardSelection", ["Clipboard", "PrimarySelection"])

#: ``wezterm_term::Progress`` (term/src/terminal.rs; new in codec 44).
PROGRESS = Enum(
    "Progress",
    [
        Variant("None"),
        Variant("Percentage", U8),
        Variant("Error", U8),
        Variant("Indeterminate"),
    ],
)

#: ``wezterm_term::Alert`` (term/src/terminal.rs), codec 44.
ALERT = Enum(
    "Alert",
    [
        Variant("Bell"),
        Variant(
            "ToastNotification",
            Struct(
                "Alert::ToastNotification",
                [("title", Option(STR)), ("body", STR), ("focus", BOOL)],
            ),
        ),
        Variant("CurrentWorkingDirectoryChanged"),
        Variant("IconTitleChanged", Option(STR)),
        Variant("WindowTitleChanged", STR),
        Variant("TabTitleChanged", Option(STR)),
        Variant("PaletteChanged"),
        Variant("SetUserVar", Struct("Alert::SetUserVar", [("name", STR), ("value", STR)])),
        Variant("OutputSinceFocusLost"),
        Variant("Progress", PROGRESS),
    ],
)

#: ``wezterm_term::Alert`` at codec 42 and 43: no ``Progress`` variant (added by 44866cc13, codec 44).
ALERT_V42 = ALERT.replace(drop=["Progress"])


def _palette256_schema() -> Custom:
    """``wezterm_term::color::Palette256([SrgbaTuple; 256])``.

    Hand-written serde impl (term/src/color.rs): serialized as
    ``self.0.to_vec()``, i.e. a *Vec* (u64 count 256, then the tuples), and the
    Deserialize impl rejects any other length ("Palette256 size mismatch").
    """
    seq = Seq(SRGBA_TUPLE, name="Palette256")
    seq_dec, seq_enc = seq.decode, seq.encode

    def dec(buf: bytes, pos: int) -> tuple[list[Any], int]:
        start = pos
        value, pos = seq_dec(buf, pos)
        if len(value) != 256:
            raise PayloadError(f"Palette256 size mismatch: {len(value)} entries", start)
        return value, pos

    def enc(value: Any, out: bytearray) -> None:
        if len(value) != 256:
            raise EncodeError(f"Palette256 needs 256 entries, got {len(value)}")
        seq_enc(value, out)

    return Custom("Palette256", dec, enc, min_size=1 + 256 * SRGBA_TUPLE.min_size)


PALETTE_256 = _palette256_schema()

#: ``wezterm_term::color::ColorPalette`` (term/src/color.rs).
COLOR_PALETTE = Struct(
    "ColorPalette",
    [
        ("colors", PALETTE_256),
        ("foreground", SRGBA_TUPLE),
        ("background", SRGBA_TUPLE),
        ("cursor_fg", SRGBA_TUPLE),
        ("cursor_bg", SRGBA_TUPLE),
        ("cursor_border", SRGBA_TUPLE),
        ("selection_fg", SRGBA_TUPLE),
        ("selection_bg", SRGBA_TUPLE),
        ("scrollbar_thumb", SRGBA_TUPLE),
        ("split", SRGBA_TUPLE),
    ],
)

#: ``wezterm_input_types::Modifiers`` (re-exported by termwiz as
#: ``termwiz::input::Modifiers`` and by wezterm-term as ``KeyModifiers``):
#: a ``bitflags 1.3`` (workspace dependency) ``struct Modifiers: u16`` with
#: ``derive(Serialize)``, so serde sees a struct ``{bits: u16}``.
MODIFIERS = Struct("Modifiers", [("bits", U16)])

#: ``wezterm_term::input::MouseButton`` (term/src/input.rs).
MOUSE_BUTTON = Enum(
    "MouseButton",
    [
        Variant("Left"),
        Variant("Middle"),
        Variant("Right"),
        Variant("WheelUp", USIZE),
        Variant("WheelDown", USIZE),
        Variant("WheelLeft", USIZE),
        Variant("WheelRight", USIZE),
        Variant("None"),
    ],
)

#: ``wezterm_term::input::MouseEventKind`` (term/src/input.rs).
MOUSE_EVENT_KIND = Enum("MouseEventKind", ["Press", "Release", "Move"])

#: ``wezterm_term::input::MouseEvent`` (term/src/input.rs).
MOUSE_EVENT = Struct(
    "MouseEvent",
    [
        ("kind", MOUSE_EVENT_KIND),
        ("x", USIZE),
        ("y", VISIBLE_ROW_INDEX),
        ("x_pixel_offset", ISIZE),
        ("y_pixel_offset", ISIZE),
        ("button", MOUSE_BUTTON),
        ("modifiers", MODIFIERS),
    ],
)

# ---------------------------------------------------------------------------
# termwiz cursor enums used by mux::renderable (termwiz/src/surface/mod.rs)

#: ``termwiz::surface::CursorShape``.
CURSOR_SHAPE = Enum(
    "CursorShape",
    [
        "Default",
        "BlinkingBlock",
        "SteadyBlock",
        "BlinkingUnderline",
        "SteadyUnderline",
        "BlinkingBar",
        "SteadyBar",
    ],
)

#: ``termwiz::surface::CursorVisibility``.
CURSOR_VISIBILITY = Enum("CursorVisibility", ["Hidden", "Visible"])

# ---------------------------------------------------------------------------
# mux: mux/src/renderable.rs

#: ``mux::renderable::StableCursorPosition``.
STABLE_CURSOR_POSITION = Struct(
    "StableCursorPosition",
    [
        ("x", USIZE),
        ("y", STABLE_ROW_INDEX),
        ("shape", CURSOR_SHAPE),
        ("visibility", CURSOR_VISIBILITY),
    ],
)

#: ``mux::renderable::RenderableDimensions``.
RENDERABLE_DIMENSIONS = Struct(
    "RenderableDimensions",
    [
        ("cols", USIZE),
        ("viewport_rows", USIZE),
        ("scrollback_rows", USIZE),
        ("physical_top", STABLE_ROW_INDEX),
        ("scrollback_top", STABLE_ROW_INDEX),
        ("dpi", U32),
        ("pixel_width", USIZE),
        ("pixel_height", USIZE),
        ("reverse_video", BOOL),
    ],
)

# ---------------------------------------------------------------------------
# mux: mux/src/tab.rs

#: ``mux::tab::SerdeUrl``: ``#[serde(try_from = "String", into = "String")]``,
#: so on the wire it is just the URL string (``Url::as_str()``, i.e. the
#: normalized form). WezTerm's deserializer rejects strings ``Url::parse``
#: refuses; we keep the string as is and do not validate it.
SERDE_URL = Newtype("SerdeUrl", STR)

#: ``mux::tab::SplitDirection``.
SPLIT_DIRECTION = Enum("SplitDirection", ["Horizontal", "Vertical"])

#: ``mux::tab::SplitSize``.
SPLIT_SIZE = Enum("SplitSize", [Variant("Cells", USIZE), Variant("Percent", U8)])

#: ``mux::tab::SplitRequest``.
SPLIT_REQUEST = Struct(
    "SplitRequest",
    [
        ("direction", SPLIT_DIRECTION),
        ("target_is_second", BOOL),
        ("top_level", BOOL),
        ("size", SPLIT_SIZE),
    ],
)

#: ``mux::tab::SplitDirectionAndSize``: what ``PaneNode::Split.node`` holds.
SPLIT_DIRECTION_AND_SIZE = Struct(
    "SplitDirectionAndSize",
    [
        ("direction", SPLIT_DIRECTION),
        ("first", TERMINAL_SIZE),
        ("second", TERMINAL_SIZE),
    ],
)

#: ``mux::tab::PaneEntry``.
PANE_ENTRY = Struct(
    "PaneEntry",
    [
        ("window_id", WINDOW_ID),
        ("tab_id", TAB_ID),
        ("pane_id", PANE_ID),
        ("title", STR),
        ("size", TERMINAL_SIZE),
        ("working_dir", Option(SERDE_URL)),
        ("is_active_pane", BOOL),
        ("is_zoomed_pane", BOOL),
        ("workspace", STR),
        ("cursor_pos", STABLE_CURSOR_POSITION),
        ("physical_top", STABLE_ROW_INDEX),
        ("top_row", USIZE),
        ("left_col", USIZE),
        ("tty_name", Option(STR)),
    ],
)

#: How deeply ``PaneNode::Split`` may nest before we call the payload hostile.
#: Real trees are as deep as a tab has splits; each level costs a few Python
#: frames, so this stays far below the interpreter's recursion limit.
PANE_NODE_MAX_DEPTH = 128


class _DepthLimitedRef(Ref):
    """A :class:`Ref` that refuses to recurse more than ``max_depth`` levels."""

    def __init__(self, name: str, max_depth: int) -> None:
        super().__init__(name)
        self.max_depth = max_depth
        self._local = threading.local()

    def _make_decoder(self) -> Decoder:
        ref = self
        local = self._local
        limit = self.max_depth

        def dec(buf: bytes, pos: int) -> tuple[Any, int]:
            assert ref.target is not None, f"unresolved schema reference {ref.name}"
            depth = getattr(local, "depth", 0)
            if depth >= limit:
                raise PayloadError(f"{ref.name} nested deeper than {limit} levels", pos)
            local.depth = depth + 1
            try:
                return ref.target.decode(buf, pos)
            finally:
                local.depth = depth

        return dec


_PANE_NODE_REF = _DepthLimitedRef("PaneNode", PANE_NODE_MAX_DEPTH)

#: ``mux::tab::PaneNode`` (recursive: ``Split { left: Box<PaneNode>, right:
#: Box<PaneNode>, node: SplitDirectionAndSize }``; ``Box`` is transparent).
PANE_NODE = Enum(
    "PaneNode",
    [
        Variant("Empty"),
        Variant(
            "Split",
            Struct(
                "PaneNode::Split",
                [
                    ("left", _PANE_NODE_REF),
                    ("right", _PANE_NODE_REF),
                    ("node", SPLIT_DIRECTION_AND_SIZE),
                ],
            ),
        ),
        Variant("Leaf", PANE_ENTRY),
    ],
)
_PANE_NODE_REF.resolve(PANE_NODE)

# ---------------------------------------------------------------------------
# mux: mux/src/pane.rs

#: ``mux::pane::Pattern``.
PATTERN = Enum(
    "Pattern",
    [
        Variant("CaseSensitiveString", STR),
        Variant("CaseInSensitiveString", STR),
        Variant("Regex", STR),
    ],
)

#: ``mux::pane::SearchResult``.
SEARCH_RESULT = Struct(
    "SearchResult",
    [
        ("start_y", STABLE_ROW_INDEX),
        ("start_x", USIZE),
        ("end_y", STABLE_ROW_INDEX),
        ("end_x", USIZE),
        ("match_id", USIZE),
    ],
)

#: ``Range<StableRowIndex>`` as used by SearchScrollbackRequest / GetLines.
STABLE_ROW_RANGE = Range(STABLE_ROW_INDEX)

# ---------------------------------------------------------------------------
# mux: mux/src/client.rs

#: ``mux::client::ClientId``, codec 44.
CLIENT_ID = Struct(
    "ClientId",
    [
        ("hostname", STR),
        ("username", STR),
        ("pid", U32),
        ("epoch", U64),
        ("id", USIZE),
        ("ssh_auth_sock", Option(STR)),
    ],
)

#: ``mux::client::ClientId`` at codec 42: no ``ssh_auth_sock`` (added by 6b93ee19e, codec 43).
CLIENT_ID_V42 = CLIENT_ID.replace(drop=["ssh_auth_sock"])


def _client_info(client_id: Schema) -> Struct:
    # ``client_id: Arc<ClientId>`` (Arc is transparent); the two timestamps are
    # ``DateTime<Utc>`` with ``#[serde(with = "chrono::serde::ts_seconds")]``:
    # ``serialize_i64(dt.timestamp())``, so signed LEB128 Unix seconds, and
    # serde_json renders them as plain integers.
    return Struct(
        "ClientInfo",
        [
            ("client_id", client_id),
            ("connected_at", I64),
            ("active_workspace", Option(STR)),
            ("last_input", I64),
            ("focused_pane_id", Option(PANE_ID)),
        ],
    )


#: ``mux::client::ClientInfo``, codec 44.
CLIENT_INFO = _client_info(CLIENT_ID)
#: ``mux::client::ClientInfo`` at codec 42 (its ClientId lacks ``ssh_auth_sock``).
CLIENT_INFO_V42 = _client_info(CLIENT_ID_V42)

# ---------------------------------------------------------------------------
# config: config/src/keyassignment.rs

#: ``config::keyassignment::SpawnTabDomain``.
SPAWN_TAB_DOMAIN = Enum(
    "SpawnTabDomain",
    [
        Variant("DefaultDomain"),
        Variant("CurrentPaneDomain"),
        Variant("DomainName", STR),
        Variant("DomainId", USIZE),
    ],
)

#: ``config::keyassignment::PaneDirection``.
PANE_DIRECTION = Enum("PaneDirection", ["Up", "Down", "Left", "Right", "Next", "Prev"])

#: ``config::keyassignment::ScrollbackEraseMode``.
SCROLLBACK_ERASE_MODE = Enum("ScrollbackEraseMode", ["ScrollbackOnly", "ScrollbackAndViewport"])

# ---------------------------------------------------------------------------
# portable-pty: pty/src/cmdbuilder.rs


class UnixOsString(str):
    """An ``OsString`` that arrived as ``OsString::Unix(Vec<u8>)``.

    A ``str`` for everything that reads text (bytes that are not UTF-8 are kept
    as ``surrogateescape`` code points, so it re-encodes byte-exact), and
    rendered for JSON as serde renders it on Unix: ``{"Unix": [bytes]}``, which
    is valid UTF-8 JSON whatever the bytes are.
    """

    __slots__ = ()

    def raw(self) -> bytes:
        return self.encode("utf-8", "surrogateescape")

    def serde_json(self) -> dict[str, list[int]]:
        return {"Unix": list(self.raw())}

    def __repr__(self) -> str:
        return f"UnixOsString({str.__repr__(self)})"


class WindowsOsString(str):
    """An ``OsString`` that arrived as ``OsString::Windows(Vec<u16>)``.

    The UTF-16 code units are decoded with ``surrogatepass`` (lossless: lone
    surrogates survive as lone surrogate code points), and the value
    re-encodes as variant 1, byte-exact. Rendered for JSON as serde renders it
    on Windows: ``{"Windows": [u16 units]}``.
    """

    __slots__ = ()

    def units(self) -> list[int]:
        data = self.encode("utf-16-le", "surrogatepass")
        return list(_struct.unpack(f"<{len(data) // 2}H", data))

    def serde_json(self) -> dict[str, list[int]]:
        return {"Windows": self.units()}

    def __repr__(self) -> str:
        return f"WindowsOsString({str.__repr__(self)})"


def _os_string_decode(buf: bytes, pos: int) -> tuple[str, int]:
    start = pos
    tag, pos = decode_unsigned(buf, pos)
    n, pos = decode_unsigned(buf, pos)
    if n > len(buf) - pos:
        raise PayloadError(f"OsString length {n} exceeds the {len(buf) - pos} bytes left", pos)
    if tag == 0:
        end = pos + n
        return UnixOsString(buf[pos:end].decode("utf-8", "surrogateescape")), end
    if tag == 1:
        units = []
        u16_dec = U16.decode
        for _ in range(n):
            u, pos = u16_dec(buf, pos)
            units.append(u)
        data = _struct.pack(f"<{n}H", *units)
        return WindowsOsString(data.decode("utf-16-le", "surrogatepass")), pos
    raise PayloadError(f"unknown OsString variant index {tag} (known: 0..1)", start)


def _os_string_encode_windows(units: Any, out: bytearray) -> None:
    out.append(1)
    out += encode_unsigned(len(units))
    u16_enc = U16.encode
    for u in units:
        u16_enc(u, out)


def _os_string_encode(value: Any, out: bytearray) -> None:
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, payload),) = value.items()
        if kind == "Unix":
            value = bytes(payload)
        elif kind == "Windows":
            _os_string_encode_windows(payload, out)
            return
        else:
            raise EncodeError(f"OsString has no variant {kind!r}")
    if isinstance(value, WindowsOsString):
        _os_string_encode_windows(value.units(), out)
        return
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise EncodeError(f"not an OsString: {value!r}")
    out.append(0)
    out += encode_unsigned(len(data))
    out += data


#: ``std::ffi::OsString`` as serde serializes it.
#:
#: serde's impl is ``serialize_newtype_variant("OsString", 0, "Unix", as_bytes())`` on unix and
#: ``(.., 1, "Windows", encode_wide().collect::<Vec<u16>>())`` on Windows: the wire form of
#: ``enum OsString { Unix(Vec<u8>), Windows(Vec<u16>) }``. ``&[u8]`` goes through ``Serialize for
#: [T]`` (a seq of u8), which in varbincode is the same bytes as a byte string: u64 length + raw
#: bytes.
#:
#: Decodes ``Unix`` to a :class:`UnixOsString` (a ``str``: UTF-8 with ``surrogateescape``, so any
#: bytes round-trip) and ``Windows`` to a :class:`WindowsOsString`; both render for JSON as serde does. Encodes a plain ``str`` (or ``bytes``) as ``Unix``
#: and a :class:`WindowsOsString` as ``Windows``; the serde_json shapes ``{"Unix": [..]}`` /
#: ``{"Windows": [..]}`` are accepted too. A Unix receiver (WezTerm's ``OsString`` Deserialize on
#: unix) rejects the ``Windows`` variant and vice versa; we decode both.
OS_STRING = Custom("OsString", _os_string_decode, _os_string_encode, min_size=2)

#: ``portable_pty::cmdbuilder::EnvEntry`` (private struct, serde derived).
ENV_ENTRY = Struct(
    "EnvEntry",
    [
        ("is_from_base_env", BOOL),
        ("preferred_key", OS_STRING),
        ("value", OS_STRING),
    ],
)

#: ``portable_pty::CommandBuilder`` as built on unix (pty/src/cmdbuilder.rs).
#:
#: ``envs`` is a ``BTreeMap<OsString, EnvEntry>``: entries in key order
#: (``OsString`` orders by its bytes); decoded to a dict in wire order.
#: ``umask: Option<libc::mode_t>`` exists only under ``#[cfg(unix)]``:
#: ``mode_t`` is u32 on Linux (u16 on macOS, same LEB128 bytes for any value
#: that fits). A Windows build of WezTerm omits the field altogether, so its
#: CommandBuilder is *not* wire-compatible with a unix peer's; see
#: :data:`COMMAND_BUILDER_WINDOWS`.
COMMAND_BUILDER = Struct(
    "CommandBuilder",
    [
        ("args", Seq(OS_STRING, name="Vec<OsString>")),
        ("envs", Map(OS_STRING, ENV_ENTRY, name="BTreeMap<OsString, EnvEntry>")),
        ("cwd", Option(OS_STRING)),
        ("umask", Option(U32)),
        ("controlling_tty", BOOL),
    ],
)

#: ``portable_pty::CommandBuilder`` as a Windows build serializes it (no ``umask``).
COMMAND_BUILDER_WINDOWS = COMMAND_BUILDER.replace(drop=["umask"], name="CommandBuilder(windows)")

__all__ = [
    "ALERT",
    "ALERT_V42",
    "CLIENT_ID",
    "CLIENT_ID_V42",
    "CLIENT_INFO",
    "CLIENT_INFO_V42",
    "CLIPBOARD_SELECTION",
    "COLOR_PALETTE",
    "COMMAND_BUILDER",
    "COMMAND_BUILDER_WINDOWS",
    "CURSOR_SHAPE",
    "CURSOR_VISIBILITY",
    "ENV_ENTRY",
    "MODIFIERS",
    "MOUSE_BUTTON",
    "MOUSE_EVENT",
    "MOUSE_EVENT_KIND",
    "OS_STRING",
    "PALETTE_256",
    "PANE_DIRECTION",
    "PANE_ENTRY",
    "PANE_ID",
    "PANE_NODE",
    "PANE_NODE_MAX_DEPTH",
    "PATTERN",
    "PROGRESS",
    "RENDERABLE_DIMENSIONS",
    "SCROLLBACK_ERASE_MODE",
    "SEARCH_RESULT",
    "SERDE_URL",
    "SPAWN_TAB_DOMAIN",
    "SPLIT_DIRECTION",
    "SPLIT_DIRECTION_AND_SIZE",
    "SPLIT_REQUEST",
    "SPLIT_SIZE",
    "STABLE_CURSOR_POSITION",
    "STABLE_ROW_INDEX",
    "STABLE_ROW_RANGE",
    "TAB_ID",
    "TERMINAL_SIZE",
    "VISIBLE_ROW_INDEX",
    "WINDOW_ID",
    "UnixOsString",
    "WindowsOsString",
]
