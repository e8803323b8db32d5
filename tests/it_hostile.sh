#!/bin/sh
# Hostile strings through every field, parameter and header of proximityd on a throwaway primary + replica.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_hostile"
