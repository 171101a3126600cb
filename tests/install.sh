#!/usr/bin/env bash
# The install test. make test runs it as $(BUILD)/tests/test_install, a two-line wrapper
# the Makefile writes with this build's folder and variables:
#
#   tests/install.sh BUILD VAR=VALUE...
#
# It runs `make install DESTDIR=tmp PREFIX=/usr` with those variables (the same BUILD, so
# nothing is compiled again), then builds tests/pkgconfig/hello.c against what was
# installed through pkg-config alone, once with libhypura.a and once with libhypura.so,
# and runs both. The installed libraries must define no global symbol but the hy_*
# functions hypura.h declares: hello is linked together with a definition of every other
# global name the library's objects have (what a program linking ggml besides hypura
# would bring), which must neither clash with the static library nor be called by the
# shared one. Prints "ok"/"FAIL" per check and "N passed, N failed" as the C tests do;
# exits 0, 1, or 77 when a tool it needs is missing.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: tests/install.sh BUILD [VAR=VALUE...]}
shift
makevars=("$@")
cc=cc; san=
for v in "${makevars[@]}"; do
  case "$v" in CC=*) cc=${v#CC=};; SANITIZE=*) san=${v#SANITIZE=};; esac
done
cd "$root" || exit 1

for tool in pkg-config nm readelf make; do
  if ! command -v $tool >/dev/null; then
    echo "skip: no $tool"; echo "0 passed, 0 failed"; exit 77
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hypura-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
lib=$dest/usr/lib
log=$tmp/log
pass=0; fail=0

# check NAME COMMAND...: run it; its output is shown when it fails, its "note:" lines
# when it passes
check() {
  local name=$1; shift
  if "$@" > "$log" 2>&1; then
    pass=$((pass + 1)); echo "ok   $name"
    sed -n 's/^note: /  /p' "$log"
  else
    fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/  /' "$log" | head -40
  fi
}

# ---- make install -------------------------------------------------------------------
do_install() {
  local t0=$EPOCHREALTIME
  # a make of its own: not the jobserver of the make that runs the tests
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory install \
      "${makevars[@]}" DESTDIR="$dest" PREFIX=/usr || return 1
  echo "note: make install took $(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $t0 }") s"
  local f
  for f in bin/hypura lib/libhypura.so.0 lib/libhypura.a include/hypura.h \
           lib/pkgconfig/hypura.pc share/man/man1/hypura.1; do
    [ -f "$dest/usr/$f" ] || { echo "missing: /usr/$f"; return 1; }
  done
  [ "$(readlink "$lib/libhypura.so")" = libhypura.so.0 ] || { echo "libhypura.so is no link to libhypura.so.0"; return 1; }
  # what this build built, not another build folder's
  cmp "$build/libhypura.a" "$lib/libhypura.a" && cmp "$build/libhypura.so.0" "$lib/libhypura.so.0" \
    && cmp "$build/hypura" "$dest/usr/bin/hypura"
}
check "make install DESTDIR=... PREFIX=/usr" do_install
[ -f "$lib/libhypura.a" ] || { echo "$pass passed, $((fail + 1)) failed"; exit 1; }

# ---- symbols ----------------------------------------------------------------------------
sed -n 's/^HY_API[^(]*[ *]\(hy_[a-z0-9_]*\)(.*/\1/p' "$dest/usr/include/hypura.h" | sort -u > "$tmp/api"

# the global symbols a library defines: exactly the API
exports_only_api() {
  nm -g --defined-only "$1" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/syms" || return 1
  echo "note: $(basename "$1"): $(wc -l < "$tmp/syms") global symbols, hypura.h declares $(wc -l < "$tmp/api")"
  [ -s "$tmp/api" ] || { echo "no HY_API function found in hypura.h"; return 1; }
  if ! cmp -s "$tmp/api" "$tmp/syms"; then
    echo "defined but not declared in hypura.h:"; comm -13 "$tmp/api" "$tmp/syms" | head -20
    echo "declared but not defined:"; comm -23 "$tmp/api" "$tmp/syms" | head -20
    return 1
  fi
}
check "libhypura.a defines only the API's symbols" exports_only_api "$lib/libhypura.a"
check "libhypura.so.0 defines only the API's symbols" exports_only_api "$lib/libhypura.so.0"
check "soname libhypura.so.0" sh -c "readelf -d '$lib/libhypura.so.0' | grep -q 'SONAME.*\[libhypura.so.0\]'"

