-- owners.lua — wrk scenario: owners editing listings: create, read back with the consistency token, PATCH and DELETE with If-Match (twin of loadtest/k6/owners.js).
--   wrk -t1 -c16 -d30s --latency -s loadtest/wrk/owners.lua URL -- QUERIES.tsv
scenario = "owners"
write_share = 1
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
