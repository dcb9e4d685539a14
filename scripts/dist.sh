#!/usr/bin/env bash
# Writes what we ship into $CARGO_TARGET_DIR/dist: each release binary
# without its debug info, and the debug info in a file beside it.
#
#   dist/wasmpod                       shipped: no .debug_* sections, but
#   dist/containerd-shim-wasmpod-v1    the symbol table kept, and a
#   dist/wasmpod-oci                   .gnu_debuglink naming NAME.debug
#   dist/NAME.debug                    the -dbg artifact: DWARF only
#                                      (zlib-compressed), same build-id
#
# The release profile keeps `debug = "line-tables-only"`; the split happens
# after the build, so it costs seconds, not a rebuild. objcopy removes only
# sections that are not loaded, so the program's mapped pages (and the
# memory an idle pod costs) are the same as the unstripped binary's. The
# binaries sit side by side, as `dist/wasmpod node image REF` expects.
# Why this layout, and what backtraces show: docs/release.md.
#
# Usage: scripts/dist.sh   (after `cargo build --release` of the three;
#        `make dist` does both)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}"
release="$CARGO_TARGET_DIR/release"
dist="$CARGO_TARGET_DIR/dist"
binaries=(wasmpod containerd-shim-wasmpod-v1 wasmpod-oci)
command -v objcopy >/dev/null || { echo "dist: objcopy is missing (install binutils)" >&2; exit 1; }

mkdir -p "$dist"
for name in "${binaries[@]}"; do
  [ -x "$release/$name" ] || {
    echo "dist: no $release/$name (cargo build --release -p wasmpod -p wasmpod-shim -p wasmpod-oci-runtime)" >&2
    exit 1
  }
done
# Each file is written beside its final name and renamed into place, so a
# failed run leaves no half-written binary in dist/.
for name in "${binaries[@]}"; do
  rm -f "$dist/$name.tmp" "$dist/$name.debug.tmp"
  objcopy --only-keep-debug --compress-debug-sections=zlib \
    "$release/$name" "$dist/$name.debug.tmp"
  chmod 0644 "$dist/$name.debug.tmp"
  mv "$dist/$name.debug.tmp" "$dist/$name.debug"
  # --add-gnu-debuglink records the file's name (without folder) and its
  # CRC32; objcopy reads it from this path, so it runs inside dist/.
  (cd "$dist" && objcopy --strip-debug --add-gnu-debuglink="$name.debug" \
    "$release/$name" "$name.tmp")
  mv "$dist/$name.tmp" "$dist/$name"
  printf 'dist: %-28s %9d bytes (was %d), %s.debug %d bytes\n' "$name" \
    "$(stat -c %s "$dist/$name")" "$(stat -c %s "$release/$name")" \
    "$name" "$(stat -c %s "$dist/$name.debug")" >&2
done
