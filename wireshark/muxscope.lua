-- muxscope.lua: a Wireshark dissector for WezTerm's multiplexer ("mux") protocol.
--
-- Part of muxscope. Install: copy this file into Wireshark's personal Lua plugins folder
-- (Help > About Wireshark > Folders > "Personal Lua Plugins", usually ~/.local/lib/wireshark/plugins/),
-- or load it for one run: tshark -X lua_script:wireshark/muxscope.lua -r capture.pcapng
-- See wireshark/README.md.
--
-- The wire format (WezTerm codec/src/lib.rs, muxscope's codec/wire/framing.py): every frame is
--   leb128(len | bit 63 when compressed)  leb128(serial)  leb128(ident)  payload
-- where len counts serial, ident and payload, and a compressed payload is one zstd stream. Payloads
-- are varbincode; the schema of every PDU of every codec version muxscope supports is generated
-- below from muxscope's own schema (codec/schema), so the two cannot drift apart (a test checks it).
--
-- The frame layer mirrors muxscope's FrameDecoder: a header whose varints overflow, whose sizes do
-- not add up, or whose length is over the limit is garbage; the dissector reports it and skips
-- ahead to the next plausible header (a known ident, sane sizes, and the zstd magic after the
-- header of a frame flagged compressed), as `muxscope decode` does.
--
-- Built by wireshark/build.py from wireshark/src/*.lua and codec/schema: edit those and rebuild.

-- BEGIN GENERATED SCHEMA (wireshark/build.py from codec/schema)
local N = {}
N[1] = {k="struct", name="ErrorResponse", fields={{"reason", 2}}}
N[2] = {k="prim", t="String"}
N[3] = {k="struct", name="Ping", fields={}}
N[4] = {k="struct", name="Pong", fields={}}
N[5] = {k="struct", name="ListPanes", fields={}}
N[6] = {k="struct", name="ListPanesResponse", fields={{"tabs", 7}, {"tab_titles", 24}, {"window_titles", 25}}}
N[7] = {k="seq", name="Vec<PaneNode>", item=8}
N[8] = {k="enum", name="PaneNode", variants={{"Empty", nil}, {"Split", 9}, {"Leaf", 15}}}
N[9] = {k="struct", name="PaneNode::Split", fields={{"left", 8}, {"right", 8}, {"node", 10}}}
N[10] = {k="struct", name="SplitDirectionAndSize", fields={{"direction", 11}, {"first", 12}, {"second", 12}}}
N[11] = {k="enum", name="SplitDirection", variants={{"Horizontal", nil}, {"Vertical", nil}}}
N[12] = {k="struct", name="TerminalSize", fields={{"rows", 13}, {"cols", 13}, {"pixel_width", 13}, {"pixel_height", 13}, {"dpi", 14}}}
N[13] = {k="prim", t="usize"}
N[14] = {k="prim", t="u32"}
N[15] = {k="struct", name="PaneEntry", fields={{"window_id", 13}, {"tab_id", 13}, {"pane_id", 13}, {"title", 2}, {"size", 12}, {"working_dir", 16}, {"is_active_pane", 18}, {"is_zoomed_pane", 18}, {"workspace", 2}, {"cursor_pos", 19}, {"physical_top", 20}, {"top_row", 13}, {"left_col", 13}, {"tty_name", 23}}}
N[16] = {k="option", name="Option<SerdeUrl>", inner=17}
N[17] = {k="newtype", name="SerdeUrl", inner=2}
N[18] = {k="prim", t="bool"}
N[19] = {k="struct", name="StableCursorPosition", fields={{"x", 13}, {"y", 20}, {"shape", 21}, {"visibility", 22}}}
N[20] = {k="prim", t="isize"}
N[21] = {k="enum", name="CursorShape", variants={{"Default", nil}, {"BlinkingBlock", nil}, {"SteadyBlock", nil}, {"BlinkingUnderline", nil}, {"SteadyUnderline", nil}, {"BlinkingBar", nil}, {"SteadyBar", nil}}}
N[22] = {k="enum", name="CursorVisibility", variants={{"Hidden", nil}, {"Visible", nil}}}
N[23] = {k="option", name="Option<String>", inner=2}
N[24] = {k="seq", name="Vec<String>", item=2}
N[25] = {k="map", name="HashMap<usize, String>", key=13, val=2}
N[26] = {k="struct", name="SpawnResponse", fields={{"tab_id", 13}, {"pane_id", 13}, {"window_id", 13}, {"size", 12}}}
N[27] = {k="struct", name="WriteToPane", fields={{"pane_id", 13}, {"data", 28}}}
N[28] = {k="prim", t="Vec<u8>"}
N[29] = {k="struct", name="UnitResponse", fields={}}
N[30] = {k="struct", name="SendKeyDown", fields={{"pane_id", 13}, {"event", 31}, {"input_serial", 37}}}
N[31] = {k="struct", name="KeyEvent", fields={{"key", 32}, {"modifiers", 35}}}
N[32] = {k="enum", name="KeyCode", variants={{"Char", 33}, {"Hyper", nil}, {"Super", nil}, {"Meta", nil}, {"Cancel", nil}, {"Backspace", nil}, {"Tab", nil}, {"Clear", nil}, {"Enter", nil}, {"Shift", nil}, {"Escape", nil}, {"LeftShift", nil}, {"RightShift", nil}, {"Control", nil}, {"LeftControl", nil}, {"RightControl", nil}, {"Alt", nil}, {"LeftAlt", nil}, {"RightAlt", nil}, {"Menu", nil}, {"LeftMenu", nil}, {"RightMenu", nil}, {"Pause", nil}, {"CapsLock", nil}, {"PageUp", nil}, {"PageDown", nil}, {"End", nil}, {"Home", nil}, {"LeftArrow", nil}, {"RightArrow", nil}, {"UpArrow", nil}, {"DownArrow", nil}, {"Select", nil}, {"Print", nil}, {"Execute", nil}, {"PrintScreen", nil}, {"Insert", nil}, {"Delete", nil}, {"Help", nil}, {"LeftWindows", nil}, {"RightWindows", nil}, {"Applications", nil}, {"Sleep", nil}, {"Numpad0", nil}, {"Numpad1", nil}, {"Numpad2", nil}, {"Numpad3", nil}, {"Numpad4", nil}, {"Numpad5", nil}, {"Numpad6", nil}, {"Numpad7", nil}, {"Numpad8", nil}, {"Numpad9", nil}, {"Multiply", nil}, {"Add", nil}, {"Separator", nil}, {"Subtract", nil}, {"Decimal", nil}, {"Divide", nil}, {"Function", 34}, {"NumLock", nil}, {"ScrollLock", nil}, {"Copy", nil}, {"Cut", nil}, {"Paste", nil}, {"BrowserBack", nil}, {"BrowserForward", nil}, {"BrowserRefresh", nil}, {"BrowserStop", nil}, {"BrowserSearch", nil}, {"BrowserFavorites", nil}, {"BrowserHome", nil}, {"VolumeMute", nil}, {"VolumeDown", nil}, {"VolumeUp", nil}, {"MediaNextTrack", nil}, {"MediaPrevTrack", nil}, {"MediaStop", nil}, {"MediaPlayPause", nil}, {"ApplicationLeftArrow", nil}, {"ApplicationRightArrow", nil}, {"ApplicationUpArrow", nil}, {"ApplicationDownArrow", nil}, {"KeyPadHome", nil}, {"KeyPadEnd", nil}, {"KeyPadPageUp", nil}, {"KeyPadPageDown", nil}, {"KeyPadBegin", nil}, {"InternalPasteStart", nil}, {"InternalPasteEnd", nil}}}
N[33] = {k="prim", t="char"}
N[34] = {k="prim", t="u8"}
N[35] = {k="struct", name="Modifiers", fields={{"bits", 36}}}
N[36] = {k="prim", t="u16"}
N[37] = {k="prim", t="u64"}
N[38] = {k="struct", name="SendMouseEvent", fields={{"pane_id", 13}, {"event", 39}}}
N[39] = {k="struct", name="MouseEvent", fields={{"kind", 40}, {"x", 13}, {"y", 41}, {"x_pixel_offset", 20}, {"y_pixel_offset", 20}, {"button", 42}, {"modifiers", 43}}}
N[40] = {k="enum", name="MouseEventKind", variants={{"Press", nil}, {"Release", nil}, {"Move", nil}}}
N[41] = {k="prim", t="i64"}
N[42] = {k="enum", name="MouseButton", variants={{"Left", nil}, {"Middle", nil}, {"Right", nil}, {"WheelUp", 13}, {"WheelDown", 13}, {"WheelLeft", 13}, {"WheelRight", 13}, {"None", nil}}}
N[43] = {k="struct", name="Modifiers", fields={{"bits", 36}}}
N[44] = {k="struct", name="SendPaste", fields={{"pane_id", 13}, {"data", 2}}}
N[45] = {k="struct", name="Resize", fields={{"containing_tab_id", 13}, {"pane_id", 13}, {"size", 12}}}
N[46] = {k="struct", name="SetClipboard", fields={{"pane_id", 13}, {"clipboard", 47}, {"selection", 48}}}
N[47] = {k="option", name="Option<String>", inner=2}
N[48] = {k="enum", name="ClipboardSelection", variants={{"Clipboard", nil}, {"PrimarySelection", nil}}}
N[49] = {k="struct", name="GetLines", fields={{"pane_id", 13}, {"lines", 50}}}
N[50] = {k="seq", name="Vec<Range<isize>>", item=51}
N[51] = {k="struct", name="Range<isize>", fields={{"start", 20}, {"end", 20}}}
N[52] = {k="struct", name="GetLinesResponse", fields={{"pane_id", 13}, {"lines", 53}}}
N[53] = {k="struct", name="SerializedLines", fields={{"lines", 54}, {"hyperlinks", 97}, {"images", 102}}}
N[54] = {k="seq", name="Vec<(isize, Line)>", item=55}
N[55] = {k="tuple", name="(isize, Line)", items={20, 56}}
N[56] = {k="struct", name="Line", fields={{"cells", 57}, {"zones", 92}, {"seqno", 13}, {"bits", 96}}}
N[57] = {k="enum", name="CellStorage", variants={{"V", 58}, {"C", 87}}}
N[58] = {k="struct", name="VecStorage", fields={{"cells", 59}}}
N[59] = {k="seq", name="Vec<Cell>", item=60}
N[60] = {k="struct", name="Cell", fields={{"text", 2}, {"attrs", 61}}}
N[61] = {k="struct", name="CellAttributes", fields={{"attributes", 14}, {"foreground", 62}, {"background", 62}, {"fat", 63}}}
N[62] = {k="enum", name="SmallColor", variants={{"Default", nil}, {"PaletteIndex", 34}}}
N[63] = {k="option", name="Option<FatAttributes>", inner=64}
N[64] = {k="struct", name="FatAttributes", fields={{"hyperlink", 65}, {"image", 68}, {"underline_color", 84}, {"foreground", 84}, {"background", 84}}}
N[65] = {k="option", name="Option<Hyperlink>", inner=66}
N[66] = {k="struct", name="Hyperlink", fields={{"params", 67}, {"uri", 2}, {"implicit", 18}}}
N[67] = {k="map", name="HashMap<String, String>", key=2, val=2}
N[68] = {k="seq", name="Vec<ImageCell>", item=69}
N[69] = {k="struct", name="ImageCell", fields={{"top_left", 70}, {"bottom_right", 70}, {"data", 72}, {"z_index", 81}, {"padding_left", 36}, {"padding_top", 36}, {"padding_right", 36}, {"padding_bottom", 36}, {"image_id", 82}, {"placement_id", 83}}}
N[70] = {k="struct", name="TextureCoordinate", fields={{"x", 71}, {"y", 71}}}
N[71] = {k="prim", t="f32"}
N[72] = {k="struct", name="ImageData", fields={{"data", 73}, {"hash", 75}}}
N[73] = {k="enum", name="ImageDataType", variants={{"EncodedFile", 28}, {"EncodedLease", 28}, {"Rgba8", 74}, {"AnimRgba8", 76}}}
N[74] = {k="struct", name="Rgba8", fields={{"data", 28}, {"width", 14}, {"height", 14}, {"hash", 75}}}
N[75] = {k="array", name="[u8; 32]", item=34, n=32}
N[76] = {k="struct", name="AnimRgba8", fields={{"width", 14}, {"height", 14}, {"durations", 77}, {"frames", 79}, {"hashes", 80}}}
N[77] = {k="seq", name="Vec<Duration>", item=78}
N[78] = {k="struct", name="Duration", fields={{"secs", 37}, {"nanos", 14}}}
N[79] = {k="seq", name="Vec<Vec<u8>>", item=28}
N[80] = {k="seq", name="Vec<[u8; 32]>", item=75}
N[81] = {k="prim", t="i32"}
N[82] = {k="option", name="Option<u32>", inner=14}
N[83] = {k="option", name="Option<u32>", inner=14}
N[84] = {k="enum", name="ColorAttribute", variants={{"TrueColorWithPaletteFallback", 85}, {"TrueColorWithDefaultFallback", 86}, {"PaletteIndex", 34}, {"Default", nil}}}
N[85] = {k="tuple", name="(SrgbaTuple, u8)", items={86, 34}}
N[86] = {k="tuple", name="SrgbaTuple", items={71, 71, 71, 71}}
N[87] = {k="struct", name="ClusteredLine", fields={{"text", 2}, {"is_double_wide", 88}, {"clusters", 89}, {"len", 36}, {"last_cell_width", 91}}}
N[88] = {k="seq", name="Vec<usize>", item=13}
N[89] = {k="seq", name="Vec<Cluster>", item=90}
N[90] = {k="struct", name="Cluster", fields={{"cell_width", 36}, {"attrs", 61}}}
N[91] = {k="option", name="Option<u8>", inner=34}
N[92] = {k="seq", name="Vec<ZoneRange>", item=93}
N[93] = {k="struct", name="ZoneRange", fields={{"semantic_type", 94}, {"range", 95}}}
N[94] = {k="enum", name="SemanticType", variants={{"Output", nil}, {"Input", nil}, {"Prompt", nil}}}
N[95] = {k="struct", name="Range<u16>", fields={{"start", 36}, {"end", 36}}}
N[96] = {k="flags", name="LineBits", inner=36, names={{0, "NONE"}, {2, "HAS_HYPERLINK"}, {4, "SCANNED_IMPLICIT_HYPERLINKS"}, {8, "HAS_IMPLICIT_HYPERLINKS"}, {16, "DOUBLE_WIDTH"}, {32, "DOUBLE_HEIGHT_TOP"}, {64, "DOUBLE_HEIGHT_BOTTOM"}, {112, "DOUBLE_WIDTH_HEIGHT_MASK"}, {1, "BIDI_ENABLED"}, {128, "RTL"}, {256, "AUTO_DETECT_DIRECTION"}}}
N[97] = {k="seq", name="Vec<LineHyperlink>", item=98}
N[98] = {k="struct", name="LineHyperlink", fields={{"link", 66}, {"coords", 99}}}
N[99] = {k="seq", name="Vec<CellCoordinates>", item=100}
N[100] = {k="struct", name="CellCoordinates", fields={{"line_idx", 13}, {"cols", 101}}}
N[101] = {k="struct", name="Range<usize>", fields={{"start", 13}, {"end", 13}}}
N[102] = {k="seq", name="Vec<SerializedImageCell>", item=103}
N[103] = {k="struct", name="SerializedImageCell", fields={{"line_idx", 20}, {"cell_idx", 13}, {"top_left", 70}, {"bottom_right", 70}, {"data_hash", 75}, {"z_index", 81}, {"padding_left", 36}, {"padding_top", 36}, {"padding_right", 36}, {"padding_bottom", 36}, {"image_id", 104}, {"placement_id", 105}}}
N[104] = {k="option", name="Option<u32>", inner=14}
N[105] = {k="option", name="Option<u32>", inner=14}
N[106] = {k="struct", name="GetPaneRenderChanges", fields={{"pane_id", 13}}}
N[107] = {k="struct", name="GetPaneRenderChangesResponse", fields={{"pane_id", 13}, {"mouse_grabbed", 18}, {"cursor_position", 19}, {"dimensions", 108}, {"dirty_lines", 109}, {"title", 2}, {"working_dir", 111}, {"bonus_lines", 53}, {"input_serial", 112}, {"seqno", 13}}}
N[108] = {k="struct", name="RenderableDimensions", fields={{"cols", 13}, {"viewport_rows", 13}, {"scrollback_rows", 13}, {"physical_top", 20}, {"scrollback_top", 20}, {"dpi", 14}, {"pixel_width", 13}, {"pixel_height", 13}, {"reverse_video", 18}}}
N[109] = {k="seq", name="Vec<Range<isize>>", item=110}
N[110] = {k="struct", name="Range<isize>", fields={{"start", 20}, {"end", 20}}}
N[111] = {k="option", name="Option<SerdeUrl>", inner=17}
N[112] = {k="option", name="Option<u64>", inner=37}
N[113] = {k="struct", name="GetCodecVersion", fields={}}
N[114] = {k="struct", name="GetCodecVersionResponse", fields={{"codec_vers", 13}, {"version_string", 2}, {"executable_path", 115}, {"config_file_path", 116}}}
N[115] = {k="prim", t="PathBuf"}
N[116] = {k="option", name="Option<PathBuf>", inner=115}
N[117] = {k="struct", name="GetTlsCreds", fields={}}
N[118] = {k="struct", name="GetTlsCredsResponse", fields={{"ca_cert_pem", 2}, {"client_cert_pem", 2}}}
N[119] = {k="struct", name="LivenessResponse", fields={{"pane_id", 13}, {"is_alive", 18}}}
N[120] = {k="struct", name="SearchScrollbackRequest", fields={{"pane_id", 13}, {"pattern", 121}, {"range", 122}, {"limit", 123}}}
N[121] = {k="enum", name="Pattern", variants={{"CaseSensitiveString", 2}, {"CaseInSensitiveString", 2}, {"Regex", 2}}}
N[122] = {k="struct", name="Range<isize>", fields={{"start", 20}, {"end", 20}}}
N[123] = {k="option", name="Option<u32>", inner=14}
N[124] = {k="struct", name="SearchScrollbackResponse", fields={{"results", 125}}}
N[125] = {k="seq", name="Vec<SearchResult>", item=126}
N[126] = {k="struct", name="SearchResult", fields={{"start_y", 20}, {"start_x", 13}, {"end_y", 20}, {"end_x", 13}, {"match_id", 13}}}
N[127] = {k="struct", name="SetPaneZoomed", fields={{"containing_tab_id", 13}, {"pane_id", 13}, {"zoomed", 18}}}
N[128] = {k="struct", name="SplitPane", fields={{"pane_id", 13}, {"split_request", 129}, {"command", 131}, {"command_dir", 139}, {"domain", 140}, {"move_pane_id", 141}}}
N[129] = {k="struct", name="SplitRequest", fields={{"direction", 11}, {"target_is_second", 18}, {"top_level", 18}, {"size", 130}}}
N[130] = {k="enum", name="SplitSize", variants={{"Cells", 13}, {"Percent", 34}}}
N[131] = {k="option", name="Option<CommandBuilder>", inner=132}
N[132] = {k="struct", name="CommandBuilder", fields={{"args", 133}, {"envs", 135}, {"cwd", 137}, {"umask", 138}, {"controlling_tty", 18}}}
N[133] = {k="seq", name="Vec<OsString>", item=134}
N[134] = {k="custom", name="OsString"}
N[135] = {k="map", name="BTreeMap<OsString, EnvEntry>", key=134, val=136}
N[136] = {k="struct", name="EnvEntry", fields={{"is_from_base_env", 18}, {"preferred_key", 134}, {"value", 134}}}
N[137] = {k="option", name="Option<OsString>", inner=134}
N[138] = {k="option", name="Option<u32>", inner=14}
N[139] = {k="option", name="Option<String>", inner=2}
N[140] = {k="enum", name="SpawnTabDomain", variants={{"DefaultDomain", nil}, {"CurrentPaneDomain", nil}, {"DomainName", 2}, {"DomainId", 13}}}
N[141] = {k="option", name="Option<usize>", inner=13}
N[142] = {k="struct", name="KillPane", fields={{"pane_id", 13}}}
N[143] = {k="struct", name="SpawnV2", fields={{"domain", 140}, {"window_id", 144}, {"command", 145}, {"command_dir", 146}, {"size", 12}, {"workspace", 2}}}
N[144] = {k="option", name="Option<usize>", inner=13}
N[145] = {k="option", name="Option<CommandBuilder>", inner=132}
N[146] = {k="option", name="Option<String>", inner=2}
N[147] = {k="struct", name="PaneRemoved", fields={{"pane_id", 13}}}
N[148] = {k="struct", name="SetPalette", fields={{"pane_id", 13}, {"palette", 149}}}
N[149] = {k="struct", name="ColorPalette", fields={{"colors", 150}, {"foreground", 86}, {"background", 86}, {"cursor_fg", 86}, {"cursor_bg", 86}, {"cursor_border", 86}, {"selection_fg", 86}, {"selection_bg", 86}, {"scrollbar_thumb", 86}, {"split", 86}}}
N[150] = {k="custom", name="Palette256", item=86}
N[151] = {k="struct", name="NotifyAlert", fields={{"pane_id", 13}, {"alert", 152}}}
N[152] = {k="enum", name="Alert", variants={{"Bell", nil}, {"ToastNotification", 153}, {"CurrentWorkingDirectoryChanged", nil}, {"IconTitleChanged", 155}, {"WindowTitleChanged", 2}, {"TabTitleChanged", 156}, {"PaletteChanged", nil}, {"SetUserVar", 157}, {"OutputSinceFocusLost", nil}}}
N[153] = {k="struct", name="Alert::ToastNotification", fields={{"title", 154}, {"body", 2}, {"focus", 18}}}
N[154] = {k="option", name="Option<String>", inner=2}
N[155] = {k="option", name="Option<String>", inner=2}
N[156] = {k="option", name="Option<String>", inner=2}
N[157] = {k="struct", name="Alert::SetUserVar", fields={{"name", 2}, {"value", 2}}}
N[158] = {k="struct", name="SetClientId", fields={{"client_id", 159}}}
N[159] = {k="struct", name="ClientId", fields={{"hostname", 2}, {"username", 2}, {"pid", 14}, {"epoch", 37}, {"id", 13}}}
N[160] = {k="unit", name="GetClientList"}
N[161] = {k="struct", name="GetClientListResponse", fields={{"clients", 162}}}
N[162] = {k="seq", name="Vec<ClientInfo>", item=163}
N[163] = {k="struct", name="ClientInfo", fields={{"client_id", 159}, {"connected_at", 41}, {"active_workspace", 164}, {"last_input", 41}, {"focused_pane_id", 165}}}
N[164] = {k="option", name="Option<String>", inner=2}
N[165] = {k="option", name="Option<usize>", inner=13}
N[166] = {k="struct", name="SetWindowWorkspace", fields={{"window_id", 13}, {"workspace", 2}}}
N[167] = {k="struct", name="WindowWorkspaceChanged", fields={{"window_id", 13}, {"workspace", 2}}}
N[168] = {k="struct", name="SetFocusedPane", fields={{"pane_id", 13}}}
N[169] = {k="struct", name="GetImageCell", fields={{"pane_id", 13}, {"line_idx", 20}, {"cell_idx", 13}, {"data_hash", 170}}}
N[170] = {k="array", name="[u8; 32]", item=34, n=32}
N[171] = {k="struct", name="GetImageCellResponse", fields={{"pane_id", 13}, {"data", 172}}}
N[172] = {k="option", name="Option<ImageData>", inner=72}
N[173] = {k="struct", name="MovePaneToNewTab", fields={{"pane_id", 13}, {"window_id", 174}, {"workspace_for_new_window", 175}}}
N[174] = {k="option", name="Option<usize>", inner=13}
N[175] = {k="option", name="Option<String>", inner=2}
N[176] = {k="struct", name="MovePaneToNewTabResponse", fields={{"tab_id", 13}, {"window_id", 13}}}
N[177] = {k="struct", name="ActivatePaneDirection", fields={{"pane_id", 13}, {"direction", 178}}}
N[178] = {k="enum", name="PaneDirection", variants={{"Up", nil}, {"Down", nil}, {"Left", nil}, {"Right", nil}, {"Next", nil}, {"Prev", nil}}}
N[179] = {k="struct", name="GetPaneRenderableDimensions", fields={{"pane_id", 13}}}
N[180] = {k="struct", name="GetPaneRenderableDimensionsResponse", fields={{"pane_id", 13}, {"cursor_position", 19}, {"dimensions", 108}}}
N[181] = {k="struct", name="PaneFocused", fields={{"pane_id", 13}}}
N[182] = {k="struct", name="TabResized", fields={{"tab_id", 13}}}
N[183] = {k="struct", name="TabAddedToWindow", fields={{"tab_id", 13}, {"window_id", 13}}}
N[184] = {k="struct", name="TabTitleChanged", fields={{"tab_id", 13}, {"title", 2}}}
N[185] = {k="struct", name="WindowTitleChanged", fields={{"window_id", 13}, {"title", 2}}}
N[186] = {k="struct", name="RenameWorkspace", fields={{"old_workspace", 2}, {"new_workspace", 2}}}
N[187] = {k="struct", name="EraseScrollbackRequest", fields={{"pane_id", 13}, {"erase_mode", 188}}}
N[188] = {k="enum", name="ScrollbackEraseMode", variants={{"ScrollbackOnly", nil}, {"ScrollbackAndViewport", nil}}}
N[189] = {k="struct", name="GetPaneDirection", fields={{"pane_id", 13}, {"direction", 178}}}
N[190] = {k="struct", name="GetPaneDirectionResponse", fields={{"pane_id", 191}}}
N[191] = {k="option", name="Option<usize>", inner=13}
N[192] = {k="struct", name="AdjustPaneSize", fields={{"pane_id", 13}, {"direction", 178}, {"amount", 13}}}
N[193] = {k="struct", name="SetClientId", fields={{"client_id", 194}, {"is_proxy", 18}}}
N[194] = {k="struct", name="ClientId", fields={{"hostname", 2}, {"username", 2}, {"pid", 14}, {"epoch", 37}, {"id", 13}, {"ssh_auth_sock", 195}}}
N[195] = {k="option", name="Option<String>", inner=2}
N[196] = {k="struct", name="GetClientListResponse", fields={{"clients", 197}}}
N[197] = {k="seq", name="Vec<ClientInfo>", item=198}
N[198] = {k="struct", name="ClientInfo", fields={{"client_id", 194}, {"connected_at", 41}, {"active_workspace", 164}, {"last_input", 41}, {"focused_pane_id", 165}}}
N[199] = {k="struct", name="NotifyAlert", fields={{"pane_id", 13}, {"alert", 200}}}
N[200] = {k="enum", name="Alert", variants={{"Bell", nil}, {"ToastNotification", 153}, {"CurrentWorkingDirectoryChanged", nil}, {"IconTitleChanged", 155}, {"WindowTitleChanged", 2}, {"TabTitleChanged", 156}, {"PaletteChanged", nil}, {"SetUserVar", 157}, {"OutputSinceFocusLost", nil}, {"Progress", 201}}}
N[201] = {k="enum", name="Progress", variants={{"None", nil}, {"Percentage", 34}, {"Error", 34}, {"Indeterminate", nil}}}
N[202] = {k="struct", name="GetLinesResponse", fields={{"pane_id", 13}, {"lines", 203}}}
N[203] = {k="struct", name="SerializedLines", fields={{"lines", 204}, {"hyperlinks", 97}, {"images", 102}}}
N[204] = {k="seq", name="Vec<(isize, Line)>", item=205}
N[205] = {k="tuple", name="(isize, Line)", items={20, 206}}
N[206] = {k="struct", name="Line", fields={{"cells", 207}, {"zones", 92}, {"seqno", 13}, {"bits", 96}}}
N[207] = {k="enum", name="CellStorage", variants={{"V", 58}, {"C", 208}}}
N[208] = {k="struct", name="ClusteredLine", fields={{"text", 2}, {"is_double_wide", 88}, {"clusters", 89}, {"len", 14}, {"last_cell_width", 91}}}
N[209] = {k="struct", name="GetPaneRenderChangesResponse", fields={{"pane_id", 13}, {"mouse_grabbed", 18}, {"cursor_position", 19}, {"dimensions", 108}, {"dirty_lines", 109}, {"title", 2}, {"working_dir", 111}, {"bonus_lines", 203}, {"input_serial", 112}, {"seqno", 13}}}
local PDU_SCHEMAS = {
  [42] = {[0]=1, [1]=3, [2]=4, [3]=5, [4]=6, [8]=26, [9]=27, [10]=29, [11]=30, [12]=38, [13]=44, [14]=45, [20]=46, [22]=49, [23]=52, [24]=106, [25]=107, [26]=113, [27]=114, [28]=117, [29]=118, [30]=119, [31]=120, [32]=124, [33]=127, [34]=128, [35]=142, [36]=143, [37]=147, [38]=148, [39]=151, [40]=158, [41]=160, [42]=161, [43]=166, [44]=167, [45]=168, [46]=169, [47]=171, [48]=173, [49]=176, [50]=177, [51]=179, [52]=180, [53]=181, [54]=182, [55]=183, [56]=184, [57]=185, [58]=186, [59]=187, [60]=189, [61]=190, [62]=192},
  [43] = {[0]=1, [1]=3, [2]=4, [3]=5, [4]=6, [8]=26, [9]=27, [10]=29, [11]=30, [12]=38, [13]=44, [14]=45, [20]=46, [22]=49, [23]=52, [24]=106, [25]=107, [26]=113, [27]=114, [28]=117, [29]=118, [30]=119, [31]=120, [32]=124, [33]=127, [34]=128, [35]=142, [36]=143, [37]=147, [38]=148, [39]=151, [40]=193, [41]=160, [42]=196, [43]=166, [44]=167, [45]=168, [46]=169, [47]=171, [48]=173, [49]=176, [50]=177, [51]=179, [52]=180, [53]=181, [54]=182, [55]=183, [56]=184, [57]=185, [58]=186, [59]=187, [60]=189, [61]=190, [62]=192},
  [44] = {[0]=1, [1]=3, [2]=4, [3]=5, [4]=6, [8]=26, [9]=27, [10]=29, [11]=30, [12]=38, [13]=44, [14]=45, [20]=46, [22]=49, [23]=52, [24]=106, [25]=107, [26]=113, [27]=114, [28]=117, [29]=118, [30]=119, [31]=120, [32]=124, [33]=127, [34]=128, [35]=142, [36]=143, [37]=147, [38]=148, [39]=199, [40]=193, [41]=160, [42]=196, [43]=166, [44]=167, [45]=168, [46]=169, [47]=171, [48]=173, [49]=176, [50]=177, [51]=179, [52]=180, [53]=181, [54]=182, [55]=183, [56]=184, [57]=185, [58]=186, [59]=187, [60]=189, [61]=190, [62]=192},
  [45] = {[0]=1, [1]=3, [2]=4, [3]=5, [4]=6, [8]=26, [9]=27, [10]=29, [11]=30, [12]=38, [13]=44, [14]=45, [20]=46, [22]=49, [23]=202, [24]=106, [25]=209, [26]=113, [27]=114, [28]=117, [29]=118, [30]=119, [31]=120, [32]=124, [33]=127, [34]=128, [35]=142, [36]=143, [37]=147, [38]=148, [39]=199, [40]=193, [41]=160, [42]=196, [43]=166, [44]=167, [45]=168, [46]=169, [47]=171, [48]=173, [49]=176, [50]=177, [51]=179, [52]=180, [53]=181, [54]=182, [55]=183, [56]=184, [57]=185, [58]=186, [59]=187, [60]=189, [61]=190, [62]=192},
}
local PDU_NAMES = {
  [0] = "ErrorResponse",
  [1] = "Ping",
  [2] = "Pong",
  [3] = "ListPanes",
  [4] = "ListPanesResponse",
  [8] = "SpawnResponse",
  [9] = "WriteToPane",
  [10] = "UnitResponse",
  [11] = "SendKeyDown",
  [12] = "SendMouseEvent",
  [13] = "SendPaste",
  [14] = "Resize",
  [20] = "SetClipboard",
  [22] = "GetLines",
  [23] = "GetLinesResponse",
  [24] = "GetPaneRenderChanges",
  [25] = "GetPaneRenderChangesResponse",
  [26] = "GetCodecVersion",
  [27] = "GetCodecVersionResponse",
  [28] = "GetTlsCreds",
  [29] = "GetTlsCredsResponse",
  [30] = "LivenessResponse",
  [31] = "SearchScrollbackRequest",
  [32] = "SearchScrollbackResponse",
  [33] = "SetPaneZoomed",
  [34] = "SplitPane",
  [35] = "KillPane",
  [36] = "SpawnV2",
  [37] = "PaneRemoved",
  [38] = "SetPalette",
  [39] = "NotifyAlert",
  [40] = "SetClientId",
  [41] = "GetClientList",
  [42] = "GetClientListResponse",
  [43] = "SetWindowWorkspace",
  [44] = "WindowWorkspaceChanged",
  [45] = "SetFocusedPane",
  [46] = "GetImageCell",
  [47] = "GetImageCellResponse",
  [48] = "MovePaneToNewTab",
  [49] = "MovePaneToNewTabResponse",
  [50] = "ActivatePaneDirection",
  [51] = "GetPaneRenderableDimensions",
  [52] = "GetPaneRenderableDimensionsResponse",
  [53] = "PaneFocused",
  [54] = "TabResized",
  [55] = "TabAddedToWindow",
  [56] = "TabTitleChanged",
  [57] = "WindowTitleChanged",
  [58] = "RenameWorkspace",
  [59] = "EraseScrollbackRequest",
  [60] = "GetPaneDirection",
  [61] = "GetPaneDirectionResponse",
  [62] = "AdjustPaneSize",
}
local CODEC_VERSIONS = {42, 43, 44, 45}
local DEFAULT_CODEC_VERSION = 44
local DEFAULT_PORT = 4246
-- END GENERATED SCHEMA

-- ==== wireshark/src/proto.lua =============================================================================
-- The protocol, its preferences, fields and expert infos, and which payload fields are filterable.
-- Uses the generated schema above it (PDU_NAMES, CODEC_VERSIONS, DEFAULT_*).

-- Custom (hand-written serde) types of the schema, by name: see codec/schema/mux.py.
local CUSTOM = {}

local MAX_DEPTH = 150
local ZSTD_MAGIC = "\040\181\047\253"
-- garbage held back for re-judging with the next segment, at most (bytes)
local GARBAGE_HOLD = 65536
local TWO32 = 4294967296

local proto = Proto("wezmux", "WezTerm mux protocol (muxscope)")

local version_choices = { { 1, "auto (from GetCodecVersionResponse, else " .. DEFAULT_CODEC_VERSION .. ")", 0 } }
for i, v in ipairs(CODEC_VERSIONS) do version_choices[#version_choices + 1] = { i + 1, tostring(v), v } end

proto.prefs.port = Pref.uint("TCP port", DEFAULT_PORT, "TCP port of a mux server (muxscope exports use "
    .. DEFAULT_PORT .. "); other ports are found by the heuristic dissector")
proto.prefs.heuristic = Pref.bool("Find the protocol on any TCP port", true,
    "Try the heuristic dissector on TCP conversations that no other dissector claims")
proto.prefs.codec_version = Pref.enum("Codec version", 0, "Schemas used to read payloads",
    version_choices, false)
proto.prefs.max_frame_len = Pref.uint("Largest frame (bytes)", 32 * 1024 * 1024,
    "A header announcing a longer frame is garbage (muxscope's default limit)")
proto.prefs.tree_items = Pref.uint("Payload tree items per PDU", 3000,
    "Payload fields beyond this many are decoded but not shown")
proto.prefs.inflate = Pref.bool("Decompress zstd payloads", true,
    "Inflate compressed payloads to show their fields (in C on Wireshark 4.3+, else in Lua: slower)")
proto.prefs.max_inflated = Pref.uint("Largest decompressed payload (bytes)", 64 * 1024 * 1024,
    "A compressed payload that inflates past this is not shown (a zstd bomb costs at most this)")

local F = {
    len = ProtoField.uint64("wezmux.len", "Length", base.DEC, nil, nil, "serial + ident + payload bytes"),
    compressed = ProtoField.bool("wezmux.compressed", "Compressed"),
    serial = ProtoField.uint64("wezmux.serial", "Serial"),
    ident = ProtoField.uint32("wezmux.ident", "Ident", base.DEC, PDU_NAMES),
    pdu = ProtoField.string("wezmux.pdu", "PDU"),
    wire_len = ProtoField.uint32("wezmux.wire_len", "Frame length on the wire", base.DEC, nil, nil,
        "header + payload bytes"),
    payload_len = ProtoField.uint32("wezmux.payload_len", "Payload length on the wire"),
    inflated_len = ProtoField.uint32("wezmux.inflated_len", "Decompressed payload length"),
    codec_version = ProtoField.uint32("wezmux.codec_version", "Codec version used"),
    request_in = ProtoField.framenum("wezmux.request_in", "Request in", base.NONE, frametype.REQUEST),
    response_in = ProtoField.framenum("wezmux.response_in", "Response in", base.NONE, frametype.RESPONSE),
    time = ProtoField.relative_time("wezmux.time", "Time since request"),
    pane_id = ProtoField.uint64("wezmux.pane_id", "Pane id"),
    lines_start = ProtoField.int64("wezmux.lines.start", "GetLines range start"),
    lines_end = ProtoField.int64("wezmux.lines.end", "GetLines range end (exclusive)"),
    rows = ProtoField.uint64("wezmux.size.rows", "Rows"),
    cols = ProtoField.uint64("wezmux.size.cols", "Cols"),
    pixel_width = ProtoField.uint64("wezmux.size.pixel_width", "Pixel width"),
    pixel_height = ProtoField.uint64("wezmux.size.pixel_height", "Pixel height"),
    dpi = ProtoField.uint32("wezmux.size.dpi", "DPI"),
    seqno = ProtoField.uint64("wezmux.seqno", "Seqno"),
    dirty_start = ProtoField.int64("wezmux.dirty.start", "Dirty range start"),
    dirty_end = ProtoField.int64("wezmux.dirty.end", "Dirty range end (exclusive)"),
    garbage = ProtoField.bytes("wezmux.garbage", "Bytes that are not a frame"),
    decode_error = ProtoField.string("wezmux.decode_error", "Payload decode error"),
    row = ProtoField.int64("wezmux.row", "Row carried (stable row index)"),
}
local field_list = {}
for _, f in pairs(F) do field_list[#field_list + 1] = f end
proto.fields = field_list

local E = {
    garbage = ProtoExpert.new("wezmux.garbage.expert", "Bytes between frames that are not a frame",
        expert.group.MALFORMED, expert.severity.WARN),
    payload = ProtoExpert.new("wezmux.payload.expert", "Payload does not decode",
        expert.group.MALFORMED, expert.severity.ERROR),
    compressed = ProtoExpert.new("wezmux.compressed.expert", "Compressed payload not decoded here",
        expert.group.UNDECODED, expert.severity.NOTE),
    unknown = ProtoExpert.new("wezmux.unknown.expert", "Ident unknown to this codec version",
        expert.group.UNDECODED, expert.severity.NOTE),
}
proto.experts = { E.garbage, E.payload, E.compressed, E.unknown }


-- Fields that matter for the analysis, by "<PDU>.<field path>" (indices left out).
local HOOKS = {
    ["GetLines.lines.start"] = F.lines_start,
    ["GetLines.lines.end"] = F.lines_end,
    ["Resize.size.rows"] = F.rows,
    ["Resize.size.cols"] = F.cols,
    ["Resize.size.pixel_width"] = F.pixel_width,
    ["Resize.size.pixel_height"] = F.pixel_height,
    ["Resize.size.dpi"] = F.dpi,
    ["GetPaneRenderChangesResponse.seqno"] = F.seqno,
    ["GetPaneRenderChangesResponse.dirty_lines.start"] = F.dirty_start,
    ["GetPaneRenderChangesResponse.dirty_lines.end"] = F.dirty_end,
    ["GetLinesResponse.lines.lines"] = F.row,
    ["GetPaneRenderChangesResponse.bonus_lines.lines"] = F.row,
}
-- Paths worth extending while walking (every prefix of a hook, every PDU for its pane_id): building a
-- path string for every cell of a 2,000-row GetLinesResponse would cost more than decoding it.
local HOOK_PREFIX = { ["GetCodecVersionResponse"] = true }
for key in pairs(HOOKS) do
    local prefix = nil
    for part in key:gmatch("[^.]+") do
        prefix = prefix and (prefix .. "." .. part) or part
        HOOK_PREFIX[prefix] = true
    end
end
for _, name in pairs(PDU_NAMES) do HOOK_PREFIX[name] = true end

local function subpath(path, name)
    if path ~= nil and HOOK_PREFIX[path] then return path .. "." .. name end
    return nil
end


-- ==== wireshark/src/payload.lua ===========================================================================
-- Reading a varbincode payload by a generated schema node (N[...]): a tree, the filterable fields
-- (HOOKS, from proto.lua) and the Info column summary. Needs proto.lua above it.

---------------------------------------------------------------------------------------------------
-- varints on a Lua string (1-based positions). Values are Lua numbers (exact below 2^53) and, past
-- 7 bytes, also a UInt64/Int64 so big values display exactly.

local function uleb(s, pos)
    local value, mult, start = 0, 1, pos
    while true do
        local b = s:byte(pos)
        if b == nil then return nil, pos, "unexpected end of payload" end
        pos = pos + 1
        if mult == 2 ^ 63 and b > 1 then return nil, pos, "LEB128 value overflows u64" end
        value = value + (b % 128) * mult
        if b < 128 then break end
        mult = mult * 128
        if mult > 2 ^ 63 then return nil, pos, "LEB128 value overflows u64" end
    end
    local big
    if pos - start > 7 then
        big = UInt64(0)
        for i = pos - 1, start, -1 do big = big:lshift(7):bor(UInt64(s:byte(i) % 128)) end
    end
    return value, pos, nil, big
end

local function sleb(s, pos)
    local value, mult, b = 0, 1, 0
    repeat
        b = s:byte(pos)
        if b == nil then return nil, pos, "unexpected end of payload" end
        pos = pos + 1
        value = value + (b % 128) * mult
        mult = mult * 128
        if mult > 2 ^ 70 then return nil, pos, "signed LEB128 value overflows i64" end
    until b < 128
    if b >= 64 then value = value - mult end
    return value, pos
end

local function utf8_char(cp)
    if cp < 0x80 then return string.char(cp) end
    if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
    if cp < 0x10000 then
        return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
    end
    return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
        0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local function num_text(v, big)
    if big then return tostring(big) end
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return tostring(v)
end

---------------------------------------------------------------------------------------------------
-- the payload walker: reads a payload by a generated schema node, adds a tree, fires HOOKS.

local Walker = {}
Walker.__index = Walker

-- reads `len` bytes of `tvb` from `base`: the frame's own bytes, or a decompressed tvb
local function new_walker(tvb, base, len, pdu_name, pdu_tree, budget)
    return setmetatable({ s = len > 0 and tvb:raw(base, len) or "", tvb = tvb, base = base, pos = 1,
        pdu = pdu_name, top = pdu_tree, budget = budget, hidden = 0, sum = { rows = {}, dirty = {} } }, Walker)
end

function Walker:fail(msg)
    error({ wezmux = true, msg = msg, offset = self.pos - 1 }, 0)
end

function Walker:range(start)
    return self.tvb(self.base + start - 1, math.max(self.pos - start, 0))
end

-- Whether to add a tree item under `tree` (none once the preference's budget is spent); callers build
-- the item's text only when it is shown, which is most of the cost of a big payload otherwise.
function Walker:shown(tree)
    if tree == nil then return false end
    if self.budget <= 0 then
        self.hidden = self.hidden + 1
        return false
    end
    self.budget = self.budget - 1
    return true
end

function Walker:item(tree, start, text)
    return tree:add(self:range(start), text)
end

local function prim_text(t, v, big)
    if t == "String" or t == "PathBuf" then
        return string.format("%q", #v > 200 and (v:sub(1, 200) .. "...") or v)
    elseif t == "Vec<u8>" then
        return #v .. " bytes"
    elseif t == "char" then
        return string.format("%q", utf8_char(v))
    elseif t == "f32" or t == "f64" then
        return string.format("%.9g", v)
    elseif t == "()" then
        return "()"
    elseif type(v) == "number" then
        return num_text(v, big)
    end
    return tostring(v)
end

function Walker:hook(path, start, value)
    if self.top == nil or path == nil then return end  -- nil top: only checking that a payload reads
    local field = HOOKS[path]
    if field == nil and path == self.pdu .. ".pane_id" then field = F.pane_id end
    if field ~= nil and type(value) == "number" then
        if field == F.lines_start or field == F.lines_end or field == F.dirty_start or field == F.dirty_end
            or field == F.row then
            self.top:add(field, self:range(start), Int64(value))
        elseif field == F.dpi then
            self.top:add(field, self:range(start), value)
        else
            self.top:add(field, self:range(start), UInt64(value % TWO32, math.floor(value / TWO32)))
        end
    end
    if path == "GetCodecVersionResponse.codec_vers" then self.codec_vers = value end
    self:summarize(field, value)
end

-- What the Info column says about a PDU besides its name: pane, rows asked for, size, seqno, dirty rows.
function Walker:summarize(field, value)
    local sum = self.sum
    if field == F.pane_id then
        sum.pane = value
    elseif field == F.lines_start or field == F.dirty_start then
        local list = (field == F.lines_start) and sum.rows or sum.dirty
        list[#list + 1] = num_text(value)
    elseif field == F.lines_end or field == F.dirty_end then
        local list = (field == F.lines_end) and sum.rows or sum.dirty
        if #list > 0 then list[#list] = list[#list] .. ".." .. num_text(value) end
    elseif field == F.rows or field == F.cols then
        sum[field == F.rows and "size_rows" or "size_cols"] = value
    elseif field == F.seqno then
        sum.seqno = value
    elseif field == F.row then
        sum.carried = (sum.carried or 0) + 1
    end
end

function Walker:summary()
    local sum, out = self.sum, {}
    if sum.pane then out[#out + 1] = "pane " .. num_text(sum.pane) end
    if #sum.rows > 0 then out[#out + 1] = "rows " .. table.concat(sum.rows, ",") end
    if sum.size_rows and sum.size_cols then
        out[#out + 1] = num_text(sum.size_rows) .. "x" .. num_text(sum.size_cols)
    end
    if sum.carried then out[#out + 1] = sum.carried .. (sum.carried == 1 and " line" or " lines") end
    if sum.seqno then out[#out + 1] = "seqno " .. num_text(sum.seqno) end
    if #sum.dirty > 0 then out[#out + 1] = "dirty " .. table.concat(sum.dirty, ",") end
    return table.concat(out, " ")
end

local UINT_LIMIT = { u16 = 2 ^ 16 - 1, u32 = 2 ^ 32 - 1 }
local SINT_LIMIT = { i16 = 2 ^ 15, i32 = 2 ^ 31 }

function Walker:prim(t)
    local s, pos = self.s, self.pos
    if t == "u8" or t == "i8" then
        local b = s:byte(pos)
        if b == nil then self:fail("unexpected end of payload") end
        self.pos = pos + 1
        if t == "i8" and b >= 128 then b = b - 256 end
        return b
    elseif t == "u16" or t == "u32" or t == "u64" or t == "usize" then
        local v, np, err, big = uleb(s, pos)
        if err then self:fail(err) end
        if UINT_LIMIT[t] and v > UINT_LIMIT[t] then self:fail("number out of range for " .. t .. ": " .. v) end
        self.pos = np
        return v, big
    elseif t == "i16" or t == "i32" or t == "i64" or t == "isize" then
        local v, np, err = sleb(s, pos)
        if err then self:fail(err) end
        local lim = SINT_LIMIT[t]
        if lim and (v < -lim or v >= lim) then self:fail("number out of range for " .. t .. ": " .. v) end
        self.pos = np
        return v
    elseif t == "bool" then
        local b = s:byte(pos)
        if b == nil then self:fail("unexpected end of payload") end
        if b > 1 then self:fail("invalid bool encoding: " .. b) end
        self.pos = pos + 1
        return b == 1
    elseif t == "f32" or t == "f64" then
        local n = (t == "f32") and 4 or 8
        if pos + n - 1 > #s then self:fail("unexpected end of payload") end
        local v = self.tvb(self.base + pos - 1, n):le_float()
        self.pos = pos + n
        return v
    elseif t == "char" then
        local v, np, err = uleb(s, pos)
        if err then self:fail(err) end
        if v > 0x10FFFF or (v >= 0xD800 and v <= 0xDFFF) then self:fail("invalid char " .. v) end
        self.pos = np
        return v
    elseif t == "String" or t == "PathBuf" or t == "Vec<u8>" then
        local n, np, err = uleb(s, pos)
        if err then self:fail(err) end
        if n > #s - np + 1 then self:fail(t .. " length " .. n .. " runs past the end of the payload") end
        local raw = s:sub(np, np + n - 1)
        self.pos = np + n
        return raw
    elseif t == "()" then
        return nil
    end
    self:fail("no reader for primitive " .. t)
end

function Walker:count(what)
    local n, np, err = uleb(self.s, self.pos)
    if err then self:fail(err) end
    if n > #self.s - np + 1 then self:fail(what .. " of " .. n .. " items cannot fit in what is left") end
    self.pos = np
    return n
end

function Walker:walk(nid, tree, label, path, depth)
    local node = N[nid]
    if depth > MAX_DEPTH then self:fail("value nested deeper than " .. MAX_DEPTH .. " levels") end
    local start, k = self.pos, node.k
    if k == "prim" then
        local v, big = self:prim(node.t)
        if self:shown(tree) then self:item(tree, start, label .. ": " .. prim_text(node.t, v, big)) end
        if path then self:hook(path, start, v) end
        return v
    elseif k == "newtype" then
        return self:walk(node.inner, tree, label, path, depth + 1)
    elseif k == "unit" then
        if self:shown(tree) then self:item(tree, start, label .. ": " .. node.name) end
        return nil
    elseif k == "custom" then
        return CUSTOM[node.name](self, node, tree, label, path, depth)
    elseif k == "flags" then
        local v = self:prim(N[node.inner].t)
        if self:shown(tree) then
            local names = {}
            for _, pair in ipairs(node.names) do
                if pair[1] ~= 0 and bit32.band(v, pair[1]) == pair[1] then names[#names + 1] = pair[2] end
            end
            self:item(tree, start, label .. ": " .. num_text(v) .. " (" .. table.concat(names, " | ") .. ")")
        end
        return v
    elseif k == "option" then
        return self:walk_option(node, tree, label, path, depth)
    elseif k == "enum" then
        return self:walk_enum(node, tree, label, path, depth)
    end
    return self:walk_container(node, tree, label, path, depth)
end

function Walker:walk_option(node, tree, label, path, depth)
    local start = self.pos
    local tag = self.s:byte(self.pos)
    if tag == nil then self:fail("unexpected end of payload") end
    self.pos = self.pos + 1
    if tag == 0 then
        if self:shown(tree) then self:item(tree, start, label .. ": None") end
        return nil
    elseif tag ~= 1 then
        self:fail("invalid Option tag " .. tag)
    end
    return self:walk(node.inner, tree, label, path, depth + 1)
end

function Walker:walk_enum(node, tree, label, path, depth)
    local start = self.pos
    local idx, np, err = uleb(self.s, self.pos)
    if err then self:fail(err) end
    local variant = node.variants[idx + 1]
    if variant == nil then
        self:fail("unknown " .. node.name .. " variant index " .. idx .. " (known: 0.." .. (#node.variants - 1) .. ")")
    end
    self.pos = np
    if variant[2] == nil then
        if self:shown(tree) then self:item(tree, start, label .. ": " .. variant[1]) end
        return variant[1]
    end
    local sub = self:shown(tree) and self:item(tree, start, label .. ": " .. variant[1]) or nil
    self:walk(variant[2], sub, variant[1], subpath(path, variant[1]), depth + 1)
    if sub then sub:set_len(self.pos - start) end
    return variant[1]
end

-- struct, tuple, array, seq, map: a subtree holding the parts
function Walker:walk_container(node, tree, label, path, depth)
    local start, k = self.pos, node.k
    local sub = self:shown(tree) and self:item(tree, start, label .. " (" .. node.name .. ")") or nil
    if k == "struct" then
        for _, f in ipairs(node.fields) do self:walk(f[2], sub, f[1], subpath(path, f[1]), depth + 1) end
    elseif k == "tuple" then
        for i, item in ipairs(node.items) do self:walk(item, sub, sub and ("[" .. (i - 1) .. "]"), path, depth + 1) end
    elseif k == "array" then
        for i = 1, node.n do self:walk(node.item, sub, sub and ("[" .. (i - 1) .. "]"), path, depth + 1) end
    elseif k == "seq" then
        local n = self:count(node.name)
        if sub then sub:append_text(": " .. n .. " items") end
        for i = 1, n do self:walk(node.item, sub, sub and ("[" .. (i - 1) .. "]"), path, depth + 1) end
    elseif k == "map" then
        local n = self:count(node.name)
        if sub then sub:append_text(": " .. n .. " entries") end
        for i = 1, n do
            self:walk(node.key, sub, sub and ("key[" .. (i - 1) .. "]"), path, depth + 1)
            self:walk(node.val, sub, sub and ("value[" .. (i - 1) .. "]"), path, depth + 1)
        end
    else
        self:fail("no reader for schema kind " .. tostring(k))
    end
    if sub then sub:set_len(math.max(self.pos - start, 0)) end
    return nil
end

CUSTOM["OsString"] = function(w, node, tree, label, path, depth)
    -- serde's OsString: enum { Unix(Vec<u8>), Windows(Vec<u16>) } (codec/schema/mux.py)
    local start = w.pos
    local tag, np, err = uleb(w.s, w.pos)
    if err then w:fail(err) end
    w.pos = np
    if tag == 0 then
        local raw = w:prim("Vec<u8>")
        if w:shown(tree) then w:item(tree, start, label .. ": " .. string.format("%q", raw)) end
        return raw
    elseif tag == 1 then
        local n = w:count("OsString")
        for _ = 1, n do w:prim("u16") end
        if w:shown(tree) then w:item(tree, start, label .. ": (Windows OsString, " .. n .. " UTF-16 units)") end
        return nil
    end
    w:fail("unknown OsString variant index " .. tag .. " (known: 0..1)")
end

CUSTOM["Palette256"] = function(w, node, tree, label, path, depth)
    -- a Vec of exactly 256 SrgbaTuple (term/src/color.rs; codec/schema/mux.py)
    local start = w.pos
    local n, np, err = uleb(w.s, w.pos)
    if err then w:fail(err) end
    if n ~= 256 then w:fail("Palette256 size mismatch: " .. n .. " entries") end
    w.pos = np
    local sub = w:shown(tree) and w:item(tree, start, label .. " (Palette256): 256 colours") or nil
    for i = 1, 256 do w:walk(node.item, sub, "[" .. (i - 1) .. "]", path, depth + 1) end
    if sub then sub:set_len(w.pos - start) end
    return nil
end


-- ==== wireshark/src/zstd.lua ==============================================================================
---------------------------------------------------------------------------------------------------
-- zstd decompression in plain Lua (RFC 8878), for Wireshark versions whose Lua API has no
-- TvbRange:uncompress_zstd (before 4.3). Frames, raw/RLE/compressed blocks, Huffman literals (1 or 4
-- streams, treeless reuse), FSE sequence tables (predefined, RLE, compressed, repeat), repeat offsets.
-- Dictionaries are not supported (WezTerm uses none). Errors raise {zstd = message}.

local zstd = {}

local function zfail(msg) error({ zstd = msg }, 0) end

local POW2 = {}
for i = 0, 53 do POW2[i] = 2 ^ i end

local function highbit(v)  -- index of the highest set bit of v > 0
    local n = -1
    while v >= 1 do v = math.floor(v / 2); n = n + 1 end
    return n
end

-- n bits of s (1-based string, bytes little-endian, bit 0 = LSB of the first byte) from bit `pos`;
-- bits before the start of the data read as zeros (the backward streams may peek past their start).
local function bits(s, first, last, pos, n)
    if n == 0 then return 0 end
    if pos < 0 then
        if n + pos <= 0 then return 0 end
        return bits(s, first, last, 0, n + pos) * POW2[-pos]
    end
    local i = first + math.floor(pos / 8)
    local o = pos % 8
    local need = math.floor((o + n + 7) / 8)
    local v, mult = 0, 1
    for j = 0, need - 1 do
        local b = (i + j <= last) and s:byte(i + j) or 0
        v = v + b * mult
        mult = mult * 256
    end
    return math.floor(v / POW2[o]) % POW2[n]
end

-- A backward bit stream over s[first..last] (zstd's Huffman, FSE and sequence streams): bits are read
-- from the end, top first. Up to 48 of them wait in `acc` (c of them; exact in a double), the rest in
-- s[first..idx]. Reading past the start gives zeros and leaves remaining(st) negative (zstd's overflow).
local function backward(s, first, last)
    if last < first then zfail("empty bit stream") end
    local lastbyte = s:byte(last)
    if lastbyte == 0 then zfail("bit stream has no end mark") end
    local hb = highbit(lastbyte)
    return { s = s, first = first, idx = last - 1, acc = lastbyte % POW2[hb], c = hb }
end

local function refill(st)
    local s, idx, acc, c, first = st.s, st.idx, st.acc, st.c, st.first
    while c <= 40 and idx >= first do
        acc = acc * 256 + s:byte(idx)
        idx = idx - 1
        c = c + 8
    end
    st.idx, st.acc, st.c = idx, acc, c
end

local function remaining(st) return st.c + 8 * (st.idx - st.first + 1) end

local function peek(st, n)
    if st.c < n then refill(st) end
    local c = st.c
    if c >= n then return math.floor(st.acc / POW2[c - n]) end
    if c <= 0 then return 0 end
    return st.acc * POW2[n - c]
end

local function skip(st, n)
    if st.c < n then refill(st) end
    local c = st.c
    if c >= n then
        st.acc = st.acc % POW2[c - n]
    else
        st.acc = 0
    end
    st.c = c - n
end

local function rd(st, n)
    if n == 0 then return 0 end
    local v = peek(st, n)
    skip(st, n)
    return v
end

-- FSE ---------------------------------------------------------------------------------------------

local function fse_table(norm, max_symbol, log)
    local size = POW2[log]
    local symbol, next_of = {}, {}
    local high = size - 1
    for s = 0, max_symbol do
        if norm[s] == -1 then
            symbol[high] = s
            high = high - 1
            next_of[s] = 1
        else
            next_of[s] = norm[s] or 0
        end
    end
    local step = math.floor(size / 2) + math.floor(size / 8) + 3
    local pos = 0
    for s = 0, max_symbol do
        local c = norm[s] or 0
        for _ = 1, c do
            symbol[pos] = s
            repeat pos = (pos + step) % size until pos <= high
        end
    end
    if pos ~= 0 then zfail("corrupt FSE distribution") end
    local t = { log = log, sym = {}, nb = {}, base = {} }
    for u = 0, size - 1 do
        local s = symbol[u]
        local nxt = next_of[s]
        next_of[s] = nxt + 1
        local nb = log - highbit(nxt)
        t.sym[u], t.nb[u], t.base[u] = s, nb, nxt * POW2[nb] - size
    end
    return t
end

local function rle_table(sym) return { log = 0, sym = { [0] = sym }, nb = { [0] = 0 }, base = { [0] = 0 } } end

-- FSE_readNCount: a distribution from s at byte `p`; returns the table and the next byte position.
local function fse_read(s, p, last, max_symbol, max_log)
    local pos = 0
    local function get(n) local v = bits(s, p, last, pos, n); return v end
    local log = get(4) + 5
    pos = 4
    if log > max_log then zfail("FSE accuracy log " .. log .. " too large") end
    local size = POW2[log]
    local remaining, threshold, nbits = size + 1, size, log + 1
    local norm, sym, prev0 = {}, 0, false
    while remaining > 1 and sym <= max_symbol do
        if prev0 then
            local n0 = sym
            repeat
                local r = get(2); pos = pos + 2
                n0 = n0 + r
            until r ~= 3
            if n0 > max_symbol + 1 then zfail("FSE distribution runs past its symbols") end
            while sym < n0 do norm[sym] = 0; sym = sym + 1 end
        end
        if sym > max_symbol then break end
        local max = (2 * threshold - 1) - remaining
        local v = get(nbits)
        local count
        if v % threshold < max then
            count = v % threshold
            pos = pos + nbits - 1
        else
            count = v % (2 * threshold)
            if count >= threshold then count = count - max end
            pos = pos + nbits
        end
        count = count - 1
        remaining = remaining - math.abs(count)
        norm[sym] = count
        sym = sym + 1
        prev0 = (count == 0)
        while remaining < threshold do
            nbits = nbits - 1
            threshold = threshold / 2
        end
    end
    if remaining ~= 1 then zfail("corrupt FSE distribution") end
    return fse_table(norm, sym - 1, log), p + math.floor((pos + 7) / 8)
end

-- Huffman ------------------------------------------------------------------------------------------

local function huf_from_weights(weights, n)
    local total = 0
    for i = 0, n - 1 do if weights[i] > 0 then total = total + POW2[weights[i] - 1] end end
    if total == 0 then zfail("empty Huffman weights") end
    local maxbits = highbit(total) + 1
    local rest = POW2[maxbits] - total
    if rest ~= POW2[highbit(rest)] then zfail("Huffman weights do not add up") end
    weights[n] = highbit(rest) + 1
    n = n + 1
    if maxbits > 11 then zfail("Huffman table too deep") end
    local rank_count = {}
    for w = 0, maxbits do rank_count[w] = 0 end
    for i = 0, n - 1 do rank_count[weights[i]] = rank_count[weights[i]] + 1 end
    local start, nxt = {}, 0
    for w = 1, maxbits do
        start[w] = nxt
        nxt = nxt + rank_count[w] * POW2[w - 1]
    end
    local t = { bits = maxbits, sym = {}, nb = {} }
    for i = 0, n - 1 do
        local w = weights[i]
        if w > 0 then
            local len = POW2[w - 1]
            for j = start[w], start[w] + len - 1 do t.sym[j], t.nb[j] = i, maxbits + 1 - w end
            start[w] = start[w] + len
        end
    end
    return t
end

local function huf_read(s, p, last)
    local hb = s:byte(p)
    if hb == nil then zfail("truncated Huffman tree") end
    local weights, n = {}, 0
    if hb >= 128 then
        n = hb - 127
        local nbytes = math.floor((n + 1) / 2)
        if p + nbytes > last then zfail("truncated Huffman weights") end
        for i = 0, n - 1 do
            local b = s:byte(p + 1 + math.floor(i / 2))
            weights[i] = (i % 2 == 0) and math.floor(b / 16) or b % 16
        end
        return huf_from_weights(weights, n), p + 1 + nbytes
    end
    if p + hb > last then zfail("truncated Huffman weights") end
    local t, q = fse_read(s, p + 1, p + hb, 255, 6)
    local st = backward(s, q, p + hb)
    local s1, s2 = rd(st, t.log), rd(st, t.log)
    local function step(state)
        local sym = t.sym[state]
        return sym, t.base[state] + rd(st, t.nb[state])
    end
    while true do
        weights[n], s1 = step(s1); n = n + 1
        if remaining(st) < 0 then weights[n] = t.sym[s2]; n = n + 1; break end
        weights[n], s2 = step(s2); n = n + 1
        if remaining(st) < 0 then weights[n] = t.sym[s1]; n = n + 1; break end
        if n > 255 then zfail("too many Huffman weights") end
    end
    return huf_from_weights(weights, n), p + 1 + hb
end

local function huf_stream(huf, s, first, last, count, out)
    local st = backward(s, first, last)
    local b, sym, nb = huf.bits, huf.sym, huf.nb
    local n = #out
    for i = 1, count do
        local v = peek(st, b)
        out[n + i] = sym[v]
        skip(st, nb[v])
    end
end

-- literals & sequences -----------------------------------------------------------------------------

local function read_literals(s, p, last, ctx)
    local b0 = s:byte(p)
    local ltype, fmt = b0 % 4, math.floor(b0 / 4) % 4
    local regen, csize, hsize, streams
    if ltype <= 1 then
        if fmt == 0 or fmt == 2 then regen, hsize = math.floor(b0 / 8), 1
        elseif fmt == 1 then regen, hsize = math.floor(b0 / 16) + s:byte(p + 1) * 16, 2
        else regen, hsize = math.floor(b0 / 16) + s:byte(p + 1) * 16 + s:byte(p + 2) * 4096, 3 end
        local lit = {}
        if ltype == 0 then
            if p + hsize + regen - 1 > last then zfail("truncated raw literals") end
            for i = 1, regen do lit[i] = s:byte(p + hsize + i - 1) end
            return lit, p + hsize + regen
        end
        local v = s:byte(p + hsize)
        for i = 1, regen do lit[i] = v end
        return lit, p + hsize + 1
    end
    hsize = ({ [0] = 3, 3, 4, 5 })[fmt]
    streams = (fmt == 0) and 1 or 4
    local h = 0
    for i = hsize - 1, 0, -1 do h = h * 256 + s:byte(p + i) end
    h = math.floor(h / 16)
    local sbits = ({ [0] = 10, 10, 14, 18 })[fmt]
    regen = h % POW2[sbits]
    csize = math.floor(h / POW2[sbits]) % POW2[sbits]
    local q, stop = p + hsize, p + hsize + csize - 1
    if stop > last then zfail("truncated compressed literals") end
    if ltype == 2 then
        ctx.huf, q = huf_read(s, q, stop)
    elseif ctx.huf == nil then
        zfail("treeless literals without a previous Huffman table")
    end
    local lit = {}
    if streams == 1 then
        huf_stream(ctx.huf, s, q, stop, regen, lit)
    else
        local l1 = s:byte(q) + s:byte(q + 1) * 256
        local l2 = s:byte(q + 2) + s:byte(q + 3) * 256
        local l3 = s:byte(q + 4) + s:byte(q + 5) * 256
        local per = math.floor((regen + 3) / 4)
        local a = q + 6
        huf_stream(ctx.huf, s, a, a + l1 - 1, per, lit)
        huf_stream(ctx.huf, s, a + l1, a + l1 + l2 - 1, per, lit)
        huf_stream(ctx.huf, s, a + l1 + l2, a + l1 + l2 + l3 - 1, per, lit)
        huf_stream(ctx.huf, s, a + l1 + l2 + l3, stop, regen - 3 * per, lit)
    end
    return lit, stop + 1
end

-- baseline and extra bits of literal length codes 16..35 and match length codes 32..52
local function from(first, list)
    local t = {}
    for i, v in ipairs(list) do t[first + i - 1] = v end
    return t
end
local LL_BASE = from(16, { 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
    32768, 65536 })
local LL_BITS = from(16, { 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 })
local ML_BASE = from(32, { 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195,
    16387, 32771, 65539 })
local ML_BITS = from(32, { 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 })
local function dist(list) return from(0, list) end
local LL_DEFAULT = fse_table(dist({ 4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2,
    1, 1, 1, 1, 1, -1, -1, -1, -1 }), 35, 6)
local ML_DEFAULT = fse_table(dist({ 1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1 }), 52, 6)
local OF_DEFAULT = fse_table(dist({ 1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1,
    -1, -1, -1 }), 28, 5)

local function seq_table(mode, s, p, last, default, max_symbol, max_log, previous)
    if mode == 0 then return default, p end
    if mode == 1 then return rle_table(s:byte(p)), p + 1 end
    if mode == 2 then return fse_read(s, p, last, max_symbol, max_log) end
    if previous == nil then zfail("repeat mode without a previous table") end
    return previous, p
end

-- out is an array with its length in out.n (the # operator is a search in Lua 5.2)
local function execute(out, lit, seqs, limit)
    local li, n = 1, out.n
    for _, q in ipairs(seqs) do
        local ll, off, ml = q[1], q[2], q[3]
        if li + ll - 1 > #lit then zfail("sequence uses more literals than the block has") end
        for _ = 1, ll do
            n = n + 1
            out[n] = lit[li]
            li = li + 1
        end
        local from = n - off + 1
        if from < 1 then zfail("match offset before the start of the data") end
        if n + ml > limit then zfail("inflates past the limit of " .. limit .. " bytes") end
        for i = 0, ml - 1 do out[n + 1 + i] = out[from + i] end
        n = n + ml
    end
    for i = li, #lit do
        n = n + 1
        out[n] = lit[i]
    end
    out.n = n
end

local function offset_of(ctx, ofv, ll)
    local rep = ctx.rep
    local off
    if ofv > 3 then
        off = ofv - 3
    else
        local idx = (ll == 0) and ofv + 1 or ofv
        if idx == 4 then off = rep[1] - 1
        else off = rep[idx] end
        if idx == 1 then return off end
        if idx == 2 then rep[2] = rep[1]; rep[1] = off; return off end
    end
    rep[3], rep[2], rep[1] = rep[2], rep[1], off
    return off
end

local function read_sequences(s, p, last, ctx)
    local b0 = s:byte(p)
    local n
    if b0 == nil then zfail("truncated sequences") end
    if b0 == 0 then return {}, p + 1 end
    if b0 < 128 then n, p = b0, p + 1
    elseif b0 < 255 then n, p = (b0 - 128) * 256 + s:byte(p + 1), p + 2
    else n, p = s:byte(p + 1) + s:byte(p + 2) * 256 + 0x7F00, p + 3 end
    local modes = s:byte(p)
    p = p + 1
    ctx.ll, p = seq_table(math.floor(modes / 64) % 4, s, p, last, LL_DEFAULT, 35, 9, ctx.ll)
    ctx.of, p = seq_table(math.floor(modes / 16) % 4, s, p, last, OF_DEFAULT, 31, 8, ctx.of)
    ctx.ml, p = seq_table(math.floor(modes / 4) % 4, s, p, last, ML_DEFAULT, 52, 9, ctx.ml)
    local ll_t, of_t, ml_t = ctx.ll, ctx.of, ctx.ml
    local st = backward(s, p, last)
    local ls, os, ms = rd(st, ll_t.log), rd(st, of_t.log), rd(st, ml_t.log)
    local seqs = {}
    for i = 1, n do
        local ofc, mlc, llc = of_t.sym[os], ml_t.sym[ms], ll_t.sym[ls]
        if ofc > 31 then zfail("offset code " .. ofc .. " too large") end
        local ofv = POW2[ofc] + rd(st, ofc)
        local ml = (mlc < 32) and (mlc + 3) or (ML_BASE[mlc] + rd(st, ML_BITS[mlc]))
        local ll = (llc < 16) and llc or (LL_BASE[llc] + rd(st, LL_BITS[llc]))
        seqs[i] = { ll, offset_of(ctx, ofv, ll), ml }
        if i < n then
            ls = ll_t.base[ls] + rd(st, ll_t.nb[ls])
            ms = ml_t.base[ms] + rd(st, ml_t.nb[ms])
            os = of_t.base[os] + rd(st, of_t.nb[os])
        end
    end
    return seqs
end

-- frames --------------------------------------------------------------------------------------------

local function frame(s, p, out, limit)
    local fhd = s:byte(p + 4)
    if fhd == nil then zfail("truncated frame header") end
    local fcs_flag, single, checksum, dict = math.floor(fhd / 64), math.floor(fhd / 32) % 2, math.floor(fhd / 4) % 2,
        fhd % 4
    if math.floor(fhd / 8) % 2 == 1 then zfail("reserved frame header bit set") end
    if dict ~= 0 then zfail("zstd dictionaries are not supported") end
    p = p + 5
    if single == 0 then p = p + 1 end
    local fcs_size = ({ [0] = single, 2, 4, 8 })[fcs_flag]
    p = p + fcs_size
    local ctx = { rep = { 1, 4, 8 } }
    while true do
        local b0, b1, b2 = s:byte(p, p + 2)
        if b2 == nil then zfail("truncated block header") end
        local h = b0 + b1 * 256 + b2 * 65536
        local is_last, btype, size = h % 2, math.floor(h / 2) % 4, math.floor(h / 8)
        p = p + 3
        if btype == 0 then
            if p + size - 1 > #s then zfail("truncated raw block") end
            for i = 0, size - 1 do out[out.n + 1 + i] = s:byte(p + i) end
            out.n = out.n + size
            p = p + size
        elseif btype == 1 then
            local v = s:byte(p)
            if v == nil then zfail("truncated RLE block") end
            if out.n + size > limit then zfail("inflates past the limit of " .. limit .. " bytes") end
            for i = 1, size do out[out.n + i] = v end
            out.n = out.n + size
            p = p + 1
        elseif btype == 2 then
            local last = p + size - 1
            if last > #s then zfail("truncated compressed block") end
            local lit, q = read_literals(s, p, last, ctx)
            execute(out, lit, read_sequences(s, q, last, ctx), limit)
            p = last + 1
        else
            zfail("reserved block type")
        end
        if out.n > limit then zfail("inflates past the limit of " .. limit .. " bytes") end
        if is_last == 1 then break end
    end
    if checksum == 1 then p = p + 4 end
    return p
end

-- Decompress all frames of s (skippable frames skipped); returns the bytes as a string.
function zstd.decompress(s, limit)
    local out, p = { n = 0 }, 1
    while p <= #s do
        local m0, m1, m2, m3 = s:byte(p, p + 3)
        if m3 == nil then zfail("truncated frame magic") end
        if m0 == 0x28 and m1 == 0xB5 and m2 == 0x2F and m3 == 0xFD then
            p = frame(s, p, out, limit)
        elseif m1 == 0x2A and m2 == 0x4D and m3 == 0x18 and m0 >= 0x50 and m0 <= 0x5F then
            local b = { s:byte(p + 4, p + 7) }
            p = p + 8 + b[1] + b[2] * 256 + b[3] * 65536 + b[4] * 16777216
        else
            zfail("not a zstd frame")
        end
    end
    local parts = {}
    for i = 1, out.n, 4096 do
        parts[#parts + 1] = string.char(table.unpack(out, i, math.min(i + 4095, out.n)))
    end
    return table.concat(parts)
end

-- ==== wireshark/src/frames.lua ============================================================================
-- Frames on a TCP stream: headers, reassembly, garbage, request/response links, codec version per
-- connection, the heuristic and the port registration. Needs everything above it.

---------------------------------------------------------------------------------------------------
-- the frame layer

local function encoded_length(v)
    local n = 1
    while v >= 128 do
        v = math.floor(v / 128)
        n = n + 1
    end
    return n
end

-- A header at `off` of `s` (1-based): returns h (table), or nil + "more" when more bytes are needed,
-- or nil + an error message for a header that is not a frame (as FrameDecoder.next_frame).
local function read_header(s, pos, max_len)
    local start = pos
    local len, mult, compressed, b = 0, 1, false, nil
    for shift = 0, 63, 7 do
        b = s:byte(pos)
        if b == nil then return nil, "more" end
        pos = pos + 1
        if shift == 63 then
            if b > 1 then return nil, "leb128 is too large" end
            compressed = (b == 1)
            break
        end
        len = len + (b % 128) * mult
        mult = mult * 128
        if b < 128 then break end
    end
    if len > max_len then
        return nil, string.format("frame length %s exceeds the limit of %d bytes", num_text(len), max_len)
    end
    local serial, p2, err, big = uleb(s, pos)
    if err == "unexpected end of payload" then return nil, "more" end
    if err then return nil, "leb128 is too large" end
    local ident, p3, err2 = uleb(s, p2)
    if err2 == "unexpected end of payload" then return nil, "more" end
    if err2 then return nil, "leb128 is too large" end
    -- as FrameDecoder: the sizes of serial and ident as their shortest encoding (what a WezTerm sender
    -- writes), even if these bytes spelled them longer
    local data_len = len - encoded_length(ident) - encoded_length(serial)
    if data_len < 0 then
        return nil, string.format("sizes don't make sense: len:%s serial:%s ident:%s", num_text(len),
            num_text(serial, big), num_text(ident))
    end
    return { len = len, compressed = compressed, serial = serial, serial_big = big, ident = ident,
        hlen = p3 - start, data_len = data_len, len_bytes = pos - start, serial_bytes = p2 - pos,
        ident_bytes = p3 - p2 }
end

-- Plausible while resynchronising (FrameDecoder._scan_for_plausible_header): true, false, or "more".
local function plausible(s, pos, max_len)
    local h, err = read_header(s, pos, max_len)
    if h == nil then return (err == "more") and "more" or false end
    if PDU_NAMES[h.ident] == nil then return false end
    if h.compressed then
        local magic_at = pos + h.hlen
        if #s - magic_at + 1 < 4 then return "more" end
        return s:sub(magic_at, magic_at + 3) == ZSTD_MAGIC
    end
    return true
end

---------------------------------------------------------------------------------------------------
-- per-capture state: request/response pairs by (TCP stream, serial), codec version per stream

local rpc = {}          -- key "connection:serial" -> {req=frame, req_time=NSTime, req_src=..., resp=, resp_time=}
local stream_version = {} -- connection -> codec version announced by GetCodecVersionResponse
local frame_version = {}  -- frame number -> codec version in force when it was first dissected

function proto.init()
    rpc, stream_version, frame_version = {}, {}, {}
end

local function endpoint(pinfo)
    return tostring(pinfo.src) .. ":" .. tostring(pinfo.src_port)
end

-- The TCP connection, the same from both ends. Field extractors (tcp.stream, frame.time) are not
-- used: tshark's first pass builds no tree, and they come back empty there.
local function connection_key(pinfo)
    local a = endpoint(pinfo)
    local b = tostring(pinfo.dst) .. ":" .. tostring(pinfo.dst_port)
    if a < b then return a .. "-" .. b end
    return b .. "-" .. a
end

-- seconds (a double, relative to the first packet: exact to the nanosecond for ~100 days) -> NSTime
local function nstime_between(t0, t1)
    local ns = math.floor((t1 - t0) * 1e9 + 0.5)
    local secs = math.floor(ns / 1e9)
    return NSTime(secs, ns - secs * 1e9)
end

local function link_rpc(pinfo, tree, h, stream)
    if h.serial == 0 or stream == nil then return end
    local key = stream .. ":" .. num_text(h.serial, h.serial_big)
    local entry = rpc[key]
    if not pinfo.visited then
        local now = pinfo.rel_ts
        if entry == nil then
            rpc[key] = { req = pinfo.number, req_time = now, req_src = endpoint(pinfo) }
            entry = rpc[key]
        elseif entry.resp == nil and entry.req_src ~= endpoint(pinfo) then
            entry.resp, entry.resp_time = pinfo.number, now
        end
    end
    if entry == nil then return end
    if entry.req == pinfo.number and entry.req_src == endpoint(pinfo) then
        if entry.resp then tree:add(F.response_in, entry.resp):set_generated() end
    elseif entry.resp == pinfo.number then
        local dt = nstime_between(entry.req_time, entry.resp_time)
        tree:add(F.request_in, entry.req):set_generated()
        tree:add(F.time, dt):set_generated()
        return string.format("%.3f ms", dt:tonumber() * 1000)
    end
end

local function codec_version_for(pinfo, stream)
    if proto.prefs.codec_version ~= 0 then return proto.prefs.codec_version end
    if frame_version[pinfo.number] == nil then
        frame_version[pinfo.number] = (stream and stream_version[stream]) or DEFAULT_CODEC_VERSION
    end
    return frame_version[pinfo.number]
end

local has_native_zstd = pcall(function() return TvbRange.uncompress_zstd end)

-- The payload to walk: (tvb, offset, length), or nil, why it cannot be had, and whether that is the
-- payload's fault (bad zstd) rather than the preferences'.
local function payload_source(tvb, p, h, name)
    if not h.compressed then return tvb, p, h.data_len end
    if not proto.prefs.inflate then return nil, "decompression is off in the preferences", false end
    local payload = tvb(p, h.data_len)
    if has_native_zstd then  -- Wireshark 4.3+: zstd in C
        local ok, inflated = pcall(function() return payload:uncompress_zstd("Decompressed " .. name) end)
        if ok and inflated then return inflated:tvb(), 0, inflated:len() end
    end
    local ok, res = pcall(zstd.decompress, payload:raw(), proto.prefs.max_inflated)
    if not ok then
        return nil, "zstd: " .. (type(res) == "table" and tostring(res.zstd) or tostring(res)), true
    end
    if #res == 0 then return tvb, p, 0 end
    return ByteArray.new(res, true):tvb("Decompressed " .. name), 0, #res
end

local function dissect_header(tvb, off, h, name, tree)
    local total = h.hlen + h.data_len
    local ftree = tree:add(proto, tvb(off, total))
    local serial_text = num_text(h.serial, h.serial_big)
    ftree:set_text(string.format("WezTerm mux %s, serial %s, %d bytes%s", name, serial_text, total,
        h.compressed and " (compressed)" or ""))
    ftree:add(F.wire_len, tvb(off, total), total):set_generated()
    local p = off
    ftree:add(F.len, tvb(p, h.len_bytes), UInt64(h.len % TWO32, math.floor(h.len / TWO32)))
    ftree:add(F.compressed, tvb(p, h.len_bytes), h.compressed)
    p = p + h.len_bytes
    ftree:add(F.serial, tvb(p, h.serial_bytes), h.serial_big or UInt64(h.serial % TWO32, math.floor(h.serial / TWO32)))
    p = p + h.serial_bytes
    ftree:add(F.ident, tvb(p, h.ident_bytes), h.ident)
    ftree:add(F.pdu, tvb(p, h.ident_bytes), name)
    p = p + h.ident_bytes
    ftree:add(F.payload_len, tvb(p, h.data_len), h.data_len)
    return ftree, p, serial_text
end

local function dissect_frame(tvb, off, h, pinfo, tree, stream)
    local name = PDU_NAMES[h.ident] or "Unknown"
    local ftree, p, serial_text = dissect_header(tvb, off, h, name, tree)
    local payload = tvb(p, h.data_len)
    local rtt = link_rpc(pinfo, ftree, h, stream)
    local label = name .. " #" .. serial_text .. (rtt and (" (" .. rtt .. ")") or "")
    local version = codec_version_for(pinfo, stream)
    ftree:add(F.codec_version, version):set_generated()
    local nid = PDU_SCHEMAS[version][h.ident]
    if nid == nil then
        ftree:add_proto_expert_info(E.unknown, "ident " .. h.ident .. " is unknown to codec " .. version
            .. ": payload kept undecoded")
        return label
    end
    local ptvb, base, plen = payload_source(tvb, p, h, name)
    if ptvb == nil and plen then  -- the zstd stream is bad: a payload error, as muxscope reports it
        ftree:add(F.decode_error, payload, base)
        ftree:add_proto_expert_info(E.payload, name .. ": " .. base)
        return label .. " [payload error]"
    elseif ptvb == nil then
        ftree:add_proto_expert_info(E.compressed, "zstd payload not decoded (" .. base .. "); "
            .. "`muxscope decode` shows every field")
        return label .. " [zstd " .. h.data_len .. " B]"
    end
    if h.compressed then ftree:add(F.inflated_len, plen):set_generated() end
    local w = new_walker(ptvb, base, plen, name, ftree, proto.prefs.tree_items)
    local ok, err = pcall(function() w:walk(nid, ftree, "body", name, 0) end)
    if not ok then
        local msg = type(err) == "table" and (err.msg .. " at payload offset " .. err.offset) or tostring(err)
        ftree:add(F.decode_error, payload, msg)
        ftree:add_proto_expert_info(E.payload, name .. ": " .. msg)
    elseif w.hidden > 0 then
        ftree:add(payload, string.format("[%d more payload fields decoded but not shown: see the "
            .. "'Payload tree items per PDU' preference]", w.hidden))
    end
    if ok and w.codec_vers and stream and not pinfo.visited then stream_version[stream] = w.codec_vers end
    local summary = ok and w:summary() or "[payload error]"
    return label .. (summary ~= "" and (" " .. summary) or "")
end

local function add_garbage(tvb, start, stop, why, pinfo, tree, info)
    local item = tree:add(proto, tvb(start, stop - start))
    item:set_text(string.format("WezTerm mux: %d bytes that are not a frame", stop - start))
    item:add(F.garbage, tvb(start, stop - start))
    item:add_proto_expert_info(E.garbage, string.format("%d bytes between frames are not a frame (%s); "
        .. "skipped to the next plausible header", stop - start, why))
    info[#info + 1] = string.format("[%d bytes not a frame]", stop - start)
end

-- Dissects as many whole frames as `tvb` holds; asks TCP for more when the last one is cut.
local function dissect_stream(tvb, pinfo, tree)
    local s = tvb:raw()
    local n = #s
    local max_len = proto.prefs.max_frame_len
    local stream = connection_key(pinfo)
    local pos = 1      -- 1-based position in s
    local info = {}
    local garbage_start, garbage_why = nil, nil
    while pos <= n do
        if garbage_start then
            local ok = plausible(s, pos, max_len)
            if ok == "more" then break end
            if ok then
                add_garbage(tvb, garbage_start - 1, pos - 1, garbage_why, pinfo, tree, info)
                garbage_start = nil
            else
                pos = pos + 1
            end
        else
            local h, err = read_header(s, pos, max_len)
            if h == nil and err == "more" then break end
            if h == nil then
                garbage_start, garbage_why = pos, err
                pos = pos + 1
            elseif pos + h.hlen + h.data_len - 1 > n then
                pinfo.desegment_offset = pos - 1
                pinfo.desegment_len = pos + h.hlen + h.data_len - 1 - n
                pos = nil
                break
            else
                info[#info + 1] = dissect_frame(tvb, pos - 1, h, pinfo, tree, stream)
                pos = pos + h.hlen + h.data_len
            end
        end
    end
    if pos ~= nil and pos <= n then
        -- An incomplete header: ask for one more segment. Inside garbage, ask for it from the garbage's
        -- start, so the whole run is judged again with more bytes (stateless, and what FrameDecoder does:
        -- it waits too); past GARBAGE_HOLD bytes, report what is known and wait at the candidate.
        local from = pos
        if garbage_start and pos - garbage_start <= GARBAGE_HOLD then
            from = garbage_start
        elseif garbage_start then
            add_garbage(tvb, garbage_start - 1, pos - 1, garbage_why, pinfo, tree, info)
        end
        pinfo.desegment_offset = from - 1
        pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
    elseif pos ~= nil and garbage_start then
        add_garbage(tvb, garbage_start - 1, n, garbage_why, pinfo, tree, info)
    end
    if #info > 0 then
        -- called again for the same packet (TCP hands over a reassembled frame, then the rest of the
        -- segment, with a fence in the Info column between): continue the list
        local again = tostring(pinfo.cols.protocol) == "WezMux"
        pinfo.cols.protocol = "WezMux"
        pinfo.cols.info = (again and ", " or "") .. table.concat(info, ", ")
    end
    return n
end

function proto.dissector(tvb, pinfo, tree)
    return dissect_stream(tvb, pinfo, tree)
end

-- True when an uncompressed payload reads exactly (every byte, no error) as its PDU in some codec version.
local function payload_reads_exactly(tvb, off, h)
    for _, version in ipairs(CODEC_VERSIONS) do
        local nid = PDU_SCHEMAS[version][h.ident]
        if nid ~= nil then
            local w = new_walker(tvb, off + h.hlen, h.data_len, PDU_NAMES[h.ident], nil, 0)
            local ok = pcall(function() w:walk(nid, nil, "", w.pdu, 0) end)
            if ok and w.pos - 1 == h.data_len then return true end
        end
    end
    return false
end

-- Heuristic: the segment starts with a frame a WezTerm peer could send: a known ident, sane sizes, and
-- either a payload that reads exactly as that PDU or the zstd magic of a compressed one; and whatever
-- follows it in the segment starts with a plausible header too. Claims the conversation when it fits.
local function heuristic(tvb, pinfo, tree)
    if not proto.prefs.heuristic or tvb:len() < 3 then return false end
    local max_len = proto.prefs.max_frame_len
    local s = tvb:raw(0, math.min(tvb:len(), 64))
    local h = read_header(s, 1, max_len)
    if h == nil or plausible(s, 1, max_len) ~= true then return false end
    local after = h.hlen + h.data_len
    if not h.compressed then
        if after > tvb:len() or not payload_reads_exactly(tvb, 0, h) then return false end
    end
    if after < tvb:len() then
        local rest = tvb:raw(after, math.min(tvb:len() - after, 64))
        if plausible(rest, 1, max_len) ~= true then return false end
    end
    pinfo.conversation = proto
    dissect_stream(tvb, pinfo, tree)
    return true
end

local registered_port = nil
local function register_port()
    local tcp = DissectorTable.get("tcp.port")
    if registered_port ~= nil then tcp:remove(registered_port, proto) end
    registered_port = proto.prefs.port
    if registered_port ~= 0 then tcp:add(registered_port, proto) end
end

function proto.prefs_changed()
    if registered_port ~= proto.prefs.port then register_port() end
end

register_port()
proto:register_heuristic("tcp", heuristic)
