-- t-no-reply-negotiation: what the milter asks for at option negotiation.
-- With a current MTA (everything offered): skip connect, HELO, DATA and
-- unknown commands; no reply for MAIL, RCPT, headers, end of headers and
-- body; header values with their leading space; only SMFIF_DELRCPT as
-- action. With an old MTA that offers no "no reply" flags, the milter must
-- still answer every step (libmilter fakes the replies) and capture.
dofile(mtdir .. "/lib.lua")

local function want(conn, what, flag, expected)
    local got = mt.test_option(conn, flag)
    if got ~= expected then
        error(string.format("negotiation: %s is %s, expected %s", what,
            tostring(got), tostring(expected)))
    end
end

-- 1. a current MTA
local conn = t.connect()
local steps = {
    { "SMFIP_NOCONNECT", true }, { "SMFIP_NOHELO", true },
    { "SMFIP_NODATA", true }, { "SMFIP_NOUNKNOWN", true },
    { "SMFIP_NOMAIL", false }, { "SMFIP_NORCPT", false },
    { "SMFIP_NOHDRS", false }, { "SMFIP_NOEOH", false },
    { "SMFIP_NOBODY", false },
    { "SMFIP_NR_MAIL", true }, { "SMFIP_NR_RCPT", true },
    { "SMFIP_NR_HDR", true }, { "SMFIP_NR_EOH", true },
    { "SMFIP_NR_BODY", true },
    { "SMFIP_HDR_LEADSPC", true },
    { "SMFIP_RCPT_REJ", false }, { "SMFIP_SKIP", false },
}
for _, s in ipairs(steps) do
    want(conn, s[1], _G[s[1]], s[2])
end
if not mt.test_action(conn, SMFIF_DELRCPT) then
    error("negotiation: SMFIF_DELRCPT not requested")
end
for _, a in ipairs({ "SMFIF_ADDHDRS", "SMFIF_CHGBODY", "SMFIF_ADDRCPT",
    "SMFIF_CHGHDRS", "SMFIF_QUARANTINE", "SMFIF_CHGFROM",
    "SMFIF_ADDRCPT_PAR" }) do
    if _G[a] and mt.test_action(conn, _G[a]) then
        error("negotiation: requested action " .. a .. " it never uses")
    end
end
t.message(conn, { mid = t.mid("negotiate-new"), subject = "negotiate new " .. t.run })
mt.disconnect(conn)

-- 2. an old MTA: protocol version 2, SMFI_V2_PROT steps (0x7f: none of the
-- no-reply flags, no NODATA/NOUNKNOWN), SMFI_V2_ACTS actions (0x3f).
-- mt.negotiate's arguments are (conn, version, protocol steps, actions).
conn = mt.connect(t.socket)
if conn == nil then error("mt.connect() failed") end
t.ok("mt.negotiate(v2)", mt.negotiate(conn, 2, 0x7f, 0x3f))
for _, s in ipairs({ "SMFIP_NR_MAIL", "SMFIP_NR_RCPT", "SMFIP_NR_HDR",
    "SMFIP_NR_EOH", "SMFIP_NR_BODY", "SMFIP_HDR_LEADSPC", "SMFIP_NODATA",
    "SMFIP_NOUNKNOWN" }) do
    want(conn, s .. " (old MTA)", _G[s], false)
end
-- every step now waits for a reply: t.message checks each is CONTINUE
t.message(conn, {
    rcpts = { "<alice@example.com>", "<crm@crm.example.com>" },
    mid = t.mid("negotiate-old"),
    subject = "negotiate old " .. t.run,
    qid = "QNEGOLD" .. t.run,
})
if not mt.eom_check(conn, MT_RCPTDELETE, "crm@crm.example.com") then
    error("old MTA: capture recipient not deleted")
end
mt.disconnect(conn)
