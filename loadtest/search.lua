-- search.lua — wrk script: replays the nearby-search query mix against
-- proximityd (make bench-search). Now the search scenario of the load
-- tests: loadtest/wrk/search.lua on loadtest/wrk/common.lua, whose done()
-- prints p50/p90/p95/p99/p99.9, non-2xx answers by status, socket errors,
-- answers from the PostGIS fallback and one `RESULT key=value ...` line.
--
--   wrk -t1 -c32 -d20s --latency -s loadtest/search.lua http://127.0.0.1:PORT -- QUERIES.tsv
--
-- QUERIES.tsv holds `lat<TAB>lng<TAB>radius_m` lines (proximity-gen queries);
-- the file may also come from $QUERIES (or $SEARCH_QUERIES).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk/search.lua")
