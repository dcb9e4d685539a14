#!/usr/bin/env bash
# A logging stand-in for an OCI runtime (runc, crun, wasmpod-oci): records
# how a caller (conmon, containerd-shim-runc-v2, Podman, CRI-O) invokes it,
# then runs the real runtime with the same arguments and stdio.
#
# Install it as `DIR/runtime` (a copy, not a link: $0 names DIR) beside a
# file `DIR/real-runtime` holding the real runtime's path, and register
# DIR/runtime with the caller. Each call writes into DIR/calls/:
#
#   NAME.argv         argv[1..], NUL-separated (for programs to parse)
#   NAME.call         argv, caller, cwd, environment, open fds, exit status
#   NAME.config.json  the bundle's config.json (create and run)
#   NAME.process.json the process.json (exec --process)
#
# NAME is the start time in nanoseconds and the pid, so `ls` sorts calls in
# order. The stdout of `state`, `list`, `ps`, `features` and `--version` is
# captured too (it is what the caller parses); other subcommands hand their
# stdio to the container, so they are run as they are.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
real=$(cat "$dir/real-runtime")
mkdir -p "$dir/calls"
f="$dir/calls/$(date +%s%N).$$"

# The subcommand: the first argument that is neither a global flag nor the
# value of one (runc's globals that take a value: --root --log --log-format
# --criu; --flag=value forms are one argument).
sub="" args=("$@") i=0
while [ "$i" -lt "${#args[@]}" ]; do
  case "${args[$i]}" in
    --root | --log | --log-format | --criu) i=$((i + 2)) ;;
    -*) i=$((i + 1)) ;;
    *) sub=${args[$i]}; break ;;
  esac
done
[ -n "$sub" ] || sub="(none)"

printf '%s\0' "$@" >"$f.argv"
{
  echo "sub: $sub"
  printf 'argv:'; printf ' %q' "$@"; echo
  echo "caller: $(cat "/proc/$PPID/comm" 2>/dev/null) (pid $PPID): $(tr '\0' ' ' <"/proc/$PPID/cmdline" 2>/dev/null)"
  echo "cwd: $PWD"
  # bash adds PWD, SHLVL and _ itself: they are not the caller's.
  echo "env: $(env -0 | tr '\0' '\n' | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' |
    grep -vxE 'PWD|SHLVL|_' | sort | tr '\n' ' ')"
  echo "fds:"
} >>"$f.call"
# ls runs as a child: the fds it lists are this shell's, with no extra one
# for the listing itself.
ls -l "/proc/$$/fd" | awk 'NR > 1 && $9 != 255 { print "  " $9 " -> " $11 }' >>"$f.call"
for fd in 0 1 2; do
  echo "  fd $fd is a $(stat -L -c %F "/proc/$$/fd/$fd" 2>/dev/null)" >>"$f.call"
done
echo "cgroup: $(grep -E ':(memory|pids):' /proc/$$/cgroup | tr '\n' ' ')" >>"$f.call"

bundle=. j=0
for ((j = 0; j < ${#args[@]}; j++)); do
  case "${args[$j]}" in
    --bundle | -b) bundle=${args[$((j + 1))]} ;;
    --bundle=*) bundle=${args[$j]#--bundle=} ;;
    --process | -p) [ "$sub" = exec ] && cp "${args[$((j + 1))]}" "$f.process.json" 2>/dev/null ;;
  esac
done
case "$sub" in
  create | run) cp "$bundle/config.json" "$f.config.json" 2>/dev/null ;;
esac

case "$sub" in
  state | list | ps | features | version | "(none)")
    out=$("$real" "$@")
    rc=$?
    printf '%s\n' "$out"
    { echo "stdout: $out"; echo "exit: $rc"; } >>"$f.call"
    exit "$rc"
    ;;
esac
"$real" "$@"
rc=$?
echo "exit: $rc" >>"$f.call"
exit "$rc"
