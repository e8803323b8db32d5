#!/bin/bash
# replica-entrypoint.sh — a streaming replica of pg-primary: the first start
# clones it with pg_basebackup (-R writes primary_conninfo and
# standby.signal), every start then runs postgres as a hot standby.
set -euo pipefail
: "${PRIMARY_HOST:?}" "${REPLICATION_PASSWORD:?}" "${PGDATA:?}"
export PGPASSWORD=$REPLICATION_PASSWORD
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do sleep 1; done
    rm -rf "${PGDATA:?}"/*
    pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator -D "$PGDATA" -R -X stream -P
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c max_wal_senders=20 -c max_replication_slots=20 -c wal_level=logical
