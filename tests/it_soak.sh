#!/bin/sh
# Mixed search/write load with random replication-connection kills.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_soak"
