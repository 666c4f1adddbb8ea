#!/usr/bin/env bash
# Installs the node modules (when package-lock.json changed) and builds the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
# The plugin's bytecode, for shells that set PYTHONDONTWRITEBYTECODE (containers and CI
# often do): without it every build compiles the plugin again (about 20 ms). Checked
# against the source's hash, not its time, so an edited file is never run stale.
/usr/bin/python3 -m compileall -q --invalidation-mode checked-hash python_shim > /dev/null
