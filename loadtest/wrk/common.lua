-- common.lua — what the wrk scenarios share (the twins of loadtest/k6/*.js):
-- the query/data file, the owners' edit cycle, counting, the summary.
--
-- A scenario file sets `write_share` (fraction of requests that are writes:
-- 0 = searches only, 1 = owners only) and loads this file:
--   local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
--   dofile(here .. "common.lua")
--
-- The data file (after `--`, or $QUERIES) holds `lat<TAB>lng<TAB>radius_m`
-- lines from `proximity-gen queries`; a search is
-- GET /v1/search/nearby?latitude=..&longitude=..&radius=..&limit=20, and a
-- listing an owner creates sits at a line's centre. The owners' cycle:
-- POST a listing -> GET it with its X-Consistency-Token (read-your-writes)
-- -> PATCH with If-Match -> DELETE with If-Match. wrk gives no per-request
-- context, so each request carries an X-Request-Id that the service echoes
-- and the response is matched to it. $AUTH_TOKEN, when set, is sent as a
-- bearer token on writes.
--
-- done() prints one `RESULT scenario=.. rps=.. p50_ms=.. ... errors=..` line;
-- errors = non-2xx-as-expected answers + socket errors + unmatched answers.

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
local queries = {}
local nq = 0
local pos = 1
local seq = 0
local inflight = {}   -- request id -> {kind, ...}
local followups = {}  -- requests to send before starting new ones (FIFO)
local fhead, ftail = 1, 0
local credit = 0      -- accumulates write_share per new decision
local auth = os.getenv("AUTH_TOKEN")

-- counters read by done() through thread:get (numbers only)
n_search, n_create, n_read, n_update, n_delete = 0, 0, 0, 0, 0
bad, fallback, unmatched = 0, 0, 0
statuses = ""
local by_status = {}

local function load(path)
   local f, err = io.open(path, "r")
   if not f then
      error("wrk: cannot open the query file: " .. tostring(err))
   end
   for line in f:lines() do
      local lat, lng, radius = line:match("^([^\t#]+)\t([^\t]+)\t([^\t\r]+)")
      if lat then
         nq = nq + 1
         queries[nq] = {lat = lat, lng = lng, radius = radius}
      end
   end
   f:close()
   if nq == 0 then
      error("wrk: no queries in " .. path)
   end
end

function init(args)
   local path = args[1] or os.getenv("QUERIES") or os.getenv("SEARCH_QUERIES")
   if not path then
      error("wrk: no query file (pass it after --, or set QUERIES)")
   end
   load(path)
   -- golden-ratio offsets keep any number of threads apart in the file
   local phi = (math.sqrt(5) - 1) / 2
   pos = math.floor((tid * phi) % 1 * nq) + 1
   write_share = tonumber(os.getenv("WRITE_SHARE") or "") or write_share or 0
end

local function next_query()
   local q = queries[pos]
   pos = pos % nq + 1
   return q
end

local function send(kind, method, path, headers, body, ctx)
   seq = seq + 1
   local id = string.format("wrk-%d-%d", tid, seq)
   headers = headers or {}
   headers["X-Request-Id"] = id
   if body and auth then
      headers["Authorization"] = "Bearer " .. auth
   end
   ctx = ctx or {}
   ctx.kind = kind
   inflight[id] = ctx
   return wrk.format(method, path, headers, body)
end

local function push(fn)
   ftail = ftail + 1
   followups[ftail] = fn
end

function request()
   if fhead <= ftail then
      local fn = followups[fhead]
      followups[fhead] = nil
      fhead = fhead + 1
      return fn()
   end
   local q = next_query()
   -- A cycle is 3 writes + 1 read: start one often enough that writes
   -- make up write_share of all requests.
   local start_p = write_share >= 1 and 1 or write_share / (3 * (1 - write_share))
   credit = credit + start_p
   if credit >= 1 then
      credit = credit - 1
      local body = string.format(
         '{"name":"Load test %d-%d","categories":["cafe"],"latitude":%s,"longitude":%s,' ..
         '"address":{"city":"Loadtown","country":"NZ"},"price":%d}', tid, seq, q.lat, q.lng, 1 + seq % 4)
      return send("create", "POST", "/v1/businesses", {["Content-Type"] = "application/json"}, body)
   end
   return send("search", "GET", string.format(
      "/v1/search/nearby?latitude=%s&longitude=%s&radius=%s&limit=20", q.lat, q.lng, q.radius))
end

local function header(headers, name)
   local v = headers[name]
   if v then
      return v
   end
   name = name:lower()
   for k, val in pairs(headers) do
      if k:lower() == name then
         return val
      end
   end
   return nil
end

-- statuses ("kind:status=n ...") for done(), which reads strings only
local function count_status(kind, status)
   local key = kind .. ":" .. status
   by_status[key] = (by_status[key] or 0) + 1
   local s = {}
   for k, n in pairs(by_status) do
      s[#s + 1] = k .. "=" .. n
   end
   statuses = table.concat(s, " ")
end

local expect = {search = 200, create = 201, read = 200, update = 200, delete = 204}

function response(status, headers, body)
   local id = header(headers, "X-Request-Id")
   local ctx = id and inflight[id]
   if not ctx then
      -- not an answer to our request (no or an unknown X-Request-Id: e.g.
      -- the load balancer's own error page); its status says which
      unmatched = unmatched + 1
      count_status("unmatched", status)
      return
   end
   inflight[id] = nil
   local kind = ctx.kind
   _G["n_" .. kind] = _G["n_" .. kind] + 1
   if status ~= expect[kind] then
      bad = bad + 1
      count_status(kind, status)
      return
   end
   if kind == "search" then
      if header(headers, "X-Search-Source") ~= "index" then
         fallback = fallback + 1
      end
   elseif kind == "create" then
      local path, token = header(headers, "Location"), header(headers, "X-Consistency-Token")
      push(function()
         return send("read", "GET", path, {["X-Consistency-Token"] = token}, nil, {path = path})
      end)
   elseif kind == "read" then
      local path, etag = ctx.path, header(headers, "ETag")
      push(function()
         return send("update", "PATCH", path,
                     {["Content-Type"] = "application/merge-patch+json", ["If-Match"] = etag},
                     string.format('{"phone":"+64 4 %d"}', 1000000 + seq % 8999999), {path = path})
      end)
   elseif kind == "update" then
      local path, etag = ctx.path, header(headers, "ETag")
      push(function()
         return send("delete", "DELETE", path, {["If-Match"] = etag}, nil)
      end)
   end
end

local function threshold(name, value, limit, unit)
   if not limit then
      return true
   end
   local ok = value < limit
   io.write(string.format("  threshold %s < %g%s: %s (%.3f)\n", name, limit, unit, ok and "ok" or "CROSSED", value))
   return ok
end

function done(summary, latency, requests_)
   local t = {n_search = 0, n_create = 0, n_read = 0, n_update = 0, n_delete = 0,
              bad = 0, fallback = 0, unmatched = 0}
   local codes = {}
   for _, th in ipairs(threads) do
      for k, _ in pairs(t) do
         t[k] = t[k] + (th:get(k) or 0)
      end
      local s = th:get("statuses")
      if s and s ~= "" then
         codes[#codes + 1] = s
      end
   end
   local e = summary.errors
   local sockerr = e.connect + e.read + e.write + e.timeout
   local secs = summary.duration / 1e6
   local rps = summary.requests / secs
   local function ms(p)
      return latency:percentile(p) / 1000.0
   end
   local writes = t.n_create + t.n_update + t.n_delete
   local answered = t.n_search + t.n_read + writes
   local errors = t.bad + sockerr + t.unmatched
   io.write(string.format("%s: %d requests in %.2f s, %.0f requests/s; searches %d, creates %d, reads %d, updates %d, deletes %d (writes %.1f%%)\n",
                          scenario or "wrk", summary.requests, secs, rps, t.n_search, t.n_create, t.n_read,
                          t.n_update, t.n_delete, answered > 0 and 100 * writes / answered or 0))
   io.write(string.format("  latency p50 %.3f ms  p90 %.3f ms  p95 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
                          ms(50), ms(90), ms(95), ms(99), ms(99.9), latency.max / 1000.0))
   io.write(string.format("  unexpected status %d%s  socket errors %d (connect %d read %d write %d timeout %d)  unmatched %d  fallback answers %d\n",
                          t.bad, #codes > 0 and (" [" .. table.concat(codes, " ") .. "]") or "", sockerr,
                          e.connect, e.read, e.write, e.timeout, t.unmatched, t.fallback))
   -- Thresholds (the k6 scripts' p95/p99/error rate), when asked for.
   local err_rate = summary.requests > 0 and errors / summary.requests or 0
   local ok = threshold("p95", ms(95), tonumber(os.getenv("P95_MS") or ""), " ms")
   ok = threshold("p99", ms(99), tonumber(os.getenv("P99_MS") or ""), " ms") and ok
   ok = threshold("error rate", err_rate, tonumber(os.getenv("ERR_RATE") or ""), "") and ok
   io.write(string.format("RESULT scenario=%s rps=%.1f p50_ms=%.3f p90_ms=%.3f p95_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d non200=%d sockerr=%d unmatched=%d fallback=%d searches=%d creates=%d reads=%d updates=%d deletes=%d thresholds=%s n=%d\n",
                          scenario or "wrk", rps, ms(50), ms(90), ms(95), ms(99), ms(99.9), errors, t.bad, sockerr,
                          t.unmatched, t.fallback, t.n_search, t.n_create, t.n_read, t.n_update, t.n_delete,
                          ok and "ok" or "crossed", summary.requests))
end
