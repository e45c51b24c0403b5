-- wrk script: PATCH one resource (its id is the first argument) with a rename.
-- usage: wrk -s patch_one.lua URL -- ID TOKEN
-- Every name is new (a token of this run, then a counter): every PATCH appends one event.
local id, token, run = 1, "bench-key", "0"
function init(args)
  id = tonumber(args[1] or "1"); token = args[2] or token
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  run = string.format("%x%x", os.time(), math.random(0, 0xfffffff))
end
local counter = 0
function request()
  counter = counter + 1
  return wrk.format("PATCH", "/api/resources/" .. id,
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    '{"name":"one-' .. run .. '-' .. counter .. '.docx"}')
end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
