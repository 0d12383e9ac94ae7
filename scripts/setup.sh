#!/usr/bin/env bash
# Installs whatever stackscope needs and is missing, then returns quickly when nothing is.
#   bash scripts/setup.sh          runtime needs (npm start, the CLI, benches)
#   bash scripts/setup.sh --test   also the test oracles (AArch64 binutils and gcc, qemu-user) and
#                                  chromium, the browser of the viewer's page tests
# Idempotent: apt runs only for absent packages, `npm ci` only when node_modules is absent
# or older than package-lock.json, and the native helper is rebuilt only when its source changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

say() { printf 'setup: %s\n' "$*" >&2; }

# --- Debian packages --------------------------------------------------------------------
# gcc and libunicorn-dev build the native helper. The test oracles: GNU as/ld/objdump for both
# arches, gcc and the AArch64 cross gcc with their C libraries (the cross libc is only a
# recommendation of gcc-aarch64-linux-gnu, and we install without recommendations) for the
# native and qemu-aarch64 differential runs.
apt_needed=(libunicorn2 libunicorn-dev gcc libc6-dev binutils)
if [ "$want_tests" = 1 ]; then
  apt_needed+=(binutils-aarch64-linux-gnu gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user chromium clang)
fi
missing=()
for p in "${apt_needed[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- npm packages -----------------------------------------------------------------------
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.stackscope-lock
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_hash" > "$stamp"
fi

# --- native helper (block counting, budget and timeout for the Unicorn engine) -----------
src=simulator/native/stackscope_hooks.c
lib=build/libstackscope_hooks.so
if [ -f "$src" ]; then
  src_hash=$(sha256sum "$src" | cut -d' ' -f1)
  if [ ! -f "$lib" ] || [ "$(cat build/.hooks-src 2>/dev/null)" != "$src_hash" ]; then
    say "building $lib"
    mkdir -p build
    gcc -O2 -shared -fPIC -Wall -Werror -o "$lib" "$src" -lunicorn
    echo "$src_hash" > build/.hooks-src
  fi
fi

# --- compiled package (dist/: JavaScript, .d.ts, run-time files, the helper) -------------
# bin/stackscope.mjs runs dist/cli/main.js; rebuilt when any source or run-time file is newer.
if [ ! -f dist/cli/main.js ] || [ -n "$(find . \( -path ./node_modules -o -path ./dist -o -path ./.git \) -prune -o -type f \( -name '*.ts' -o -name '*.wat' -o -name '*.c' -o -name '*.json' -o -name '*.so' \) -newer dist/cli/main.js -print 2>/dev/null | head -n 1)" ]; then
  npm run -s build
fi
