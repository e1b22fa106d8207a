-- t-auth-outbound: the direction comes from the MAIL-stage macros Postfix
-- sends (the milter asks for them with smfi_setsymlist):
--   {auth_authen} set (SASL login)            -> out
--   {daemon_name} = ORIGINATING (submission)   -> out
--   {client_port} = 0 (sendmail(1) / pickup)   -> out
--   none of these, an external sender           -> in
-- The "out" cases use a message that would be "in" without the macro (an
-- internal recipient is on it), so the macro is what decides. Each message
-- has its own connection, as with Postfix's smtpd. run.sh checks
-- messages.direction.
dofile(mtdir .. "/lib.lua")

local function send(name, macros, from, rcpts, hfrom, hto)
    local conn = t.connect()
    t.message(conn, {
        macros = macros,
        from = from,
        rcpts = rcpts,
        hfrom = hfrom,
        hto = hto,
        mid = t.mid("dir-" .. name),
        subject = "direction " .. name .. " " .. t.run,
        qid = "QDIR" .. name .. t.run,
    })
    mt.disconnect(conn)
end

-- the brief's case: internal sender, external recipient, SASL login
send("auth", { "{auth_authen}", "alice", "{daemon_name}", "submission" },
    "<alice@example.com>", { "<partner@outside.test>" },
    "Alice <alice@example.com>", "Partner <partner@outside.test>")

-- SASL login, a colleague and a partner as recipients
send("auth-mixed", { "{auth_authen}", "alice" },
    "<alice@example.com>", { "<bob@example.com>", "<partner@outside.test>" },
    "Alice <alice@example.com>",
    "Bob <bob@example.com>, Partner <partner@outside.test>")

-- submission service without SASL (e.g. permit_mynetworks)
send("originating", { "{daemon_name}", "ORIGINATING" },
    "<bob@example.com>", { "<carol@example.com>", "<partner@outside.test>" },
    "Bob <bob@example.com>",
    "Carol <carol@example.com>, Partner <partner@outside.test>")

-- local submission: Postfix's cleanup reports client port 0
send("pickup", { "{client_port}", "0" },
    "<bob@example.com>", { "<carol@example.com>", "<partner@outside.test>" },
    "Bob <bob@example.com>",
    "Carol <carol@example.com>, Partner <partner@outside.test>")

-- inbound MX: no macros (Postfix sends an empty {auth_authen} as absent)
send("inbound", { "{daemon_name}", "smtpd", "{client_port}", "40123" },
    "<partner@outside.test>", { "<dave@example.com>" },
    "Partner <partner@outside.test>", "Dave <dave@example.com>")

-- no macros at all
send("nomacro", nil,
    "<partner@outside.test>", { "<dave@example.com>" },
    "Partner <partner@outside.test>", "Dave <dave@example.com>")
