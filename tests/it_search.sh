#!/bin/sh
# Nearby search end to end, PostGIS as the oracle, on a throwaway cluster.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_search"
