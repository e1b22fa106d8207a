-- t-no-message-id: a message without a Message-ID header is still
-- accepted and stored (message_id '' in the database, with a warning);
-- run.sh finds it by its subject.
dofile(mtdir .. "/lib.lua")

local conn = t.connect()
t.message(conn, {
    headers = {
        { "From", "Partner <partner@outside.test>" },
        { "To", "Alice <alice@example.com>" },
        { "Subject", "no message-id " .. t.run },
        { "Date", "Tue, 24 Nov 2026 10:00:00 +0000" },
    },
    qid = "QNOMID" .. t.run,
    body = "Nobody gave this message an id.\r\n",
})
mt.disconnect(conn)
