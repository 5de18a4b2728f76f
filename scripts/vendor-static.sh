#!/usr/bin/env bash
# Re-fetch the vendored front-end files from the npm registry (run by hand when upgrading;
# the results are committed so that nothing is downloaded at run time).
set -euo pipefail
HTMX=2.0.11
SSE=2.2.4
MARKDOWN_IT=15.0.3
DOMPURIFY=3.5.0
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$HTMX" "htmx-ext-sse@$SSE" "markdown-it@$MARKDOWN_IT" "dompurify@$DOMPURIFY" \
  >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
cp "$tmp/htmx.org-$HTMX/package/dist/htmx.min.js" "static/vendor/htmx-$HTMX.min.js"
cp "$tmp/htmx-ext-sse-$SSE/package/dist/sse.min.js" "static/vendor/htmx-ext-sse-$SSE.min.js"
# The source-map comment is dropped: the map is not vendored, and Django's manifest storage refuses a missing one.
# markdown-it's minified build carries no licence banner, so one is added.
{
  echo "/*! markdown-it $MARKDOWN_IT | (c) Vitaly Puzrin, Alex Kocharin | MIT license | github.com/markdown-it/markdown-it (dist/browser/markdown-it.umd.min.js from the npm package) */"
  grep -v '^//# sourceMappingURL' "$tmp/markdown-it-$MARKDOWN_IT/package/dist/browser/markdown-it.umd.min.js"
} > "static/vendor/markdown-it-$MARKDOWN_IT.min.js"
grep -v '^//# sourceMappingURL' "$tmp/dompurify-$DOMPURIFY/package/dist/purify.min.js" > "static/vendor/dompurify-$DOMPURIFY.min.js"
echo "vendored htmx $HTMX, htmx-ext-sse $SSE, markdown-it $MARKDOWN_IT and DOMPurify $DOMPURIFY into static/vendor/"
