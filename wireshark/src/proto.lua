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

