"""The PDU structs of WezTerm's ``codec/src/lib.rs`` at codec version 44, and the ident table.

Each constant mirrors one ``#[derive(Deserialize, Serialize)] pub struct`` of
that file, field for field and in order. ``versions.py`` derives the other
codec versions from this one by naming only what changed.
"""

from __future__ import annotations

from codec.schema import mux, termwiz
from codec.wire.varbincode import (
    BOOL,
    BYTES,
    ISIZE,
    PATH,
    STR,
    U8,
    U32,
    U64,
    USIZE,
    Array,
    Map,
    Option,
    Range,
    Schema,
    Seq,
    Struct,
    UnitStruct,
)

# Type aliases of the Rust source, kept so the structs below read like it.
PANE_ID = USIZE  # mux::pane::PaneId = usize
TAB_ID = USIZE  # mux::tab::TabId = usize
WINDOW_ID = USIZE  # mux::window::WindowId = usize
STABLE_ROW = ISIZE  # wezterm_term::StableRowIndex = isize: signed LEB128
SEQUENCE_NO = USIZE  # termwiz::surface::SequenceNo = usize
INPUT_SERIAL = U64  # codec::InputSerial(u64): a newtype, serialized as its u64

ERROR_RESPONSE = Struct("ErrorResponse", [("reason", STR)])
PING = Struct("Ping")
PONG = Struct("Pong")
LIST_PANES = Struct("ListPanes")
LIST_PANES_RESPONSE = Struct(
    "ListPanesResponse",
    [
        ("tabs", Seq(mux.PANE_NODE)),
        ("tab_titles", Seq(STR)),
        ("window_titles", Map(WINDOW_ID, STR)),
    ],
)
SPAWN_RESPONSE = Struct(
    "SpawnResponse",
    [("tab_id", TAB_ID), ("pane_id", PANE_ID), ("window_id", WINDOW_ID), ("size", mux.TERMINAL_SIZE)],
)
WRITE_TO_PANE = Struct("WriteToPane", [("pane_id", PANE_ID), ("data", BYTES)])
UNIT_RESPONSE = Struct("UnitResponse")
SEND_KEY_DOWN = Struct(
    "SendKeyDown",
    [("pane_id", TAB_ID), ("event", termwiz.KEY_EVENT), ("input_serial", INPUT_SERIAL)],
)
SEND_MOUSE_EVENT = Struct("SendMouseEvent", [("pane_id", PANE_ID), ("event", mux.MOUSE_EVENT)])
SEND_PASTE = Struct("SendPaste", [("pane_id", PANE_ID), ("data", STR)])
RESIZE = Struct(
    "Resize",
    [("containing_tab_id", TAB_ID), ("pane_id", PANE_ID), ("size", mux.TERMINAL_SIZE)],
)
SET_CLIPBOARD = Struct(
    "SetClipboard",
    [("pane_id", PANE_ID), ("clipboard", Option(STR)), ("selection", mux.CLIPBOARD_SELECTION)],
)
GET_LINES = Struct("GetLines", [("pane_id", PANE_ID), ("lines", Seq(Range(STABLE_ROW)))])
GET_LINES_RESPONSE = Struct(
    "GetLinesResponse", [("pane_id", PANE_ID), ("lines", termwiz.SERIALIZED_LINES)]
)
GET_PANE_RENDER_CHANGES = Struct("GetPaneRenderChanges", [("pane_id", PANE_ID)])
GET_PANE_RENDER_CHANGES_RESPONSE = Struct(
    "GetPaneRenderChangesResponse",
    [
        ("pane_id", PANE_ID),
        ("mouse_grabbed", BOOL),
        ("cursor_position", mux.STABLE_CURSOR_POSITION),
        ("dimensions", mux.RENDERABLE_DIMENSIONS),
        ("dirty_lines", Seq(Range(STABLE_ROW))),
        ("title", STR),
        ("working_dir", Option(mux.SERDE_URL)),
        ("bonus_lines", termwiz.SERIALIZED_LINES),
        ("input_serial", Option(INPUT_SERIAL)),
        ("seqno", SEQUENCE_NO),
    ],
)
GET_CODEC_VERSION = Struct("GetCodecVersion")
GET_CODEC_VERSION_RESPONSE = Struct(
    "GetCodecVersionResponse",
    [
        ("codec_vers", USIZE),
        ("version_string", STR),
        ("executable_path", PATH),
        ("config_file_path", Option(PATH)),
    ],
)
GET_TLS_CREDS = Struct("GetTlsCreds")
GET_TLS_CREDS_RESPONSE = Struct(
    "GetTlsCredsResponse", [("ca_cert_pem", STR), ("client_cert_pem", STR)]
)
LIVENESS_RESPONSE = Struct("LivenessResponse", [("pane_id", PANE_ID), ("is_alive", BOOL)])
SEARCH_SCROLLBACK_REQUEST = Struct(
    "SearchScrollbackRequest",
    [
        ("pane_id", PANE_ID),
        ("pattern", mux.PATTERN),
        ("range", Range(STABLE_ROW)),
        ("limit", Option(U32)),
    ],
)
SEARCH_SCROLLBACK_RESPONSE = Struct("SearchScrollbackResponse", [("results", Seq(mux.SEARCH_RESULT))])
SET_PANE_ZOOMED = Struct(
    "SetPaneZoomed", [("containing_tab_id", TAB_ID), ("pane_id", PANE_ID), ("zoomed", BOOL)]
)
SPLIT_PANE = Struct(
    "SplitPane",
    [
        ("pane_id", PANE_ID),
        ("split_request", mux.SPLIT_REQUEST),
        ("command", Option(mux.COMMAND_BUILDER)),
        ("command_dir", Option(STR)),
        ("domain", mux.SPAWN_TAB_DOMAIN),
        ("move_pane_id", Option(PANE_ID)),
    ],
)
KILL_PANE = Struct("KillPane", [("pane_id", PANE_ID)])
SPAWN_V2 = Struct(
    "SpawnV2",
    [
        ("domain", mux.SPAWN_TAB_DOMAIN),
        ("window_id", Option(WINDOW_ID)),
        ("command", Option(mux.COMMAND_BUILDER)),
        ("command_dir", Option(STR)),
        ("size", mux.TERMINAL_SIZE),
        ("workspace", STR),
    ],
)
PANE_REMOVED = Struct("PaneRemoved", [("pane_id", PANE_ID)])
SET_PALETTE = Struct("SetPalette", [("pane_id", PANE_ID), ("palette", mux.COLOR_PALETTE)])
NOTIFY_ALERT = Struct("NotifyAlert", [("pane_id", PANE_ID), ("alert", mux.ALERT)])
SET_CLIENT_ID = Struct("SetClientId", [("client_id", mux.CLIENT_ID), ("is_proxy", BOOL)])
GET_CLIENT_LIST = UnitStruct("GetClientList")
GET_CLIENT_LIST_RESPONSE = Struct("GetClientListResponse", [("clients", Seq(mux.CLIENT_INFO))])
SET_WINDOW_WORKSPACE = Struct("SetWindowWorkspace", [("window_id", WINDOW_ID), ("workspace", STR)])
WINDOW_WORKSPACE_CHANGED = Struct(
    "WindowWorkspaceChanged", [("window_id", WINDOW_ID), ("workspace", STR)]
)
SET_FOCUSED_PANE = Struct("SetFocusedPane", [("pane_id", PANE_ID)])
GET_IMAGE_CELL = Struct(
    "GetImageCell",
    [
        ("pane_id", PANE_ID),
        ("line_idx", STABLE_ROW),
        ("cell_idx", USIZE),
        ("data_hash", Array(U8, 32)),
    ],
)
GET_IMAGE_CELL_RESPONSE = Struct(
    "GetImageCellResponse", [("pane_id", PANE_ID), ("data", Option(termwiz.IMAGE_DATA))]
)
MOVE_PANE_TO_NEW_TAB = Struct(
    "MovePaneToNewTab",
    [
        ("pane_id", PANE_ID),
        ("window_id", Option(WINDOW_ID)),
        ("workspace_for_new_window", Option(STR)),
    ],
)
MOVE_PANE_TO_NEW_TAB_RESPONSE = Struct(
    "MovePaneToNewTabResponse", [("tab_id", TAB_ID), ("window_id", WINDOW_ID)]
)
ACTIVATE_PANE_DIRECTION = Struct(
    "ActivatePaneDirection", [("pane_id", PANE_ID), ("direction", mux.PANE_DIRECTION)]
)
GET_PANE_RENDERABLE_DIMENSIONS = Struct("GetPaneRenderableDimensions", [("pane_id", PANE_ID)])
GET_PANE_RENDERABLE_DIMENSIONS_RESPONSE = Struct(
    "GetPaneRenderableDimensionsResponse",
    [
        ("pane_id", PANE_ID),
        ("cursor_position", mux.STABLE_CURSOR_POSITION),
        ("dimensions", mux.RENDERABLE_DIMENSIONS),
    ],
)
PANE_FOCUSED = Struct("PaneFocused", [("pane_id", PANE_ID)])
TAB_RESIZED = Struct("TabResized", [("tab_id", TAB_ID)])
TAB_ADDED_TO_WINDOW = Struct("TabAddedToWindow", [("tab_id", TAB_ID), ("window_id", WINDOW_ID)])
TAB_TITLE_CHANGED = Struct("TabTitleChanged", [("tab_id", TAB_ID), ("title", STR)])
WINDOW_TITLE_CHANGED = Struct("WindowTitleChanged", [("window_id", WINDOW_ID), ("title", STR)])
RENAME_WORKSPACE = Struct("RenameWorkspace", [("old_workspace", STR), ("new_workspace", STR)])
ERASE_SCROLLBACK_REQUEST = Struct(
    "EraseScrollbackRequest", [("pane_id", PANE_ID), ("erase_mode", mux.SCROLLBACK_ERASE_MODE)]
)
GET_PANE_DIRECTION = Struct(
    "GetPaneDirection", [("pane_id", PANE_ID), ("direction", mux.PANE_DIRECTION)]
)
GET_PANE_DIRECTION_RESPONSE = Struct("GetPaneDirectionResponse", [("pane_id", Option(PANE_ID))])
ADJUST_PANE_SIZE = Struct(
    "AdjustPaneSize",
    [("pane_id", PANE_ID), ("direction", mux.PANE_DIRECTION), ("amount", USIZE)],
)

