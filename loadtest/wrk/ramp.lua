-- ramp.lua — wrk scenario: the mixed load, run by loadtest/run-wrk.sh in rising connection steps with the p95/p99/error-rate thresholds of loadtest/k6/ramp.js (P95_MS, P99_MS, ERR_RATE); wrk has no arrival-rate model.
--   wrk -t1 -c16 -d30s --latency -s loadtest/wrk/ramp.lua URL -- QUERIES.tsv
scenario = "ramp"
write_share = 0.05
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
