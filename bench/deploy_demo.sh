#!/usr/bin/env bash
# Follow docs/deployment.md from scratch on this machine: a fresh PostgreSQL cluster (the
# binaries of the pgserver wheel stand in for `apt install postgresql-16
# postgresql-16-pgvector`), `serve --no-workers` as machine A, two `pixsearch worker` as
# machine B, all on loopback. Models are off (no downloads here); an image server on
# loopback stands in for the image hosts.
#
#     bench/deploy_demo.sh            # from the repository root, with .venv installed
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
PIXSEARCH=$ROOT/.venv/bin/pixsearch
PGBIN=$("$PY" -c 'import pgserver, pathlib; print(pathlib.Path(pgserver.__file__).parent / "pginstall" / "bin")')
WORK=$(mktemp -d /tmp/pixsearch-deploy-XXXXXX)
PGPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
API_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "1. PostgreSQL and pgvector (the superuser: local socket, trust; others: TCP, scram)"
# PostgreSQL refuses to run as root; the doc's `sudo -u postgres` is `as_pg` here.
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    id pgserver >/dev/null 2>&1 || useradd -s /bin/bash pgserver
    chmod 755 "$WORK"
    as_pg() { runuser -u pgserver -- "$@"; }
fi
mkdir -p "$WORK/pg" && chmod 700 "$WORK/pg"
[ "$(id -u)" = 0 ] && chown pgserver "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -w \
    -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
SU=(-h "$WORK/pg" -p "$PGPORT" -U postgres)
"$PGBIN/psql" "${SU[@]}" -q -c "CREATE ROLE pixsearch LOGIN PASSWORD 'change-me'"
"$PGBIN/createdb" "${SU[@]}" -O pixsearch pixsearch
"$PGBIN/psql" "${SU[@]}" -q -d pixsearch -c "CREATE EXTENSION IF NOT EXISTS vector"

step "2. pixsearch: environment, db upgrade, a key"
export PIXSEARCH_DATABASE_URL="postgresql://pixsearch:change-me@127.0.0.1:$PGPORT/pixsearch"
export PIXSEARCH_DATA_DIR=$WORK/data
export PIXSEARCH_FETCH_ALLOW_NETS=127.0.0.0/8
export PIXSEARCH_CLIP_MODEL="" PIXSEARCH_TEXT_MODEL="" PIXSEARCH_FACE_DETECTOR=off
export PIXSEARCH_DB_POOL_SIZE=5 PIXSEARCH_DB_MAX_OVERFLOW=5
"$PIXSEARCH" db upgrade
KEY=$("$PIXSEARCH" keys create --org acme | tail -1 | awk '{print $NF}')
echo "key ${KEY:0:12}..."

step "3. Machine A: the API"
"$PIXSEARCH" serve --no-workers --host 127.0.0.1 --port "$API_PORT" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$API_PORT/health" >"$WORK/health.json" 2>/dev/null && break
    sleep 0.2
done
cat "$WORK/health.json"; echo

step "4. Machine B: two workers"
for n in 1 2; do
    "$PIXSEARCH" worker --concurrency 4 >"$WORK/worker$n.log" 2>&1 &
    PIDS+=($!)
done
for n in 1 2; do
    for _ in $(seq 100); do grep -q "worker started" "$WORK/worker$n.log" && break; sleep 0.2; done
    grep "worker started" "$WORK/worker$n.log"
done

step "The image hosts (loopback) and the check of step 4"
mkdir -p "$WORK/www"
(cd "$ROOT" && "$PY" -c "from tests.imageserver import make_jpeg; import sys; \
sys.stdout.buffer.write(make_jpeg(64, 48, 1))") >"$WORK/www/a.jpg"
IMG_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m http.server "$IMG_PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
START=$(date +%s.%N)
curl -fsS -X POST "http://127.0.0.1:$API_PORT/imgs/42?wait=true" -H "API-Key: $KEY" \
     -H 'Content-Type: application/json' \
     -d "{\"src\": \"http://127.0.0.1:$IMG_PORT/a.jpg\", \"title\": \"A red car\"}"
echo; echo "wait=true answered in $(echo "$(date +%s.%N) - $START" | bc) s"
curl -fsS "http://127.0.0.1:$API_PORT/imgs/42" -H "API-Key: $KEY"; echo

step "Which worker ran it, and the connections each process holds"
"$PGBIN/psql" "${SU[@]}" -d pixsearch -c "SELECT id, state, worker, attempts FROM operations"
"$PGBIN/psql" "${SU[@]}" -d pixsearch -c \
    "SELECT client_port IS NOT NULL AS tcp, state, count(*) FROM pg_stat_activity
     WHERE usename = 'pixsearch' GROUP BY 1, 2 ORDER BY 3 DESC"

step "Backups (as in the doc)"
"$PGBIN/pg_dump" "${SU[@]}" -Fc -d pixsearch -f "$WORK/pixsearch.dump"
"$PGBIN/createdb" "${SU[@]}" -O pixsearch pixsearch_new
"$PGBIN/psql" "${SU[@]}" -q -d pixsearch_new -c "CREATE EXTENSION IF NOT EXISTS vector"
"$PGBIN/pg_restore" "${SU[@]}" -d pixsearch_new "$WORK/pixsearch.dump"
"$PGBIN/psql" "${SU[@]}" -d pixsearch_new -Atc \
    "SELECT 'restored images: ' || count(*) || ', owner of images: ' || tableowner
     FROM images, pg_tables WHERE tablename = 'images' GROUP BY tableowner"
echo; echo "deployment demo: OK"
