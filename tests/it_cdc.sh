#!/bin/sh
# Live updates through logical replication: two proximityd, one table.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_cdc"