# ---- hello, through pkg-config ------------------------------------------------------
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
check "pkg-config hypura" pkg-config --exists --print-errors hypura

# every other global name of the library's objects, defined once more by the program
nm -g --defined-only "$build/libhypura-internal.a" | awk 'NF == 3 { print $3 }' \
  | grep -v -e '^hy_' -e '^_' -e '\.' | sort -u \
  | sed 's/.*/char &[1];/' > "$tmp/clash.c"
echo "  (hello is linked with $(wc -l < "$tmp/clash.c") names of the library's internals defined again)"

sanflags=()
[ -n "$san" ] && sanflags=(-fsanitize="$san" -fno-omit-frame-pointer)
build_hello() {   # build_hello OUT static|shared
  local libs
  if [ "$2" = static ]; then
    # pkg-config --static gives the private libraries; -l:libhypura.a keeps the linker
    # from taking libhypura.so, which lies beside it
    libs=$(pkg-config --static --libs hypura) || return 1
    libs=$(echo " $libs " | sed 's/ -lhypura / -l:libhypura.a /')
  else
    libs=$(pkg-config --libs hypura) || return 1
  fi
  # shellcheck disable=SC2046,SC2086
  $cc -std=c99 -Wall -Wextra -Werror "${sanflags[@]}" $(pkg-config --cflags hypura) \
      -o "$1" tests/pkgconfig/hello.c "$tmp/clash.c" $libs || return 1
  echo "note: $cc ... $libs"
  if [ "$2" = static ]; then
    ! readelf -d "$1" | grep -q 'NEEDED.*libhypura'
  else
    readelf -d "$1" | grep -q 'NEEDED.*\[libhypura.so.0\]'
  fi
}
check "build hello with libhypura.a (pkg-config --static)" build_hello "$tmp/hello-static" static
check "build hello with libhypura.so (pkg-config)" build_hello "$tmp/hello-shared" shared

model=${HYPURA_FIXTURES:-../shared}/fixtures/real/stories260K-Q8_0.gguf
[ -f "$model" ] || { echo "  (no $model: hello runs without a model)"; model=; }
run_hello() {   # run_hello BINARY OUT
  [ -x "$1" ] || { echo "not built"; return 1; }
  LD_LIBRARY_PATH=$lib "$1" $model > "$2" 2>&1
  local rc=$?
  cat "$2"
  grep '^text:' "$2" | sed 's/^/note: /'
  [ $rc = 0 ] && grep -q '^done$' "$2"
}
check "run hello (static)" run_hello "$tmp/hello-static" "$tmp/out-static"
check "run hello (shared)" run_hello "$tmp/hello-shared" "$tmp/out-shared"
check "static and shared hello print the same" cmp "$tmp/out-static" "$tmp/out-shared"

# ---- the CLI and its man page -------------------------------------------------------
check "installed hypura --help" "$dest/usr/bin/hypura" --help
if command -v groff >/dev/null; then
  # -ww: every warning; a malformed page warns on stderr
  man_ok() { groff -man -ww -Tutf8 "$dest/usr/share/man/man1/hypura.1" 2>&1 >/dev/null | { ! grep .; }; }
  check "hypura.1 renders without warnings" man_ok
else
  echo "skip hypura.1 (no groff)"
fi

# ---- uninstall ------------------------------------------------------------------------
do_uninstall() {
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory uninstall \
      "${makevars[@]}" DESTDIR="$dest" PREFIX=/usr || return 1
  local left
  left=$(find "$dest" ! -type d)
  [ -z "$left" ] || { echo "left behind: $left"; return 1; }
}
check "make uninstall" do_uninstall

echo "$pass passed, $fail failed"
[ $fail = 0 ]
