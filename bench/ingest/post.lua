-- wrk script for bench/ingest/run.sh: every request POSTs one *distinct* generic call event
-- (its own call_id and event_id), so callhook really writes each one instead of answering
-- "duplicate". The same script drives nginx, so both servers get byte-identical traffic shapes.
--
--   wrk -s post.lua URL -- TOKEN PREFIX
--     TOKEN   bearer token of the bench source
--     PREFIX  start of every call_id / event_id (run.sh uses one per phase, e.g. "m-3f2a")
--
-- done() prints one machine-readable line:
--   BENCH issued=N requests=N ok=N status_errors=N ... rps=R p50_us=… p99_us=…
-- `issued` counts request() calls, i.e. requests written (or about to be written; plus the one
-- call wrk makes on thread 1 to inspect the script, which is never sent); `requests` is wrk's
-- count of completed answers. issued - requests = answers still in flight when wrk stopped (at
-- most one per connection): those events may be stored although wrk never saw the 2xx.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local token, prefix, headers, started, n
local from_base, tpl

function init(args)
   token = args[1] or "missing-token"
   prefix = args[2] or "w"
   n = 0
   issued = 0 -- global: read by done() through thread:get
   -- a random per-thread salt on top of the thread id, so two runs against the same database
   -- (BENCH_KEEP, manual reruns) do not collide either
   math.randomseed(os.time() * 1000 + tid * 7919 + math.floor(os.clock() * 1e6))
   prefix = string.format("%s-%d-%06x", prefix, tid, math.random(0, 0xffffff))
   headers = {
      ["Host"] = wrk.host .. ":" .. tostring(wrk.port),
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "callhook-bench/wrk",
   }
   started = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 200)
   local answered = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 194)
   local ended = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 8)
   from_base = 501000000 + tid * 100000
   -- ~600 bytes once filled in; the blanks are: id, id, sequence, from, extension, id
   tpl = '{"call_id":"%s","event_id":"%s-e","type":"call.ended","sequence":%d,' ..
      '"timestamp":"' .. ended .. '","direction":"inbound","status":"ended",' ..
      '"disposition":"answered","from":"0%d","to":"03-123-4567",' ..
      '"caller_name":"Dana Levi","extension":"%d",' ..
      '"started_at":"' .. started .. '","answered_at":"' .. answered .. '",' ..
      '"ended_at":"' .. ended .. '","duration_sec":192,"billsec":186,' ..
      '"recording_url":"https://rec.example.com/r/%s.mp3",' ..
      '"summary":"Asked about the May invoice; agent resent it by email.",' ..
      '"cost":{"amount":0.12,"currency":"USD"},' ..
      '"metadata":{"queue":"support","agent":"a-17","campaign":"spring-2024"}}'
end

function request()
   n = n + 1
   issued = n
   local id = prefix .. "-" .. n
   local body = string.format(tpl, id, id, n % 7, from_base + n % 100000, 1000 + n % 50, id)
   return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
   local issued_total = 0
   for _, t in ipairs(threads) do
      issued_total = issued_total + (t:get("issued") or 0)
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH issued=%d requests=%d ok=%d status_errors=%d connect_errors=%d read_errors=%d " ..
      "write_errors=%d timeouts=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d " ..
      "p999_us=%d max_us=%d\n",
      issued_total, summary.requests, summary.requests - e.status, e.status, e.connect, e.read,
      e.write, e.timeout, secs, summary.requests / secs,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max))
end
