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
