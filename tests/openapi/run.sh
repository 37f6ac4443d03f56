#!/usr/bin/env bash
# The OpenAPI document against a live gateway: starts `pesgw serve` on 127.0.0.1 with a CSV
# source and a synthetic export pushed to it (some rows quarantined), then
#   1. validates the served /openapi.json with openapi-spec-validator, and
#   2. runs schemathesis against the gateway (a bounded number of examples per operation),
#      requiring no 5xx and every documented answer to match its schema.
# Both tools come from PyPI into a venv under target/ (python3-venv from Debian when missing).
# Versions are pinned so a new release cannot change what CI checks.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
export DEBIAN_FRONTEND=noninteractive

SPEC_VALIDATOR=openapi-spec-validator==0.9.0
SCHEMATHESIS=schemathesis==4.32.5
# Test cases per operation and role: enough to reach the bad-input paths, small enough for CI.
EXAMPLES=${OPENAPI_EXAMPLES:-30}

target="${CARGO_TARGET_DIR:-$repo/target}"
venv="$target/openapi-venv"
apt_install() {
  if ! apt-get install -y "$@"; then
    apt-get update
    apt-get install -y "$@"
  fi
}
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt_install python3-venv
fi
command -v curl >/dev/null || apt_install curl
# The venv is remade when the pins change.
if [ "$(cat "$venv/pins" 2>/dev/null)" != "$SPEC_VALIDATOR $SCHEMATHESIS" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$SPEC_VALIDATOR" "$SCHEMATHESIS"
  echo "$SPEC_VALIDATOR $SCHEMATHESIS" >"$venv/pins"
fi

if [ -z "${PESGW:-}" ]; then
  cargo build -q -p pes-gateway --bin pesgw
  PESGW="$target/debug/pesgw"
fi

work=$(mktemp -d "$target/openapi-run.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
region=440000
source=gd-hr
mapping="$repo/adapters/mappings/gd_440000_csv.toml"
"$PESGW" init --region "$region" --dir "$work/gw" --listen "127.0.0.1:$port" >/dev/null
cfg="$work/gw/gateway.toml"
printf '\n[sources.%s]\nmapping = "%s"\n' "$source" "$mapping" >>"$cfg"
RUST_LOG=warn "$PESGW" serve --config "$cfg" >"$work/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/gateway.log" >&2; echo "gateway did not start" >&2; exit 1; }
  sleep 0.1
done

token() { "$PESGW" token issue --config "$cfg" --region "$region" --ttl 1h "$@"; }
pusher=$(token --role pusher --source "$source")
admin=$(token --role admin)
analyst=$(token --role analyst)
auditor=$(token --role auditor)
caseworker=$(token --role caseworker --purpose case_management)

# Some data: records to query and read, quarantined rows to list and retry.
"$PESGW" synth --mapping "$mapping" --records 300 --defects 0.05 --seed 7 --out "$work/export.csv" >/dev/null
"$PESGW" push --source "$source" --url "$base" --token "$pusher" --wait --quiet "$work/export.csv"

# A quarantined row and a record that exist, for the runs that would otherwise only ever get
# 404 for them (`path.id` is only the quarantine retry's, `path.record_id` only the records').
qid=$(curl -fsS -H "Authorization: Bearer $pusher" "$base/v1/quarantine?limit=1" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["items"][0]["id"])')
rid=$(python3 -c 'import csv, sys
rows = csv.reader(open(sys.argv[1], encoding="gb18030"))
header = next(rows)
print("%s:%s:P-%s" % (sys.argv[2], sys.argv[3], next(rows)[header.index("记录编号")].strip()))' \
  "$work/export.csv" "$region" "$source")
curl -fsS -o /dev/null -H "Authorization: Bearer $admin" "$base/v1/records/$rid"
printf '[parameters]\n"path.id" = "%s"\n"path.record_id" = "%s"\n' "$qid" "$rid" >"$work/known.toml"

curl -fsS "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

# One run per role, each over the operations that role may use (every other role gets a 403,
# which the admin run already covers for the routes it may not use). One worker: hypothesis
# parses source with `ast` from several threads otherwise, which CPython 3.11 may fail with
# "AST constructor recursion depth mismatch" (cpython#106905).
# `st CONFIG TOKEN FILTERS...`: CONFIG is a schemathesis.toml (an empty one for none).
st() {
  local config=$1 token=$2
  shift 2
  # From the run's directory: schemathesis keeps a cache in the current one.
  (cd "$work" && "$venv/bin/st" --config-file "$config" run "$base/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed 1 --no-shrink --workers 1 \
    --phases examples,coverage,fuzzing \
    --request-timeout 30 \
    --suppress-health-check all \
    "$@")
}
failed=0
none=$work/none.toml
: >"$none"
st "$none" "$admin" --exclude-path-regex '^/v1/(ingest|persons|audit)/' || failed=1
st "$none" "$auditor" --include-path-regex '^/v1/audit/' || failed=1
st "$none" "$analyst" --include-path-regex '^/v1/(query|reports)' || failed=1
st "$none" "$caseworker" --include-path-regex '^/v1/(persons|records)/' || failed=1
st "$none" "$pusher" --include-path-regex '^/v1/(ingest|quarantine|sources)' || failed=1
# Again with the known ids: the answers of a record read and a retry checked against the schema.
st "$work/known.toml" "$caseworker" --include-path-regex '^/v1/records/' || failed=1
st "$work/known.toml" "$pusher" --include-path-regex '^/v1/quarantine/' || failed=1

if [ "$failed" != 0 ]; then
  echo "--- gateway log" >&2
  tail -n 50 "$work/gateway.log" >&2
  echo "openapi: schemathesis found failures (see above)" >&2
  exit 1
fi
echo "openapi: document valid; schemathesis found no 5xx and no answer outside the schema"
