-- t-multi-message: three messages on one milter connection (Postfix reuses
-- the connection for every message of an SMTP session); each must be
-- accepted, and run.sh finds the three rows by Message-ID.
dofile(mtdir .. "/lib.lua")

local conn = t.connect()
for i = 1, 3 do
    t.message(conn, {
        from = "<partner" .. i .. "@outside.test>",
        rcpts = { "<alice@example.com>" },
        hfrom = "Partner " .. i .. " <partner" .. i .. "@outside.test>",
        mid = t.mid("multi-" .. i),
        subject = "multi " .. i .. " " .. t.run,
        qid = "QMULTI" .. i .. t.run,
        body = "Message number " .. i .. " of three.\r\n",
    })
end
mt.disconnect(conn)
