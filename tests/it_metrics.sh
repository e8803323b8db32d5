#!/bin/sh
# /metrics in strict Prometheus text, figures that move; drain on SIGTERM.
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_metrics"
