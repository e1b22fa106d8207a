-- t-8bit-headers: raw 8-bit bytes that are not UTF-8 (0x80-0xFF, lone
-- continuation bytes, an overlong sequence) in Subject and in the From
-- display name. Accepted; run.sh checks the row exists (PostgreSQL refuses
-- invalid UTF-8, so a stored row proves the text was made valid), that the
-- subject still carries the readable part and that the From address was
-- still recognised despite the bytes in its display name.
dofile(mtdir .. "/lib.lua")

local garbage = "\x80\x81\x9f\xa0\xc0\xaf\xc3\x28\xe2\x82\xf0\x90\x80\xfe\xff"
-- the same without "(" (0x28): in a From header it would open an RFC 5322
-- comment that never closes and make the whole address unparseable
local garbage_name = garbage:gsub("%(", "")
local conn = t.connect()
t.message(conn, {
    hfrom = "\xe9t\xe9 \x92Bad\x93 " .. garbage_name .. " <partner8@outside.test>",
    subject = "8bit " .. t.run .. " " .. garbage .. " caf\xe9 end",
    mid = t.mid("8bit"),
    qid = "Q8BIT" .. t.run,
    from = "<partner8@outside.test>",
    body = "Body with 8-bit bytes too: " .. garbage .. "\r\n",
})
mt.disconnect(conn)
