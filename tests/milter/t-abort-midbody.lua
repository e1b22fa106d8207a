-- t-abort-midbody: the MTA aborts a message half way through its body
-- (client gone, RSET, a later milter rejected it); the milter must forget
-- it, and the next message on the same connection must be captured whole.
-- run.sh checks: the second message is stored, the aborted one is not.
dofile(mtdir .. "/lib.lua")

local conn = t.connect()

-- message 1: envelope, headers, part of the body, then SMFIC_ABORT
local aborted = { mid = t.mid("abort-first"), subject = "aborted " .. t.run }
t.envelope(conn, aborted)
t.headers(conn, aborted)
t.body(conn, string.rep("first half of a body that never ends\r\n", 100))
t.ok("mt.abort()", mt.abort(conn))

-- message 2 on the same connection: accepted and stored
t.message(conn, {
    mid = t.mid("abort-second"),
    subject = "after abort " .. t.run,
    qid = "QABORT2" .. t.run,
    body = "The second message, complete.\r\n",
})

-- message 3: abort right after the envelope (no headers at all), then a
-- fourth message; the milter must still answer.
t.envelope(conn, { rcpts = { "<alice@example.com>" } })
t.ok("mt.abort()", mt.abort(conn))
t.message(conn, { mid = t.mid("abort-fourth"), subject = "after early abort " .. t.run })

mt.disconnect(conn)
