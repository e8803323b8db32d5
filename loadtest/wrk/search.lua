-- search.lua — wrk scenario: the nearby-search mix from the query file (twin of loadtest/k6/search.js).
--   wrk -t1 -c16 -d30s --latency -s loadtest/wrk/search.lua URL -- QUERIES.tsv
scenario = "search"
write_share = 0
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
