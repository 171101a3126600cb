#!/usr/bin/env bash
# Run a command inside a fresh memory cgroup (v1: memory.limit_in_bytes; v2: memory.max)
# that also caps its page cache, and report whether the kernel OOM-killed anything in it.
#   bench/cgroup-run.sh LIMIT_BYTES command args...
# Prints "cgroup: limit L, peak P, oom_kills K" on stderr; exits with the command's status
# (137 when it was killed). Needs root.
set -u
limit=$1; shift
name=hypura-bench-$$
if [ -d /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/$name
  mkdir "$cg" || exit 1
  echo "$limit" > "$cg/memory.limit_in_bytes"
  # no swap escape: memsw limit equal to the memory limit where accounted
  [ -f "$cg/memory.memsw.limit_in_bytes" ] && echo "$limit" > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null
  peak_file=memory.max_usage_in_bytes
  procs=$cg/cgroup.procs
  oom() { awk '/^oom_kill /{print $2}' "$cg/memory.oom_control"; }
else
  cg=/sys/fs/cgroup/$name
  mkdir "$cg" || exit 1
  echo "$limit" > "$cg/memory.max"
  echo 0 > "$cg/memory.swap.max" 2>/dev/null
  peak_file=memory.peak
  procs=$cg/cgroup.procs
  oom() { awk '/^oom_kill /{print $2}' "$cg/memory.events"; }
fi
( echo $BASHPID > "$procs"; exec "$@" )
rc=$?
peak=$(cat "$cg/$peak_file" 2>/dev/null || echo 0)
kills=$(oom)
echo "cgroup: limit $limit, peak $peak, oom_kills ${kills:-0}, status $rc" >&2
rmdir "$cg" 2>/dev/null
exit $rc
