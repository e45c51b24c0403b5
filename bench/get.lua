-- wrk script: GET a random resource among N (or the list page when N is 0).
-- usage: wrk -s get.lua URL -- N TOKEN
local n, token = 1000, "bench-key"
function init(args)
  n = tonumber(args[1] or "1000"); token = args[2] or token
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function request()
  local path = "/api/resources"
  if n > 0 then path = path .. "/" .. math.random(1, n) end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
