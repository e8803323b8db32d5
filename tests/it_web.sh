#!/bin/sh
# CORS, gzip, caching headers, UTF-8 and the demo page's files, against
# proximityd on a throwaway primary + replica.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_web"
