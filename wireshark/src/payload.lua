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

