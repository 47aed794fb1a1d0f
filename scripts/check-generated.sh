#!/usr/bin/env bash
# Lints the contracts in proto/ and regenerates packages/protocol/src/gen from them
# with buf (the same as `npm run generate -w @parley/protocol`, plus removing files
# whose .proto is gone). Fails when the result differs from what git has: the
# generated code was not regenerated, or not committed, after a .proto change.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh

gen=packages/protocol/src/gen

echo "buf lint proto"
npx buf lint proto

# Generate into a scratch folder first, and only touch the working tree when the
# result differs (other tools may be reading $gen meanwhile).
scratch="$(mktemp -d "${TMPDIR:-/tmp}/parley-gen.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
echo "buf generate proto --template proto/buf.gen.yaml"
npx buf generate proto --template proto/buf.gen.yaml --output "$scratch"
fresh="$scratch/$gen"
[ -d "$fresh" ] || {
  echo "check-generated: buf produced nothing under $gen; is proto/buf.gen.yaml's out still $gen?" >&2
  exit 1
}
if ! diff -rq "$fresh" "$gen" >/dev/null 2>&1; then
  mkdir -p "$gen"
  # Drop generated files whose source is gone, then copy the fresh ones over.
  (cd "$gen" && find . -type f) | while IFS= read -r file; do
    [ -e "$fresh/$file" ] || rm -f "$gen/$file"
  done
  find "$gen" -mindepth 1 -type d -empty -delete
  cp -R "$fresh/." "$gen/"
fi

changes="$(git status --porcelain -- "$gen")"
if [ -n "$changes" ]; then
  {
    echo
    echo "check-generated: the generated code in $gen is out of date with proto/ (or not committed):"
    echo "$changes"
    echo
    echo "It has been regenerated in your working tree; review and commit it:"
    echo "  git add $gen && git commit -m 'protocol: regenerate'"
  } >&2
  exit 1
fi
echo "generated code in $gen is up to date"
