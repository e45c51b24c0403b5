-- wrk script: one kind of request, to a random resource of a project or to a fixed path.
-- usage: wrk -s scale.lua URL -- IDS TOKEN METHOD PATH
-- IDS is FIRST:STEP:COUNT, the project's public ids (FIRST, FIRST + STEP, ..., COUNT of
-- them); "{id}" in PATH is replaced by one of them, drawn at random for each request.
-- A PATCH renames to a name new in every request (a token of this run, then a counter),
-- so every PATCH is a change and appends one event.
local first, step, count = 1, 1, 1000
local token, method, path, run = "bench-key", "GET", "/api/resources/{id}", "0"
function init(args)
  local a, b, c = string.match(args[1], "(%d+):(%d+):(%d+)")
  first, step, count = tonumber(a), tonumber(b), tonumber(c)
  token, method, path = args[2], args[3], args[4]
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  run = string.format("%x%x", os.time(), math.random(0, 0xfffffff))
end
local counter = 0
function request()
  local id = first + step * math.random(0, count - 1)
  local target = string.gsub(path, "{id}", tostring(id))
  local headers = {["Authorization"] = "Bearer " .. token}
  if method == "PATCH" then
    counter = counter + 1
    headers["Content-Type"] = "application/json"
    return wrk.format("PATCH", target, headers,
      '{"name":"file-' .. run .. '-' .. counter .. '.docx"}')
  end
  return wrk.format(method, target, headers)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
