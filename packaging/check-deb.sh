#!/usr/bin/env bash
# Builds the Debian package of pesgw with cargo-deb and inspects it: the binary, the systemd
# unit, the conffile, the docs and the maintainer script are in it, the packaged binary runs,
# and `systemd-analyze verify` accepts the unit.
#
#   packaging/check-deb.sh            package the pesgw already built by `cargo test` (dev
#                                     profile; built first if missing): seconds, no second build
#   packaging/check-deb.sh --release  `cargo deb` as for a release (a full release build)
#
# cargo-deb refuses the dev profile by name, so the dev binary is packaged through the
# `deb-check` profile (inherits dev; only its directory is used, nothing is compiled for it).
# Installs cargo-deb from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "check-deb: installing cargo-deb from crates.io"
    cargo install cargo-deb --locked --version '^3'
fi

target=${CARGO_TARGET_DIR:-target}
out="$target/debian"
rm -f "$out"/pesgw_*.deb
if [[ "${1:-}" == "--release" ]]; then
    cargo deb -p pes-gateway --output "$out"
else
    if [[ ! -x "$target/debug/pesgw" ]]; then
        cargo build -p pes-gateway --bin pesgw
    fi
    install -D -m 0755 "$target/debug/pesgw" "$target/deb-check/pesgw"
    cargo deb -p pes-gateway --profile deb-check --no-build --fast --output "$out"
fi
deb=$(ls "$out"/pesgw_*.deb)

fail() {
    echo "check-deb: FAIL: $*" >&2
    exit 1
}

info=$(dpkg-deb -I "$deb")
contents=$(dpkg-deb -c "$deb")
grep -q '^ Package: pesgw$' <<<"$info" || fail "package name is not pesgw"
grep -q '^ Depends:.*adduser' <<<"$info" || fail "no dependency on adduser (postinst needs it)"
for f in ./usr/bin/pesgw \
    ./usr/lib/systemd/system/pesgw.service \
    ./etc/default/pesgw \
    ./usr/share/doc/pesgw/operations.md \
    ./usr/share/doc/pesgw/config-reference.md \
    ./usr/share/doc/pesgw/examples/gateway.toml; do
    awk '{print $6}' <<<"$contents" | grep -qx -- "$f" || fail "$f is not in the package"
done
awk '$6 == "./usr/bin/pesgw" {print $1}' <<<"$contents" | grep -q '^-rwxr-xr-x' ||
    fail "/usr/bin/pesgw is not executable"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -R "$deb" "$root"
grep -qx /etc/default/pesgw "$root/DEBIAN/conffiles" || fail "/etc/default/pesgw is not a conffile"
grep -q 'adduser --system' "$root/DEBIAN/postinst" || fail "postinst does not create the pesgw user"
grep -q 'install -d -o pesgw -g pesgw -m 0750 /var/lib/pesgw' "$root/DEBIAN/postinst" ||
    fail "postinst does not create /var/lib/pesgw"
sh -n "$root/DEBIAN/postinst" || fail "postinst is not valid sh"
cmp -s packaging/pesgw.service "$root/usr/lib/systemd/system/pesgw.service" ||
    fail "the packaged unit differs from packaging/pesgw.service"
"$root/usr/bin/pesgw" --version | grep -q '^pesgw ' || fail "the packaged binary does not run"

if command -v systemd-analyze >/dev/null 2>&1; then
    # The packaged unit, with ExecStart pointing at the packaged binary (systemd-analyze checks
    # that it exists; /usr/bin/pesgw is not installed here).
    mkdir "$root/verify"
    sed "s#/usr/bin/pesgw#$root/usr/bin/pesgw#" "$root/usr/lib/systemd/system/pesgw.service" \
        >"$root/verify/pesgw.service"
    verify=$(systemd-analyze verify "$root/verify/pesgw.service" 2>&1) ||
        fail "systemd-analyze verify: $verify"
    [[ -z "$verify" ]] || fail "systemd-analyze verify warns: $verify"
    systemd-analyze security --offline=yes "$root/verify/pesgw.service" 2>/dev/null |
        tail -n 1 | sed 's/^/check-deb: systemd-analyze security: /' || true
else
    echo "check-deb: systemd-analyze not available; unit not verified"
fi

echo "check-deb: OK $(basename "$deb") ($(du -h "$deb" | cut -f1), $((SECONDS - started)) s)"
