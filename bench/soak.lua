-- wrk script: the soak's mix of requests over a project's resources, each drawn at random:
-- 40% GET one, 20% a list page, 10% a history page, 10% activity page 1, 20% PATCH.
-- usage: wrk -s soak.lua URL -- IDS TOKEN PAGES
-- IDS is FIRST:STEP:COUNT, the project's public ids (FIRST, FIRST + STEP, ..., COUNT of
-- them); a list page is one of pages 1..PAGES of 20. Every PATCH renames to a new name
-- (a token of this run, then a counter), so each one appends one event.
local first, step, count, pages = 1, 1, 1000, 50
local token, run = "bench-key", "0"
function init(args)
  local a, b, c = string.match(args[1], "(%d+):(%d+):(%d+)")
  first, step, count = tonumber(a), tonumber(b), tonumber(c)
  token, pages = args[2], tonumber(args[3])
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  run = string.format("%x%x", os.time(), math.random(0, 0xfffffff))
end
local counter = 0
function request()
  local roll = math.random(1, 100)
  local path = "/api/resources/" .. (first + step * math.random(0, count - 1))
  local headers = {["Authorization"] = "Bearer " .. token}
  if roll <= 40 then
    return wrk.format("GET", path, headers)
  elseif roll <= 60 then
    return wrk.format("GET", "/api/resources?page=" .. math.random(1, pages) .. "&per_page=20",
      headers)
  elseif roll <= 70 then
    return wrk.format("GET", path .. "/history", headers)
  elseif roll <= 80 then
    return wrk.format("GET", "/api/activity?page=1&per_page=20", headers)
  end
  counter = counter + 1
  headers["Content-Type"] = "application/json"
  return wrk.format("PATCH", path, headers, '{"name":"soak-' .. run .. '-' .. counter .. '.docx"}')
end
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
