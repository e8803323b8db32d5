-- mixed.lua — wrk scenario: 95% reads, 5% writes: searches plus owners' edit cycles (twin of loadtest/k6/mixed.js).
--   wrk -t1 -c16 -d30s --latency -s loadtest/wrk/mixed.lua URL -- QUERIES.tsv
scenario = "mixed"
write_share = 0.05
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
