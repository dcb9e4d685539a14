#!/usr/bin/env bash
# Checks what scripts/dist.sh wrote into $CARGO_TARGET_DIR/dist, for each
# shipped binary:
#   - it carries no .debug_* section, and keeps its symbol table;
#   - NAME.debug holds the DWARF (.debug_info, .debug_line), has the same
#     build-id, and is the file the binary's .gnu_debuglink names, CRC32
#     included (what gdb, addr2line and Rust's backtraces check);
#   - addr2line, given the address of `CRATE::main` from `nm` of the
#     shipped binary, names that function and a file:line from NAME.debug,
#     and from the shipped binary itself (which follows the debuglink).
#   - it is linked the way build/link_fixed_address.rs asked: the shim and
#     wasmpod-oci at a fixed address (ELF type EXEC), unless the build had
#     WASMPOD_PIE=1; wasmpod always position independent (DYN).
# And for `wasmpod`, the backtrace a user sees (RUST_BACKTRACE=1 on a
# panic): with NAME.debug beside the binary it has file:line; with the
# binary alone, function names. `make dist-check` runs it; .ci/run too.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wasmpod/target}"
dist="$CARGO_TARGET_DIR/dist"
binaries=(wasmpod containerd-shim-wasmpod-v1 wasmpod-oci)
for tool in readelf nm addr2line python3; do
  command -v "$tool" >/dev/null || { echo "check-dist: $tool is missing (install binutils, python3)" >&2; exit 1; }
done

failed=0
fail() { echo "check-dist: FAIL: $*" >&2; failed=1; }
ok() { echo "check-dist: ok: $*" >&2; }
build_id() { readelf -n "$1" 2>/dev/null | sed -n 's/^ *Build ID: *//p'; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for name in "${binaries[@]}"; do
  bin="$dist/$name"
  dbg="$dist/$name.debug"
  if [ ! -f "$bin" ] || [ ! -f "$dbg" ]; then
    fail "$bin or $dbg is missing (make dist)"
    continue
  fi
  sections=$(readelf -SW "$bin")
  # .debug_gdb_scripts is not debug info: rustc puts it in loaded memory
  # (34 bytes naming gdb's pretty-printers), and --strip-debug keeps it.
  debug=$(grep -o ' \.debug_[a-z_]*' <<<"$sections" | grep -v '^ \.debug_gdb_scripts$' || true)
  if [ -n "$debug" ]; then
    fail "$name carries debug sections:$(tr '\n' ' ' <<<"$debug")"
  else
    ok "$name has no .debug_* sections"
  fi
  grep -q ' \.symtab ' <<<"$sections" || fail "$name has no .symtab (backtraces without NAME.debug name no function)"
  dbg_sections=$(readelf -SW "$dbg" 2>/dev/null)
  for s in .debug_info .debug_line; do
    grep -q " $s " <<<"$dbg_sections" || fail "$name.debug has no $s"
  done

  id=$(build_id "$bin")
  if [ -n "$id" ] && [ "$id" = "$(build_id "$dbg")" ]; then
    ok "$name.debug has the build-id $id"
  else
    fail "build-ids differ: $name '$id', $name.debug '$(build_id "$dbg")'"
  fi
  link=$(readelf --debug-dump=links "$bin" 2>/dev/null)
  link_name=$(sed -n 's/^ *Separate debug info file: *//p' <<<"$link" | head -1)
  link_crc=$(sed -n 's/^ *CRC value: *0x//p' <<<"$link" | head -1)
  file_crc=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$dbg")
  if [ "$link_name" = "$name.debug" ] && [ "$((16#${link_crc:-0}))" = "$((16#$file_crc))" ]; then
    ok "$name's .gnu_debuglink names $name.debug, CRC32 $file_crc"
  else
    fail "$name's .gnu_debuglink is '$link_name' CRC '$link_crc'; want $name.debug CRC $file_crc"
  fi

  want=DYN
  if [ "$name" != wasmpod ] && { [ -z "${WASMPOD_PIE:-}" ] || [ "$WASMPOD_PIE" = 0 ]; }; then want=EXEC; fi
  type=$(readelf -h "$bin" | awk '$1 == "Type:" { print $2 }')
  if [ "$type" = "$want" ]; then
    ok "$name is an ELF $type"
  else
    fail "$name is an ELF '$type', want $want (WASMPOD_PIE='${WASMPOD_PIE:-}')"
  fi

  crate=${name//-/_}
  addr=$(nm -C "$bin" | awk -v f="$crate::main" '$3 == f && NF == 3 && !n++ { print $1 }')
  if [ -z "$addr" ]; then
    fail "no $crate::main in nm of $name"
    continue
  fi
  for elf in "$dbg" "$bin"; do
    mapfile -t frame < <(addr2line -f -C -e "$elf" "0x$addr")
    if [ "${frame[0]:-}" = "$crate::main" ] && [[ "${frame[1]:-}" =~ \.rs:[1-9][0-9]*$ ]]; then
      ok "addr2line -e $(basename "$elf") 0x$addr: ${frame[0]} at ${frame[1]}"
    else
      fail "addr2line -e $elf 0x$addr gave '${frame[*]:-}', want $crate::main at FILE.rs:LINE"
    fi
  done
done

# A panic's backtrace, as std prints it. Writing to /dev/full makes
# `print!` panic (ENOSPC); `node status` prints its report with `print!`.
panic_trace() {
  { RUST_BACKTRACE=1 "$1" node status --host-root "$tmp/host" >/dev/full; } 2>&1 || true
}
if [ -f "$dist/wasmpod" ] && [ -f "$dist/wasmpod.debug" ]; then
  mkdir -p "$tmp/host" "$tmp/alone"
  trace=$(panic_trace "$dist/wasmpod")
  if grep -q 'panicked' <<<"$trace" && grep -q 'at .*crates/cli/src/main\.rs:[0-9]' <<<"$trace"; then
    ok "a panic's backtrace with wasmpod.debug beside has file:line"
  else
    fail "a panic's backtrace with wasmpod.debug beside has no crates/cli/src/main.rs:LINE:"$'\n'"$trace"
  fi
  cp "$dist/wasmpod" "$tmp/alone/wasmpod"
  trace=$(panic_trace "$tmp/alone/wasmpod")
  if grep -q 'wasmpod::main' <<<"$trace"; then
    ok "a panic's backtrace from the binary alone names functions"
  else
    fail "a panic's backtrace from the binary alone names no wasmpod::main:"$'\n'"$trace"
  fi
fi

if [ "$failed" -ne 0 ]; then
  echo "check-dist: failed" >&2
  exit 1
fi
echo "check-dist: ${#binaries[@]} binaries ok" >&2
