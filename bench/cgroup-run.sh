#!/usr/bin/env bash
# Run a command inside a fresh memory cgroup (v1: memory.limit_in_bytes; v2: memory.max)
# that also caps its page cache, and report whether the kernel OOM-killed anything in it.
#   bench/cgroup-run.sh LIMIT_BYTES command args...
# Prints "cgroup: limit L, peak P, oom_kills K" on stderr; exits with the command's status
# (137 when it was killed). Needs root. Refuses to run the command (exit 1) when the limit
# cannot be set and read back: an unlimited run would make the benchmark's claim empty.
set -u
limit=$1; shift
name=hypura-bench-$$
fail() { echo "cgroup-run: $*" >&2; rmdir "$cg" 2>/dev/null; exit 1; }
if [ -d /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/$name
  mkdir "$cg" || exit 1
  limit_file=memory.limit_in_bytes
  echo "$limit" > "$cg/$limit_file" || fail "cannot set $cg/$limit_file"
  # no swap escape: memsw limit equal to the memory limit where accounted
  [ -f "$cg/memory.memsw.limit_in_bytes" ] && echo "$limit" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null
  peak_file=memory.max_usage_in_bytes
  oom() { awk '/^oom_kill /{print $2}' "$cg/memory.oom_control"; }
else
  cg=/sys/fs/cgroup/$name
  mkdir "$cg" || exit 1
  [ -f "$cg/memory.max" ] || fail "no memory controller in $cg (is +memory in the parent's cgroup.subtree_control?)"
  limit_file=memory.max
  echo "$limit" > "$cg/$limit_file" || fail "cannot set $cg/$limit_file"
  echo 0 > "$cg/memory.swap.max" 2>/dev/null
  peak_file=memory.peak
  oom() { awk '/^oom_kill /{print $2}' "$cg/memory.events"; }
fi
# the kernel rounds the limit down to whole pages
got=$(cat "$cg/$limit_file")
[ "$got" -le "$limit" ] && [ "$got" -gt $((limit - 4096)) ] || fail "limit reads back as $got, not $limit"
moved=$(mktemp)
( echo $BASHPID > "$cg/cgroup.procs" && echo ok > "$moved" || exit 1; exec "$@" )
rc=$?
ok=$(cat "$moved"); rm -f "$moved"
[ "$ok" = ok ] || fail "cannot move the command into $cg"
peak=$(cat "$cg/$peak_file" 2>/dev/null || echo 0)
kills=$(oom)
echo "cgroup: limit $limit, peak $peak, oom_kills ${kills:-0}, status $rc" >&2
rmdir "$cg" 2>/dev/null
exit $rc
