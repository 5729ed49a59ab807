#!/usr/bin/env bash
# Installs what the report's browser test (tests/browser/run.sh) needs on a bare
# Debian machine: Debian's chromium, node and npm if missing, then playwright-core
# from tests/browser/package-lock.json. Playwright never downloads a browser: the
# test drives /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if (( ${#missing[@]} )); then
  export DEBIAN_FRONTEND=noninteractive
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd tests/browser
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund
fi
