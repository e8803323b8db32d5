#!/bin/sh
# Database faults (replica, primary, both, a slow table) against proximityd.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_faults"
