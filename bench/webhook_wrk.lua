-- wrk driver for bench/webhook.py: posts pre-signed, distinct events; never repeats one.
-- The body file holds one event per line: "<X-Hub-Signature-256>\t<json body>".
-- Thread k of T posts lines k+1, k+1+T, ...; a thread that runs out sends a cheap GET
-- (counted as "spare") instead of repeating an event, so stored events stay countable.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(args[2])
  sigs, bodies = {}, {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local tab = line:find("\t", 1, true)
      table.insert(sigs, line:sub(1, tab - 1))
      table.insert(bodies, line:sub(tab + 1))
    end
    i = i + 1
  end
  next_i, posted, spare, ok, other = 1, 0, 0, 0, 0
end

function request()
  if next_i <= #bodies then
    local i = next_i
    next_i = next_i + 1
    posted = posted + 1
    return wrk.format("POST", "/webhooks/messenger",
      {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sigs[i]}, bodies[i])
  end
  spare = spare + 1
  return wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local posted_total, spare_total, ok_total, other_total = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    posted_total = posted_total + t:get("posted")
    spare_total = spare_total + t:get("spare")
    ok_total = ok_total + t:get("ok")
    other_total = other_total + t:get("other")
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"posted": %d, "spare": %d, "ok": %d, "other": %d, "errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    posted_total, spare_total, ok_total, other_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
