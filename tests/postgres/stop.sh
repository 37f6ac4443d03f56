#!/usr/bin/env bash
# Stops the cluster tests/postgres/start.sh started (PES_TEST_PG_DIR, PES_TEST_PG_BIN) and
# removes its directory.
set -euo pipefail
[ -n "${PES_TEST_PG_DIR:-}" ] || exit 0
pg_ctl="${PES_TEST_PG_BIN:-/usr/local/bin}/pg_ctl"
if [ "$(id -u)" -eq 0 ]; then
    runuser -u nobody -- "$pg_ctl" -D "$PES_TEST_PG_DIR/data" -m fast stop >&2 || true
else
    "$pg_ctl" -D "$PES_TEST_PG_DIR/data" -m fast stop >&2 || true
fi
rm -rf "$PES_TEST_PG_DIR"
