-- tests/bench/web.lua - wrk hooks for tests/bench/web.sh.
--
-- wrk counts only answers >= 400 as errors, so a 303 to /login (a lost
-- session) would pass for a fast page: this script counts every answer
-- that is not 2xx, per thread, and adds them up in done(). It also prints
-- what wrk's --latency table lacks (the 95th percentile) and the request
-- rate, one "name value" line each, for web.sh to read.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    non2xx = 0
    bad_status = 0
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
    io.write(string.format("wrk_non2xx %d\n", bad))
    io.write(string.format("wrk_bad_status %d\n", status))
    io.write(string.format("wrk_socket_errors %d\n",
                           e.connect + e.read + e.write + e.timeout))
end
