#!/usr/bin/env bash
# Puts the pages' third-party browser libraries into gateway/assets/vendor/, exactly as the npm
# registry serves the versions pinned by gateway/web/package-lock.json (npm ci checks each
# package's integrity hash). The copies are committed, so `cargo build` needs no Node.js; run
# this after changing gateway/web/package.json, and commit what it changes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
npm ci --prefix gateway/web --ignore-scripts --no-audit --no-fund
out=gateway/assets/vendor
mkdir -p "$out"
cp gateway/web/node_modules/uplot/dist/uPlot.esm.js "$out/uPlot.esm.js"
cp gateway/web/node_modules/uplot/dist/uPlot.min.css "$out/uPlot.min.css"
cp gateway/web/node_modules/uplot/LICENSE "$out/uPlot.LICENSE"
echo "vendored: $(ls "$out" | tr '\n' ' ')" >&2
