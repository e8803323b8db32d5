#!/bin/sh
# it_migrate.sh — integration test of sql/migrate.sh and of the rules the
# schema enforces (versions, server-owned fields, constraints, snapping,
# publication), plus the harness's primary/replica pair.  Runs under
# tests/with-pg (a throwaway cluster) unless already inside it; works against
# an external cluster too (PROXIMITY_TEST_PRIMARY_URL), using scratch
# databases it drops afterwards.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
if [ -z "${PROXIMITY_WITH_PG:-}" ]; then
    exec bash "$top_srcdir/tests/with-pg" sh "$0" "$@"
fi

MIGRATE="$top_srcdir/sql/migrate.sh"
SQL_DIR="$top_srcdir/sql"
# The server's own client: Debian's /usr/bin/psql wrapper costs ~60 ms a call.
PSQL=$(for d in /usr/lib/postgresql/*/bin; do [ -x "$d/psql" ] && echo "$d/psql"; done | sort -V | tail -n 1)
[ -n "$PSQL" ] || PSQL=psql
export PSQL

# URL of the same server with another database name.
with_db() {
    printf '%s\n' "$1" | sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\\1/$2#"
}

PRIMARY=$PROXIMITY_PRIMARY_URL
REPLICA=${PROXIMITY_REPLICA_URLS%%,*}
S=it_migrate_$$
S2=it_migrate_conc_$$
SU=$(with_db "$PRIMARY" "$S")
SRU=$(with_db "${REPLICA:-$PRIMARY}" "$S")
tmp=$(mktemp -d)

cleanup() {
    for db in "$S" "$S2"; do
        "$PSQL" -X -q -d "$PRIMARY" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failures=0
known=0
ok() { echo "ok - $1"; }
not_ok() {
    echo "not ok - $1"
    failures=$((failures + 1))
}

# sql URL STATEMENT: one value (unaligned), stops on error.
sql() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

check_eq() { # DESC EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

# rejects DESC PATTERN STATEMENT: the statement must fail with PATTERN in
# its error.  KNOWN=1 marks a known schema bug: reported, not counted.
rejects() {
    if err=$(sql "$SU" "$3" 2>&1 >/dev/null); then
        if [ "${KNOWN:-0}" = 1 ]; then
            echo "XFAIL - $1: accepted (PostGIS folds out-of-range geography input before constraints run; see sql/0003)"
            known=$((known + 1))
        else
            not_ok "$1: was accepted"
        fi
    elif printf '%s' "$err" | grep -q "$2"; then
        ok "$1"
        [ "${KNOWN:-0}" = 1 ] && echo "# XPASS: $1 is rejected now; drop KNOWN=1 for it"
    else
        not_ok "$1: failed with an unexpected error: $err"
    fi
    return 0
}

sql "$PRIMARY" "CREATE DATABASE $S" >/dev/null

# ---- migrate: idempotent, recorded, checksummed, atomic, concurrent-safe ----

nfiles=$(find "$SQL_DIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]_*.sql' | wc -l | tr -d ' ')
out=$(sh "$MIGRATE" "$SU" 2>&1) || { echo "$out"; not_ok "first migrate run"; exit 1; }
check_eq "first run applies every migration" "migrate: $nfiles applied, 0 already applied" "$(printf '%s\n' "$out" | tail -n 1)"
out=$(sh "$MIGRATE" "$SU" 2>&1) || { echo "$out"; not_ok "second migrate run"; exit 1; }
check_eq "second run applies nothing" "migrate: 0 applied, $nfiles already applied" "$(printf '%s\n' "$out" | tail -n 1)"
check_eq "schema_migrations has one row per file" "$nfiles" "$(sql "$SU" "SELECT count(*) FROM schema_migrations")"
check_eq "versions 1 and 2 recorded by name" "1 0001_businesses.sql|2 0002_categories.sql" \
    "$(sql "$SU" "SELECT string_agg(version || ' ' || name, '|' ORDER BY version) FROM schema_migrations WHERE version <= 2")"
sum1=$(sha256sum <"$SQL_DIR/0001_businesses.sql" | cut -d ' ' -f 1)
check_eq "checksum is the file's sha256" "$sum1" "$(sql "$SU" "SELECT checksum FROM schema_migrations WHERE version = 1")"

mkdir "$tmp/changed" "$tmp/bad" "$tmp/good"
for d in changed bad good; do
    cp "$SQL_DIR"/[0-9][0-9][0-9][0-9]_*.sql "$tmp/$d/"
    chmod u+w "$tmp/$d"/*.sql
done
echo "-- an edit after the fact" >>"$tmp/changed/0002_categories.sql"
if out=$(sh "$MIGRATE" "$SU" "$tmp/changed" 2>&1); then
    not_ok "a changed applied migration is refused (it was accepted)"
elif printf '%s' "$out" | grep -q 'checksum'; then
    ok "a changed applied migration is refused: $(printf '%s' "$out" | tail -n 1 | cut -c 1-90)..."
else
    not_ok "a changed applied migration is refused with a clear message (got: $out)"
fi

cat >"$tmp/bad/0099_half.sql" <<'EOF'
CREATE TABLE it_half_applied (x int);
SELECT 1 / 0;
EOF
if sh "$MIGRATE" "$SU" "$tmp/bad" >/dev/null 2>&1; then
    not_ok "a failing migration makes migrate fail"
else
    ok "a failing migration makes migrate fail"
fi
check_eq "a failing migration leaves nothing behind" "0|" \
    "$(sql "$SU" "SELECT count(*) FROM schema_migrations WHERE version = 99")|$(sql "$SU" "SELECT to_regclass('it_half_applied')")"
echo "CREATE TABLE it_applied (x int);" >"$tmp/good/0099_more.sql"
out=$(sh "$MIGRATE" "$SU" "$tmp/good" 2>&1) || not_ok "a new migration applies ($out)"
check_eq "only the new migration is applied" "migrate: 1 applied, $nfiles already applied" "$(printf '%s\n' "$out" | tail -n 1)"

sql "$PRIMARY" "CREATE DATABASE $S2" >/dev/null
S2U=$(with_db "$PRIMARY" "$S2")
pids=
for i in 1 2 3; do
    sh "$MIGRATE" "$S2U" >"$tmp/conc.$i" 2>&1 &
    pids="$pids $!"
done
conc_ok=0
for p in $pids; do wait "$p" || conc_ok=1; done
check_eq "three concurrent runs all succeed" 0 "$conc_ok"
check_eq "concurrent runs apply each migration once" "$nfiles $nfiles" \
    "$(sql "$S2U" "SELECT count(*) || ' ' || count(DISTINCT version) FROM schema_migrations")"
check_eq "concurrent runs apply $nfiles migrations in total" "$nfiles" \
    "$(cat "$tmp"/conc.* | grep -c '^migrate: applied ')"

# ---- versions and server-owned fields --------------------------------------

ins() { # NAME -> "id version"
    sql "$SU" "INSERT INTO businesses (owner, name, categories, location)
        VALUES ('alice', '$1', '{cafe}', 'SRID=4326;POINT(2.35 48.85)') RETURNING id || ' ' || version"
}
ver() { sql "$SU" "SELECT version FROM businesses WHERE id = $1"; }

r=$(ins a)
a=${r% *} va=${r#* }
r=$(ins b)
b=${r% *} vb=${r#* }
created_a=$(sql "$SU" "SELECT created_at FROM businesses WHERE id = $a")
check_gt() { # DESC SMALLER BIGGER
    if [ "$3" -gt "$2" ]; then ok "$1 ($2 < $3)"; else not_ok "$1 ($2, $3)"; fi
}
check_gt "insert: version increases across rows" "$va" "$vb"

sql "$SU" "UPDATE businesses SET name = 'a2', version = 1, created_at = '2000-01-01' WHERE id = $a" >/dev/null
va2=$(ver "$a")
check_gt "update: version increases past every earlier change" "$vb" "$va2"
check_eq "update: created_at preserved (even when set explicitly)" "$created_a" "$(sql "$SU" "SELECT created_at FROM businesses WHERE id = $a")"
check_eq "update: updated_at moves forward" t "$(sql "$SU" "SELECT updated_at > created_at FROM businesses WHERE id = $a")"

sql "$SU" "UPDATE businesses SET deleted_at = now() WHERE id = $b" >/dev/null
vb2=$(ver "$b")
check_gt "soft delete: version increases" "$va2" "$vb2"

sql "$SU" "UPDATE businesses SET price = 2 WHERE id IN ($a, $b)" >/dev/null
check_eq "multi-row update: distinct versions, all newer" "2 true" \
    "$(sql "$SU" "SELECT count(DISTINCT version) || ' ' || bool_and(version > $vb2) FROM businesses WHERE id IN ($a, $b)")"
check_eq "insert ignores a client-supplied version and created_at" "true true" \
    "$(sql "$SU" "INSERT INTO businesses (owner, name, location, version, created_at)
        VALUES ('o', 'v', 'SRID=4326;POINT(0 0)', 1, '2000-01-01') RETURNING (version > $vb2) || ' ' || (created_at > '2001-01-01')")"
rejects "id is immutable" 'immutable' "UPDATE businesses SET id = id + 1000000 WHERE id = $a"
check_eq "a rejected update changes nothing" "$created_a" "$(sql "$SU" "SELECT created_at FROM businesses WHERE id = $a")"

# ---- constraints -----------------------------------------------------------

# INSERT of a business with one field overridden (SQL expressions).
row() { # COLUMN VALUE
    cols="owner, name, categories, country, price, location"
    vals="'o', 'n', '{cafe}'::text[], 'FR', 2, 'SRID=4326;POINT(2.35 48.85)'::geography"
    # shellcheck disable=SC2001
    case $1 in
    name) vals=$(echo "$vals" | sed "s/'n'/$2/") ;;
    categories) vals=$(echo "$vals" | sed "s/'{cafe}'::text\\[\\]/$2/") ;;
    country) vals=$(echo "$vals" | sed "s/'FR'/$2/") ;;
    price) vals=$(echo "$vals" | sed "s/, 2, /, $2, /") ;;
    location) vals=$(echo "$vals" | sed "s/'SRID=4326;POINT(2.35 48.85)'::geography/$2/") ;;
    esac
    echo "INSERT INTO businesses ($cols) VALUES ($vals)"
}
pt() { echo "ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography"; }

if sql "$SU" "$(row none x)" >/dev/null; then ok "a valid row is accepted (control)"; else not_ok "a valid row is accepted (control)"; fi
KNOWN=1 rejects "latitude 91 is rejected" 'check constraint\|out of range' "$(row location "$(pt 0 91)")"
KNOWN=1 rejects "longitude 181 is rejected" 'check constraint\|out of range' "$(row location "$(pt 181 0)")"
KNOWN=1 rejects "latitude -90.5 is rejected" 'check constraint\|out of range' "$(row location "$(pt 0 -90.5)")"
rejects "NaN latitude is rejected" 'check constraint' "$(row location "$(pt 2 "'NaN'")")"
rejects "NaN longitude is rejected" 'check constraint' "$(row location "$(pt "'NaN'" 48)")"
rejects "NaN coordinates are rejected" 'check constraint' "$(row location "$(pt "'NaN'" "'NaN'")")"
rejects "an empty point is rejected" 'check constraint\|empty' "$(row location "'SRID=4326;POINT EMPTY'::geography")"
rejects "a non-point location is rejected" 'does not match column type' "$(row location "'SRID=4326;LINESTRING(0 0,1 1)'::geography")"
rejects "a missing location is rejected" 'not-null' "$(row location NULL)"
rejects "an unknown category is rejected" 'businesses_categories_known' "$(row categories "'{cafe,unicorn}'")"
rejects "a NULL category is rejected" 'check constraint' "$(row categories "'{cafe,NULL}'")"
rejects "eleven categories are rejected" 'check constraint' "$(row categories "'{cafe,bar,gym,spa,bank,atm,park,museum,cinema,theater,library}'")"
rejects "an empty name is rejected" 'check constraint' "$(row name "''")"
rejects "a 201-character name is rejected" 'check constraint' "$(row name "repeat('x', 201)")"
rejects "price 5 is rejected" 'check constraint' "$(row price 5)"
rejects "price 0 is rejected" 'check constraint' "$(row price 0)"
rejects "country 'usa' is rejected" 'check constraint' "$(row country "'usa'")"
rejects "country 'fr' is rejected" 'check constraint' "$(row country "'fr'")"
rejects "country 'FRA' is rejected" 'check constraint' "$(row country "'FRA'")"

# ---- coordinates snapped to 1e-7 degree ------------------------------------

check_eq "coordinates are snapped to the 1e-7 grid" "131234568 529876543 -1234568 -899999999 true" \
    "$(sql "$SU" "WITH r AS (
          INSERT INTO businesses (owner, name, location) VALUES
            ('o', 's1', $(pt 13.123456789 52.987654321)),
            ('o', 's2', $(pt -0.12345678 -89.99999987))
          RETURNING id, ST_X(location::geometry) AS x, ST_Y(location::geometry) AS y)
        SELECT string_agg(round(x * 1e7)::bigint || ' ' || round(y * 1e7)::bigint, ' ' ORDER BY id)
               || ' ' || bool_and(abs(x * 1e7 - round(x * 1e7)) < 1e-6 AND abs(y * 1e7 - round(y * 1e7)) < 1e-6)
          FROM r")"
check_eq "an update re-snaps the coordinates" "1000000001 true" \
    "$(sql "$SU" "UPDATE businesses SET location = $(pt 100.00000012345 1) WHERE id = $a
        RETURNING round(ST_X(location::geometry) * 1e7)::bigint || ' ' || (abs(ST_X(location::geometry) - 100.0000001) < 1e-12)")"

# ---- publication, WAL, replica ---------------------------------------------

for u in "$PRIMARY" "$SU"; do
    check_eq "publication proximity_businesses contains businesses ($(printf '%s' "$u" | sed 's#.*/##'))" "public.businesses" \
        "$(sql "$u" "SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables WHERE pubname = 'proximity_businesses'")"
done
check_eq "the publication publishes inserts, updates and deletes" "true true true" \
    "$(sql "$SU" "SELECT pubinsert || ' ' || pubupdate || ' ' || pubdelete FROM pg_publication WHERE pubname = 'proximity_businesses'")"
check_eq "the main database is migrated" "$nfiles" "$(sql "$PRIMARY" "SELECT count(*) FROM schema_migrations")"
check_eq "wal_level is logical on the primary" logical "$(sql "$PRIMARY" "SHOW wal_level")"
check_eq "the primary is not in recovery" f "$(sql "$PRIMARY" "SELECT pg_is_in_recovery()")"

if [ -z "$REPLICA" ]; then
    echo "# no replica configured (PROXIMITY_REPLICA_URLS empty): replica checks skipped"
else
    check_eq "the replica is in recovery" t "$(sql "$REPLICA" "SELECT pg_is_in_recovery()")"
    marker=$(sql "$SU" "INSERT INTO businesses (owner, name, location) VALUES ('o', 'replicated', $(pt 1 1)) RETURNING id")
    if [ -n "${PROXIMITY_TEST_PGDIR:-}" ]; then
        bash "$top_srcdir/tests/pgcluster.sh" wait-replay "$PROXIMITY_TEST_PGDIR" || not_ok "wait-replay"
    else
        lsn=$(sql "$PRIMARY" "SELECT pg_current_wal_insert_lsn()")
        i=0
        until [ "$(sql "$REPLICA" "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] || [ $i -ge 300 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    fi
    check_eq "the replica sees the primary's rows after wait-replay" "replicated" \
        "$(sql "$SRU" "SELECT name FROM businesses WHERE id = $marker")"
    check_eq "the replica sees the same version" "$(ver "$marker")" \
        "$(sql "$SRU" "SELECT version FROM businesses WHERE id = $marker")"
    if sql "$SRU" "INSERT INTO businesses (owner, name, location) VALUES ('o', 'x', $(pt 0 0))" >/dev/null 2>&1; then
        not_ok "the replica refuses writes"
    else
        ok "the replica refuses writes"
    fi
fi

echo "# $failures failure(s), $known known schema bug(s) (XFAIL)"
[ "$failures" = 0 ]