#: The ``pdu!`` table of codec/src/lib.rs (codec version 44): ident -> schema.
#: The schema's name is the PDU's name.
PDU_TABLE_V44: dict[int, Schema] = {
    0: ERROR_RESPONSE,
    1: PING,
    2: PONG,
    3: LIST_PANES,
    4: LIST_PANES_RESPONSE,
    8: SPAWN_RESPONSE,
    9: WRITE_TO_PANE,
    10: UNIT_RESPONSE,
    11: SEND_KEY_DOWN,
    12: SEND_MOUSE_EVENT,
    13: SEND_PASTE,
    14: RESIZE,
    20: SET_CLIPBOARD,
    22: GET_LINES,
    23: GET_LINES_RESPONSE,
    24: GET_PANE_RENDER_CHANGES,
    25: GET_PANE_RENDER_CHANGES_RESPONSE,
    26: GET_CODEC_VERSION,
    27: GET_CODEC_VERSION_RESPONSE,
    28: GET_TLS_CREDS,
    29: GET_TLS_CREDS_RESPONSE,
    30: LIVENESS_RESPONSE,
    31: SEARCH_SCROLLBACK_REQUEST,
    32: SEARCH_SCROLLBACK_RESPONSE,
    33: SET_PANE_ZOOMED,
    34: SPLIT_PANE,
    35: KILL_PANE,
    36: SPAWN_V2,
    37: PANE_REMOVED,
    38: SET_PALETTE,
    39: NOTIFY_ALERT,
    40: SET_CLIENT_ID,
    41: GET_CLIENT_LIST,
    42: GET_CLIENT_LIST_RESPONSE,
    43: SET_WINDOW_WORKSPACE,
    44: WINDOW_WORKSPACE_CHANGED,
    45: SET_FOCUSED_PANE,
    46: GET_IMAGE_CELL,
    47: GET_IMAGE_CELL_RESPONSE,
    48: MOVE_PANE_TO_NEW_TAB,
    49: MOVE_PANE_TO_NEW_TAB_RESPONSE,
    50: ACTIVATE_PANE_DIRECTION,
    51: GET_PANE_RENDERABLE_DIMENSIONS,
    52: GET_PANE_RENDERABLE_DIMENSIONS_RESPONSE,
    53: PANE_FOCUSED,
    54: TAB_RESIZED,
    55: TAB_ADDED_TO_WINDOW,
    56: TAB_TITLE_CHANGED,
    57: WINDOW_TITLE_CHANGED,
    58: RENAME_WORKSPACE,
    59: ERASE_SCROLLBACK_REQUEST,
    60: GET_PANE_DIRECTION,
    61: GET_PANE_DIRECTION_RESPONSE,
    62: ADJUST_PANE_SIZE,
}
