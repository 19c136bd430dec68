-- One usage debit per request: POST <path_prefix><n> {"amount": 0.01, "idempotencyKey": k}
-- with n drawn uniformly from 1..users and k unique across threads and runs
-- (<run prefix>-<thread id>-<counter>).
--
--   wrk -t2 -c32 -d20s --latency -s debit.lua http://127.0.0.1:PORT -- \
--       PATH_PREFIX USERS TOKEN RUN_PREFIX [DELAY_MS]
--
-- DELAY_MS > 0 paces every connection (a fixed pause before each request) for a partial load.
-- done() prints one line "BENCHJSON {...}" with counts, errors and latency percentiles (us).

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

local counter = 0
local path_prefix, users, run_prefix, delay_ms

function init(args)
  path_prefix = args[1]
  users = tonumber(args[2])
  run_prefix = args[4]
  delay_ms = tonumber(args[5] or "0")
  math.randomseed(os.time() * 100 + tid)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  wrk.headers["Content-Type"] = "application/json"
  if delay_ms > 0 then
    -- Defined only when pacing: wrk takes its slower timer path whenever delay() exists.
    delay = function() return delay_ms end
  end
end

function request()
  counter = counter + 1
  local body = string.format('{"amount":0.01,"idempotencyKey":"%s-%d-%d"}',
                             run_prefix, tid, counter)
  return wrk.format(nil, path_prefix .. math.random(1, users), nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,' ..
    '"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
