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
