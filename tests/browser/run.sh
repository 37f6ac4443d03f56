#!/usr/bin/env bash
# Browser test of the dashboard: installs what it needs when missing (Debian's chromium, a CJK
# font for readable screenshots, playwright-core and axe-core from package-lock.json), builds pesgw if needed,
# then drives a real gateway in headless chromium. Screenshots go to tests/browser/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  if ! apt-get install -y "$@"; then
    apt-get update
    apt-get install -y "$@"
  fi
}
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null | head -1)" ]; then
  apt_install fonts-wqy-microhei || echo "warning: no CJK font; Chinese labels will not render in screenshots" >&2
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
if [ -z "${PESGW:-}" ]; then
  (cd ../.. && cargo build -p pes-gateway --bin pesgw)
  PESGW="${CARGO_TARGET_DIR:-$(cd ../.. && pwd)/target}/debug/pesgw"
  export PESGW
fi
exec node dashboard.test.mjs "$@"
