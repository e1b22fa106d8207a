-- t-large-body: a 50 MB body streamed in chunks just under libmilter's
-- 64 KiB command limit, as Postfix does. Accepted; run.sh samples the
-- milter's RSS meanwhile (bodies past limits.body_memory_bytes go to an
-- unlinked temporary file, so memory must stay flat) and checks the row.
-- Global "mb" (-D mb=N) sets the size in MiB (default 50).
dofile(mtdir .. "/lib.lua")

local total = math.floor(tonumber(mb or 50) * 1024 * 1024)
-- 840 lines of 76 characters + CRLF = 65520 bytes per chunk (< 65535)
local line_chars = 76
local lines_per_chunk = 840
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
math.randomseed(os.time())

-- a few distinct random chunks, cycled with a chunk number in front
local chunks = {}
for c = 1, 8 do
    local lines = {}
    for l = 1, lines_per_chunk do
        local chars = {}
        for k = 1, line_chars - 9 do
            local r = math.random(1, #alphabet)
            chars[k] = alphabet:sub(r, r)
        end
        lines[l] = table.concat(chars)
    end
    chunks[c] = lines
end

mt.set_timeout(120)
local conn = t.connect()
local m = {
    mid = t.mid("large"),
    subject = "large body " .. t.run,
    qid = "QLARGE" .. t.run,
}
t.envelope(conn, m)
t.headers(conn, m)

local sent, n = 0, 0
while sent < total do
    n = n + 1
    local lines = chunks[(n % #chunks) + 1]
    local buf = {}
    for l = 1, lines_per_chunk do
        buf[l] = string.format("%08x ", (n * lines_per_chunk + l) % 0xffffffff)
            .. lines[l] .. "\r\n"
    end
    local chunk = table.concat(buf)
    if sent + #chunk > total then
        chunk = chunk:sub(1, total - sent)
    end
    t.body(conn, chunk)
    sent = sent + #chunk
end
t.eom(conn, m.qid)
mt.echo(string.format("sent %d body bytes in %d chunks", sent, n))
mt.disconnect(conn)
