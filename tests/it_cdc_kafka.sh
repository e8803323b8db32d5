#!/bin/sh
# Live updates through the relay and Kafka (librdkafka's mock cluster):
# the same tests as it_cdc.sh, primary → proximity-cdc → topic → proximityd.
PROXIMITY_TEST_CDC=kafka
export PROXIMITY_TEST_CDC
exec "${top_srcdir:-.}/tests/with-pg" "${top_builddir:-.}/tests/it_cdc"
