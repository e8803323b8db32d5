-- search.lua — wrk script: replays the nearby-search query mix against
-- proximityd and prints what wrk's own summary lacks.
--
--   wrk -t1 -c32 -d20s --latency -s loadtest/search.lua http://127.0.0.1:PORT -- QUERIES.tsv
--
-- QUERIES.tsv holds `lat<TAB>lng<TAB>radius_m` lines (proximity-gen queries);
-- the file may also come from $SEARCH_QUERIES. Each wrk thread loads it once
-- and walks it cyclically from its own offset (thread k of n starts at k*N/n),
-- one query per request:
--   GET /v1/search/nearby?latitude=..&longitude=..&radius=..&limit=20
-- SEARCH_TARGET=business replays GET /v1/businesses/{1..SEARCH_IDS} instead
-- (to exercise the harness against a server without the search endpoint).
--
-- done() prints p50/p90/p99/p99.9 from wrk's histogram, non-200 responses by
-- status, socket errors, how many answers came from the PostGIS fallback
-- (X-Search-Source other than `index`), and one `RESULT key=value ...` line for scripts.

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

-- per-thread state (each wrk thread runs its own Lua state)
local requests = {}
local nreq = 0
local pos = 1
non200 = 0
fallback = 0
statuses = ""         -- "404=3 503=1", filled in at the end of the run
local by_status = {}

local function load_queries(path)
   local f, err = io.open(path, "r")
   if not f then
      error("search.lua: cannot open queries file: " .. tostring(err))
   end
   local out = {}
   for line in f:lines() do
      local lat, lng, radius = line:match("^([^\t]+)\t([^\t]+)\t([^\t\r]+)")
      if lat then
         out[#out + 1] = wrk.format("GET", string.format(
            "/v1/search/nearby?latitude=%s&longitude=%s&radius=%s&limit=20", lat, lng, radius))
      end
   end
   f:close()
   return out
end

function init(args)
   local target = os.getenv("SEARCH_TARGET") or "search"
   if target == "business" then
      local n = tonumber(os.getenv("SEARCH_IDS") or "1000")
      for i = 1, n do
         requests[i] = wrk.format("GET", "/v1/businesses/" .. i)
      end
   else
      local path = args[1] or os.getenv("SEARCH_QUERIES")
      if not path then
         error("search.lua: no queries file (pass it after --, or set SEARCH_QUERIES)")
      end
      requests = load_queries(path)
   end
   nreq = #requests
   if nreq == 0 then
      error("search.lua: no queries loaded")
   end
   -- setup() has set tid before init() runs, but wrk does not tell a thread
   -- how many there are: golden-ratio offsets keep any number of threads
   -- evenly apart (thread 0 at the start, 1 at 0.618 N, 2 at 0.236 N, ...).
   local phi = (math.sqrt(5) - 1) / 2
   pos = math.floor((tid * phi) % 1 * nreq) + 1
end

function request()
   local r = requests[pos]
   pos = pos + 1
   if pos > nreq then
      pos = 1
   end
   return r
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      by_status[status] = (by_status[status] or 0) + 1
      local s = {}
      for code, n in pairs(by_status) do
         s[#s + 1] = code .. "=" .. n
      end
      statuses = table.concat(s, " ")
   end
   -- Answers served by the PostGIS fallback (before the index is ready)
   -- carry X-Search-Source: postgis.
   for k, v in pairs(headers) do
      if k:lower() == "x-search-source" then
         if v ~= "index" then
            fallback = fallback + 1
         end
         break
      end
   end
end

function done(summary, latency, requests_)
   local n200, nfb, codes = 0, 0, {}
   for _, t in ipairs(threads) do
      n200 = n200 + (t:get("non200") or 0)
      nfb = nfb + (t:get("fallback") or 0)
      local s = t:get("statuses")
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
   io.write(string.format("search.lua: %d requests in %.2f s, %.0f requests/s\n",
                          summary.requests, secs, rps))
   io.write(string.format("  latency p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
                          ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000.0))
   io.write(string.format("  non-200 %d%s  socket errors %d (connect %d read %d write %d timeout %d)  fallback answers %d\n",
                          n200, #codes > 0 and (" [" .. table.concat(codes, " ") .. "]") or "",
                          sockerr, e.connect, e.read, e.write, e.timeout, nfb))
   io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d non200=%d sockerr=%d fallback=%d n=%d\n",
                          rps, ms(50), ms(90), ms(99), ms(99.9), n200 + sockerr, n200, sockerr, nfb,
                          summary.requests))
end
