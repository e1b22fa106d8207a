-- tests/bench/voip.lua - wrk hooks for tests/bench/voip.sh: POSTs signed
-- Zadarma NOTIFY_START notifications, one of its precomputed lines per
-- request (voip.sh writes them: "SIGNATURE<TAB>FORM-BODY", each with a
-- pbx_call_id of its own, known and unknown callers mixed), so every
-- request stores a new call and answers the routing question.
--
-- The file is given after "--" (wrk ... URL -- FILE); thread N of T
-- sends lines N, N+T, N+2T, ... and wraps around at the end (a line sent
-- again is a re-delivery: still answered, not stored again). Like
-- web.lua, it counts every answer that is not 2xx and prints the request
-- rate and percentiles as "name value" lines from done(). A third script
-- argument paces each connection (delay() in milliseconds); wrk's latency
-- counts from sending a request, never the pause.

local threads = {}
local counter = 0

function setup(thread)
    thread:set("tid", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    non2xx = 0
    bad_status = 0
    lines = {}
    local f = assert(io.open(args[1], "r"))
    for line in f:lines() do
        local sig, body = line:match("^([^\t]+)\t(.*)$")
        if sig then
            table.insert(lines, {sig, body})
        end
    end
    f:close()
    step = tonumber(args[2] or "1")
    pos = (tid or 0) + 1
    -- args[3]: milliseconds between one connection's requests (a fixed
    -- offered rate instead of as fast as the server answers)
    pause = tonumber(args[3] or "0")
end

if true then
    function delay()
        return pause
    end
end

function request()
    local l = lines[pos]
    pos = pos + step
    if pos > #lines then
        pos = (tid or 0) + 1
    end
    return wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Signature"] = l[1],
    }, l[2])
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        bad_status = status
    end
end

function done(summary, latency, requests)
    local bad, status = 0, 0
    for _, t in ipairs(threads) do
        bad = bad + t:get("non2xx")
        local s = t:get("bad_status")
        if s and s ~= 0 then
            status = s
        end
    end
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format("wrk_requests %d\n", summary.requests))
    io.write(string.format("wrk_rps %.1f\n", summary.requests / secs))
    io.write(string.format("wrk_p50_ms %.2f\n", latency:percentile(50) / 1000))
    io.write(string.format("wrk_p95_ms %.2f\n", latency:percentile(95) / 1000))
    io.write(string.format("wrk_p99_ms %.2f\n", latency:percentile(99) / 1000))
    io.write(string.format("wrk_max_ms %.2f\n", latency.max / 1000))
    io.write(string.format("wrk_non2xx %d\n", bad))
    io.write(string.format("wrk_bad_status %d\n", status))
    io.write(string.format("wrk_socket_errors %d\n",
                           e.connect + e.read + e.write + e.timeout))
end
