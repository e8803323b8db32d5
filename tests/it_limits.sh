#!/bin/sh
# Rate limits, slow clients and connection caps of proximityd on a throwaway primary + replica.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_limits"
