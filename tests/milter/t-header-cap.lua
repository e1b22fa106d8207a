-- t-header-cap: headers totalling more than limits.header_bytes (64 KiB in
-- the test configuration): 200 X-Filler fields of 500 bytes. The message is
-- accepted; the milter keeps the first 64 KiB of headers and run.sh checks
-- the stored row carries the "headers past ... bytes" warning.
dofile(mtdir .. "/lib.lua")

local conn = t.connect()
local m = {
    mid = t.mid("header-cap"),
    subject = "header cap " .. t.run,
    qid = "QHCAP" .. t.run,
}
t.envelope(conn, m)
-- the important fields first, so they fall inside the limit
t.header(conn, "From", "Partner <partner@outside.test>")
t.header(conn, "To", "Alice <alice@example.com>")
t.header(conn, "Subject", m.subject)
t.header(conn, "Date", "Tue, 24 Nov 2026 10:00:00 +0000")
t.header(conn, "Message-ID", "<" .. m.mid .. ">")
local filler = string.rep("x", 490)
for i = 1, 200 do
    t.header(conn, "X-Filler", string.format("%05d-%s", i, filler))
end
t.header(conn, "X-After-The-Cap", "this one is past the limit")
t.ok("mt.eoh()", mt.eoh(conn))
t.expect(conn, "EOH", SMFIR_CONTINUE)
t.body(conn, "A message with too many headers.\r\n")
t.eom(conn, m.qid)
mt.disconnect(conn)
