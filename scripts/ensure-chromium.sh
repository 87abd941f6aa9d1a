#!/usr/bin/env bash
# The real-browser notebook tests drive Debian's chromium with Playwright (executable_path); never `playwright install`.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-chromium: chromium missing and not root. Install with: sudo apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
echo "ensure-chromium: installed $(/usr/bin/chromium --version 2>/dev/null | head -1)"
