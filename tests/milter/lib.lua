-- tests/milter/lib.lua - helpers shared by the t-*.lua miltertest scripts.
--
-- Loaded with dofile(); miltertest runs each script with the globals set by
-- tests/milter/run.sh through -D: mtdir (this directory), run (a token
-- unique to the run, put in Message-IDs and subjects so the database checks
-- find the rows) and socket (the milter, also in CRMGATE_MILTER_SOCKET).
--
-- Every helper raises error(...) on a protocol failure, so a script fails
-- (miltertest exits non-zero) as soon as the milter misbehaves.

t = {}

local unpack = table.unpack or unpack

-- miltertest 1.6 exits 1 on a script error without printing its message:
-- print it (with the script line) before raising it.
local raise = error
function error(msg, level)
    level = (level or 1) + 1
    local where = debug.getinfo(level, "Sl")
    io.stderr:write(string.format("FAIL: %s%s\n",
        where and (where.short_src .. ":" .. where.currentline .. ": ") or "",
        tostring(msg)))
    io.stderr:flush()
    raise(msg, level)
end

-- The same for errors raised inside miltertest's own functions (connection
-- refused, a read timeout, ...): wrap every mt.* function.
for name, fn in pairs(mt) do
    mt[name] = function(...)
        local r = table.pack(pcall(fn, ...))
        if not r[1] then
            error("mt." .. name .. "(): " .. tostring(r[2]), 2)
        end
        return table.unpack(r, 2, r.n)
    end
end

t.socket = os.getenv("CRMGATE_MILTER_SOCKET") or socket or
    "inet:8892@127.0.0.1"
t.run = run or os.getenv("MT_RUN") or "norun"

-- SMFIC_BODYEOB: macros for end of message ("i", the queue id) travel with
-- this command code; miltertest does not export the constant.
t.SMFIC_EOM = string.byte("E")

local names = {
    [SMFIR_CONTINUE] = "CONTINUE", [SMFIR_ACCEPT] = "ACCEPT",
    [SMFIR_REJECT] = "REJECT", [SMFIR_TEMPFAIL] = "TEMPFAIL",
    [SMFIR_DISCARD] = "DISCARD", [SMFIR_REPLYCODE] = "REPLYCODE",
}

-- reply_name(code): "ACCEPT", ... or the character, for error messages.
function t.reply_name(code)
    if names[code] then return names[code] end
    if code == 0 then return "none" end
    return string.format("'%s' (%d)", string.char(code), code)
end

-- ok(what, result): a miltertest call returns nil on success or a string.
function t.ok(what, result)
    if result ~= nil then
        error(what .. " failed: " .. tostring(result), 2)
    end
end

-- connect(): a negotiated connection. The negotiation is explicit so that
-- miltertest records the protocol options (no-reply steps) the milter chose.
function t.connect()
    local conn = mt.connect(t.socket)
    if conn == nil then
        error("mt.connect(" .. t.socket .. ") failed", 2)
    end
    t.ok("mt.negotiate()", mt.negotiate(conn, nil, nil, nil))
    return conn
end

-- header(conn, name, value): as Postfix sends it (a leading space when the
-- milter asked for SMFIP_HDR_LEADSPC).
function t.header(conn, name, value)
    if mt.test_option(conn, SMFIP_HDR_LEADSPC) then
        value = " " .. value
    end
    t.ok("mt.header(" .. name .. ")", mt.header(conn, name, value))
end

-- expect(conn, what, codes...): the last reply is one of codes.
function t.expect(conn, what, ...)
    local got = mt.getreply(conn)
    for _, c in ipairs({...}) do
        if got == c then return got end
    end
    error(what .. ": unexpected reply " .. t.reply_name(got), 2)
end

-- envelope(conn, m): macros, MAIL FROM and RCPT TO of message table m:
--   m.from      envelope sender, e.g. "<a@b>" (default "<partner@outside.test>")
--   m.rcpts     list of envelope recipients (default {"<alice@example.com>"})
--   m.macros    list {name, value, name, value, ...} sent with SMFIC_MAIL
function t.envelope(conn, m)
    if m.macros and #m.macros > 0 then
        t.ok("mt.macro(MAIL)", mt.macro(conn, SMFIC_MAIL, unpack(m.macros)))
    end
    t.ok("mt.mailfrom()", mt.mailfrom(conn, m.from or "<partner@outside.test>"))
    t.expect(conn, "MAIL", SMFIR_CONTINUE)
    for _, r in ipairs(m.rcpts or { "<alice@example.com>" }) do
        t.ok("mt.rcptto(" .. r .. ")", mt.rcptto(conn, r))
        t.expect(conn, "RCPT " .. r, SMFIR_CONTINUE)
    end
end

-- headers(conn, m): m.headers, a list of {name, value} pairs; when nil, a
-- default set built from m.mid (Message-ID without <>), m.subject,
-- m.hfrom, m.hto. Then end of header.
function t.headers(conn, m)
    local hs = m.headers
    if hs == nil then
        hs = {
            { "From", m.hfrom or "Partner <partner@outside.test>" },
            { "To", m.hto or "Alice <alice@example.com>" },
            { "Subject", m.subject or ("miltertest " .. t.run) },
            { "Date", "Tue, 24 Nov 2026 10:00:00 +0000" },
        }
        if m.mid then
            table.insert(hs, { "Message-ID", "<" .. m.mid .. ">" })
        end
    end
    for _, h in ipairs(hs) do
        t.header(conn, h[1], h[2])
    end
    t.ok("mt.eoh()", mt.eoh(conn))
    t.expect(conn, "EOH", SMFIR_CONTINUE)
end

-- body(conn, text): one body chunk (< 64 KiB: libmilter's limit).
function t.body(conn, text)
    t.ok("mt.bodystring()", mt.bodystring(conn, text))
    t.expect(conn, "BODY", SMFIR_CONTINUE)
end

-- eom(conn, qid): end of message, with the queue id macro "i" when given;
-- the milter never rejects, so the answer must be ACCEPT (or CONTINUE).
function t.eom(conn, qid)
    if qid then
        t.ok("mt.macro(EOM)", mt.macro(conn, t.SMFIC_EOM, "i", qid))
    end
    t.ok("mt.eom()", mt.eom(conn))
    return t.expect(conn, "EOM", SMFIR_ACCEPT, SMFIR_CONTINUE)
end

-- message(conn, m): a whole message; m.body (default a short line) and
-- m.qid as for eom().
function t.message(conn, m)
    t.envelope(conn, m)
    t.headers(conn, m)
    t.body(conn, m.body or ("Body of " .. (m.mid or "a test message") .. ".\r\n"))
    return t.eom(conn, m.qid)
end

-- mid(name): a Message-ID (without <>) unique to this run.
function t.mid(name)
    return name .. "." .. t.run .. "@miltertest.test"
end

return t
