#!/bin/sh
# SPDX-License-Identifier: MIT
# The OPTIONS section of rowcast.conf(5) and the sample config must say
# exactly what the option table says (TAP output).
set -u
bin=${ROWCAST_BIN:-./rowcast}
src=${ROWCAST_SRCDIR:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..2"
"$bin" --print-man-options > "$tmp/want.man"
sed -n '/^\.\\" BEGIN OPTIONS/,/^\.\\" END OPTIONS/p' "$src/man/rowcast.conf.5" | sed '1d;$d' > "$tmp/got.man"
if cmp -s "$tmp/want.man" "$tmp/got.man"; then
  echo "ok 1 - man/rowcast.conf.5 OPTIONS matches the option table"
else
  echo "not ok 1 - man/rowcast.conf.5 OPTIONS differs from the option table (run scripts/gen-docs)"
  diff "$tmp/want.man" "$tmp/got.man" | sed 's/^/# /' | head -20
fi
"$bin" --print-sample-config > "$tmp/want.conf"
if cmp -s "$tmp/want.conf" "$src/etc/rowcast.conf"; then
  echo "ok 2 - etc/rowcast.conf matches the option table"
else
  echo "not ok 2 - etc/rowcast.conf differs from the option table (run scripts/gen-docs)"
  diff "$tmp/want.conf" "$src/etc/rowcast.conf" | sed 's/^/# /' | head -20
fi
