-- t-close-no-connect: connections that end before any message - closed
-- without a word, closed right after negotiation, closed mid-message
-- without QUIT - must not hurt the milter: a normal message afterwards is
-- still accepted (and run.sh checks the milter process is still alive).
dofile(mtdir .. "/lib.lua")

-- disconnect(conn, polite): polite = false drops the socket without
-- SMFIC_QUIT (miltertest >= 1.4).
local function disconnect(conn, polite)
    mt.disconnect(conn, polite)
end

-- 1. connect, then close at once: no negotiation at all
disconnect(mt.connect(t.socket), false)

-- 2. connect, then QUIT before negotiation
disconnect(mt.connect(t.socket), true)

-- 3. negotiate, then QUIT
disconnect(t.connect(), true)

-- 4. negotiate, then drop the socket
disconnect(t.connect(), false)

-- 5. a message cut off mid-body by a dropped connection
local conn = t.connect()
local m = { mid = t.mid("close-midmsg"), subject = "dropped " .. t.run }
t.envelope(conn, m)
t.headers(conn, m)
t.body(conn, "half a body\r\n")
disconnect(conn, false)

-- 6. the same after the envelope only
conn = t.connect()
t.envelope(conn, { rcpts = { "<alice@example.com>" } })
disconnect(conn, true)

-- a few ms for libmilter to notice the closed sockets
mt.sleep(0.2)

-- the milter still works
conn = t.connect()
t.message(conn, { mid = t.mid("close-after"), subject = "after closes " .. t.run })
mt.disconnect(conn)
