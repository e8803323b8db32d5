#!/bin/sh
# The logical replication stream and the pgoutput decoder against a
# throwaway primary (temporary slot, changes, keepalives, a killed walsender).
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_replstream"
