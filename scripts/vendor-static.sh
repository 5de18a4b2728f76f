#!/usr/bin/env bash
# Re-fetch the vendored front-end files from the npm registry (run by hand when upgrading;
# the results are committed so that nothing is downloaded at run time).
set -euo pipefail
HTMX=2.0.11
SSE=2.2.4
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$HTMX" "htmx-ext-sse@$SSE" >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
cp "$tmp/htmx.org-$HTMX/package/dist/htmx.min.js" "static/vendor/htmx-$HTMX.min.js"
cp "$tmp/htmx-ext-sse-$SSE/package/dist/sse.min.js" "static/vendor/htmx-ext-sse-$SSE.min.js"
echo "vendored htmx $HTMX and htmx-ext-sse $SSE into static/vendor/"
