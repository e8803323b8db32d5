#!/bin/sh
# Idempotency-Key on POST against proximityd on a throwaway primary + replica.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_idempotency"
