#!/bin/sh
# migrate.sh — apply the numbered schema migrations NNNN_name.sql in order.
#
# usage: migrate.sh DATABASE_URL [SQL_DIR]     (SQL_DIR: this script's dir)
#
# Each migration runs in its own transaction together with its row in
# schema_migrations (version, name, checksum = sha256 of the file), under a
# transaction-level advisory lock, and re-checks inside that transaction
# whether a concurrent run applied it first; so concurrent runs are safe and
# re-running applies nothing new.  A migration whose file changed after it
# was applied is refused: add a new migration instead.  Migrations must not
# contain transaction control (BEGIN/COMMIT) or statements that cannot run in
# a transaction block (CREATE INDEX CONCURRENTLY).  PSQL overrides the client.
set -eu

prog=migrate
die() {
    echo "$prog: $*" >&2
    exit 1
}

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
    echo "usage: $0 DATABASE_URL [SQL_DIR]" >&2
    exit 2
fi
URL=$1
SQL_DIR=${2:-$(dirname "$0")}
[ -d "$SQL_DIR" ] || die "no such directory: $SQL_DIR"

if [ -z "${PSQL:-}" ]; then
    # Debian's own client directly (its /usr/bin/psql wrapper is slower).
    PSQL=$(for d in /usr/lib/postgresql/*/bin; do [ -x "$d/psql" ] && echo "$d/psql"; done | sort -V | tail -n 1)
    [ -n "$PSQL" ] || PSQL=psql
fi
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found"

# Any constant shared by every runner of this schema.
LOCK="pg_advisory_xact_lock(hashtext('proximity.schema_migrations'))"

run_psql() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
        "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$URL" "$@"
}

# The bookkeeping table, created under the lock so two first runs do not race.
run_psql -c "SELECT $LOCK; CREATE TABLE IF NOT EXISTS schema_migrations (
        version    int PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null ||
    die "cannot reach the database or create schema_migrations"

applied=$(run_psql -At -F ' ' -c "SELECT version, checksum FROM schema_migrations ORDER BY version") ||
    die "cannot read schema_migrations"

n_applied=0
n_skipped=0
seen=' '
for f in "$SQL_DIR"/[0-9][0-9][0-9][0-9]_*.sql; do
    [ -f "$f" ] || continue
    base=${f##*/}
    case $base in
    *[!A-Za-z0-9_.-]*) die "bad migration file name: $base" ;;
    esac
    num=${base%%_*}
    version=$((1$num - 10000))
    case $seen in
    *" $version "*) die "two migrations share version $num (in $SQL_DIR)" ;;
    esac
    seen="$seen$version "
    sum=$(sha256sum <"$f" | cut -d ' ' -f 1)

    old=$(printf '%s\n' "$applied" | awk -v v="$version" '$1 == v { print $2 }')
    if [ -n "$old" ]; then
        if [ "$old" != "$sum" ]; then
            die "$base was applied with checksum $old but the file's is now $sum; an applied migration must not change (add a new one)"
        fi
        n_skipped=$((n_skipped + 1))
        continue
    fi

    # psql quoting of the \i argument: '' for ' and \\ for \.
    qf=$(printf '%s' "$f" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/''/g")
    out=$(run_psql <<EOF
BEGIN;
SELECT $LOCK AS locked \\gset
SELECT count(*) > 0 AS applied, coalesce(bool_and(checksum = '$sum'), true) AS same
  FROM schema_migrations WHERE version = $version \\gset m_
\\if :m_applied
  \\if :m_same
    \\echo MIGRATE-RESULT skipped
  \\else
    DO \$\$ BEGIN RAISE EXCEPTION 'migration $base was applied concurrently with another checksum'; END \$\$;
  \\endif
\\else
  \\i '$qf'
  INSERT INTO schema_migrations (version, name, checksum) VALUES ($version, '$base', '$sum');
  \\echo MIGRATE-RESULT applied
\\endif
COMMIT;
EOF
    ) || {
        [ -z "$out" ] || printf '%s\n' "$out" | grep -v '^MIGRATE-RESULT' >&2
        die "$base failed; nothing of it was applied"
    }
    printf '%s\n' "$out" | grep -v '^MIGRATE-RESULT' || true
    case $out in
    *"MIGRATE-RESULT applied"*)
        echo "$prog: applied $base"
        n_applied=$((n_applied + 1))
        ;;
    *"MIGRATE-RESULT skipped"*)
        n_skipped=$((n_skipped + 1))
        ;;
    *) die "$base: unexpected psql output" ;;
    esac
done

echo "$prog: $n_applied applied, $n_skipped already applied"
