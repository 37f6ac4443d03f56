#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the PostgreSQL store's tests and prints the lines to
# export its URL:
#
#     pg_env=$(tests/postgres/start.sh)    # fails the script (set -e) if the cluster does not start
#     eval "$pg_env"                       # sets PES_TEST_PG_URL and PES_TEST_PG_DIR
#     tests/postgres/stop.sh                # or: pg_ctl -D "$PES_TEST_PG_DIR/data" stop
#
# Uses initdb and pg_ctl from PATH, /usr/local/bin or Debian's /usr/lib/postgresql/*/bin, and
# installs Debian's `postgresql` with apt-get when none is found (CI runs on a fresh machine).
# The cluster lives in a temporary directory, listens only on a unix socket in it (no TCP port),
# trusts local connections and runs as the current user; as root (CI), as the `nobody` user,
# because initdb refuses root. Everything it prints on stdout is shell to eval; its progress goes
# to stderr.
set -euo pipefail

find_bin() {
    local name=$1 d
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for d in /usr/local/bin /usr/local/pgsql/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
    done
    return 1
}

if ! initdb=$(find_bin initdb); then
    echo "postgres: no initdb found; installing Debian's postgresql" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "postgres: installing needs root (apt-get); install postgresql and run again" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # Only the binaries: the package's own cluster (postgresql-common) is not started here.
    apt-get install -y -qq --no-install-recommends postgresql >&2
    initdb=$(find_bin initdb)
fi
bindir=$(dirname "$initdb")
pg_ctl="$bindir/pg_ctl"

dir=$(mktemp -d "${TMPDIR:-/tmp}/pes-pg.XXXXXX")
run_as=()
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    # initdb and postgres refuse to run as root: the cluster belongs to an unprivileged user.
    user=nobody
    chown "$user" "$dir"
    chmod 755 "$dir"
    run_as=(runuser -u "$user" --)
    command -v runuser >/dev/null 2>&1 || run_as=(su -s /bin/sh "$user" -c)
fi
as_user() {
    if [ ${#run_as[@]} -eq 0 ]; then "$@"
    elif [ "${run_as[0]}" = su ]; then "${run_as[@]}" "$(printf '%q ' "$@")"
    else "${run_as[@]}" "$@"; fi
}

if ! as_user "$initdb" -D "$dir/data" -U pes --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null 2>&1; then
    # No C.UTF-8 locale on this machine: the C locale does as well for the tests.
    rm -rf "$dir/data"
    as_user "$initdb" -D "$dir/data" -U pes --auth=trust --encoding=UTF8 --no-locale >&2
fi
# A unix socket in the cluster's directory only: nothing listens on a TCP port.
as_user "$pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=100 -c fsync=on" \
    start >&2

url="postgres://pes@localhost/postgres?host=$dir"
echo "postgres: cluster in $dir ($("$bindir/postgres" --version)), url $url" >&2
printf 'export PES_TEST_PG_URL=%q\n' "$url"
printf 'export PES_TEST_PG_DIR=%q\n' "$dir"
printf 'export PES_TEST_PG_BIN=%q\n' "$bindir"
