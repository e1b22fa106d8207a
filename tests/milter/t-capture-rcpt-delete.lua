-- t-capture-rcpt-delete: capture addresses (crm[+token]@crm.example.com)
-- must be removed from the envelope at end of message so that nothing is
-- delivered to (or bounces from) them; every other recipient stays.
--
-- The milter hands smfi_delrcpt() the recipient exactly as the MTA gave it
-- in RCPT TO, angle brackets included; Postfix's cleanup parses either form
-- (with or without <>), so the bracketed form is what we expect here.
dofile(mtdir .. "/lib.lua")

local function deleted(conn, rcpt)
    -- the milter names recipients without angle brackets (Postfix takes both)
    return mt.eom_check(conn, MT_RCPTDELETE, (rcpt:gsub("^<(.*)>$", "%1")))
end

local conn = t.connect()
if not mt.test_action(conn, SMFIF_DELRCPT) then
    error("milter did not ask for SMFIF_DELRCPT")
end

-- 1. a token address among ordinary recipients
local keep = { "<bob@example.com>", "<carol@outside.test>" }
t.message(conn, {
    from = "<client@outside.test>",
    rcpts = { keep[1], "<crm+deal-1@crm.example.com>", keep[2] },
    hto = "Bob <bob@example.com>, Carol <carol@outside.test>",
    mid = t.mid("capture-1"),
    subject = "capture token " .. t.run,
    qid = "QCAPT1" .. t.run,
})
if not deleted(conn, "<crm+deal-1@crm.example.com>") then
    error("capture recipient <crm+deal-1@crm.example.com> was not deleted")
end
for _, r in ipairs(keep) do
    if deleted(conn, r) then
        error("ordinary recipient " .. r .. " was deleted")
    end
end

-- 2. the plain capture address, in capitals, next to look-alikes that are
-- not capture addresses
local lookalikes = { "<crmx@crm.example.com>", "<crm@example.com>",
    "<crm+deal-2@other.example.org>", "<dave@example.com>" }
local rcpts = { "<CRM@CRM.Example.COM>" }
for _, r in ipairs(lookalikes) do table.insert(rcpts, r) end
t.message(conn, {
    from = "<client@outside.test>",
    rcpts = rcpts,
    mid = t.mid("capture-2"),
    subject = "capture plain " .. t.run,
    qid = "QCAPT2" .. t.run,
})
if not deleted(conn, "<CRM@CRM.Example.COM>") then
    error("capture recipient <CRM@CRM.Example.COM> was not deleted as given")
end
for _, r in ipairs(lookalikes) do
    if deleted(conn, r) then
        error("non-capture recipient " .. r .. " was deleted")
    end
end

-- 3. no capture recipient: nothing deleted (the previous message's
-- requests must not leak into this one)
t.message(conn, {
    from = "<client@outside.test>",
    rcpts = { "<bob@example.com>" },
    mid = t.mid("capture-3"),
    subject = "capture none " .. t.run,
})
if deleted(conn, "<bob@example.com>") or
    deleted(conn, "<CRM@CRM.Example.COM>") then
    error("recipient deleted from a message without capture addresses")
end
mt.disconnect(conn)
