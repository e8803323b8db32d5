#!/bin/bash
# primary-init.sh — runs once, when the primary's data directory is created
# (docker-entrypoint-initdb.d): a replication role and a pg_hba line for the
# streaming replica. wal_level=logical etc. come from the command line.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
