#!/usr/bin/env bash
# install_test.sh — `cmake --install` of a build, checked per component.
#
#   install_test.sh BUILD_DIR SOURCE_DIR MODE [MAN=1|0]
#
# MODE components: install each component (cli, run, runtime, dev, python)
#   into its own temp prefix and compare the file list with the contract
#   (docs/install.md "cmake --install"): nothing missing, nothing extra.
# MODE example: install runtime + dev, then build and run the C example
#   (examples/c) against the installed astis.pc, shared and --static, and
#   the CMake package (find_package(astis)) with examples/CMakeLists.txt.
# MODE version: `astis --version` and `astis version` print the same five
#   lines (semantic version = the project's, commit, build type, OpenSSL,
#   libsodium) and exit 0, with no config, store or network.
set -euo pipefail
build=$1 src=$2 mode=$3 man=${4:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[[ -n $libdir && -n $version ]] || fail "no CMAKE_INSTALL_LIBDIR / CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"

install_component() {  # prefix component
  cmake --install "$build" --prefix "$1" --component "$2" >/dev/null || fail "cmake --install --component $2"
}

listing() {  # prefix -> sorted "path" or "path -> target" for links
  (cd "$1" && find . -mindepth 1 \( -type f -o -type l \) -printf '%P\n' | sort | while read -r f; do
    if [[ -L $f ]]; then echo "$f -> $(readlink "$f")"; else echo "$f"; fi
  done)
}

case $mode in
components)
  so=$(basename "$(readlink -f "$build/src/sdk/libastis.so")")  # libastis.so.X.Y.Z
  declare -A want
  want[cli]="bin/astis
bin/kubectl-astis -> astis
share/bash-completion/completions/astis
share/zsh/vendor-completions/_astis"
  want[run]="bin/astis-run"
  if [[ $man == 1 ]]; then
    want[cli]+=$'\n'"share/man/man1/astis.1.gz"
    want[run]+=$'\n'"share/man/man1/astis-run.1.gz"
  fi
  want[runtime]="$libdir/$so
$libdir/libastis.so.0 -> $so"
  want[dev]="include/astis/astis.h
include/astis/client.hpp
$libdir/cmake/astis/astisConfig.cmake
$libdir/cmake/astis/astisConfigVersion.cmake
$libdir/cmake/astis/astisTargets-release.cmake
$libdir/cmake/astis/astisTargets.cmake
$libdir/libastis.a
$libdir/libastis.so -> libastis.so.0
$libdir/pkgconfig/astis.pc"
  want[python]="lib/python3/dist-packages/astis/__init__.py
lib/python3/dist-packages/astis/_version.py"
  for c in cli run runtime dev python; do
    install_component "$tmp/$c" "$c"
    got=$(listing "$tmp/$c")
    expected=$(sort <<<"${want[$c]}")
    # The CMake export file is named after the build type.
    if [[ $c == dev ]]; then got=$(sed 's/astisTargets-[a-z]*\.cmake/astisTargets-release.cmake/' <<<"$got"); fi
    if [[ $got != "$expected" ]]; then
      diff <(echo "$expected") <(echo "$got") >&2 || true
      fail "component $c: file list differs from the contract (< wanted, > installed)"
    fi
    echo "ok component $c: $(wc -l <<<"$got") files"
  done
  # What the files are, not only their names.
  [[ $("$tmp/cli/bin/kubectl-astis" --version | sed -n 1p) == "astis $version" ]] || fail "kubectl-astis --version"
  if [[ $man == 1 ]]; then
    grep -q '^\.TH ASTIS ' <<<"$(zcat "$tmp/cli/share/man/man1/astis.1.gz")" || fail "astis.1.gz is not a man page"
    grep -q '^\.TH ASTIS-RUN ' <<<"$(zcat "$tmp/run/share/man/man1/astis-run.1.gz")" || fail "astis-run.1.gz"
  fi
  grep -q "complete -o default -F _astis astis kubectl-astis" "$tmp/cli/share/bash-completion/completions/astis" ||
    fail "completion file"
  [[ $(sed -n 1p "$tmp/cli/share/zsh/vendor-completions/_astis") == "#compdef astis kubectl-astis" ]] ||
    fail "zsh completion file"
  grep -q 'SONAME.*\[libastis\.so\.0\]' <<<"$(readelf -d "$tmp/runtime/$libdir/$so")" || fail "SONAME"
  grep -qx "__version__ = \"$version\"" "$tmp/python/lib/python3/dist-packages/astis/_version.py" ||
    fail "python _version.py"
  grep -qx "Version: $version" "$tmp/dev/$libdir/pkgconfig/astis.pc" || fail "astis.pc Version"
  ;;
example)
  p=$tmp/prefix
  install_component "$p" runtime
  install_component "$p" dev
  export PKG_CONFIG_PATH=$p/$libdir/pkgconfig
  [[ $(pkg-config --modversion astis) == "$version" ]] || fail "pkg-config --modversion astis"
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Werror -o "$tmp/astis_get_c" "$src/examples/c/astis_get.c" \
    $(pkg-config --cflags --libs astis) || fail "compile the C example against astis.pc"
  out=$(LD_LIBRARY_PATH=$p/$libdir "$tmp/astis_get_c" --help) || fail "run the C example"
  grep -q "^usage: astis_get_c" <<<"$out" || fail "the C example's --help"
  grep -q "libastis.so.0 => $p/$libdir/libastis.so.0" <<<"$(LD_LIBRARY_PATH=$p/$libdir ldd "$tmp/astis_get_c")" ||
    fail "the C example does not load the installed libastis.so.0"
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Werror -o "$tmp/astis_get_static" "$src/examples/c/astis_get.c" \
    $(pkg-config --cflags astis) "$p/$libdir/libastis.a" \
    $(pkg-config --static --libs-only-l astis | sed 's/-lastis//') \
    || fail "link the C example with libastis.a and Libs.private"
  grep -q libastis <<<"$(ldd "$tmp/astis_get_static")" && fail "static link still needs libastis.so"
  out=$("$tmp/astis_get_static" --help) || fail "run the statically linked C example"
  grep -q "^usage: astis_get_c" <<<"$out" || fail "the static C example's --help"
  echo "ok C example: pkg-config shared and --static"
  cmake -S "$src/examples" -B "$tmp/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$p" >/dev/null ||
    fail "configure examples/ with find_package(astis)"
  cmake --build "$tmp/cmake-build" --target astis_get_c >/dev/null || fail "build examples/ (CMake package)"
  out=$(LD_LIBRARY_PATH=$p/$libdir "$tmp/cmake-build/astis_get_c" --help) || fail "run the CMake example"
  grep -q "^usage:" <<<"$out" || fail "the CMake example's --help"
  echo "ok C example: find_package(astis)"
  ;;
version)
  astis=$build/src/cli/astis
  a=$(env -i "$astis" --version) || fail "astis --version exit $?"
  b=$(env -i "$astis" version) || fail "astis version exit $?"
  [[ $a == "$b" ]] || fail "astis --version and astis version differ"
  [[ $(wc -l <<<"$a") == 5 ]] || fail "astis --version: not five lines"
  grep -Eqx "astis $version" <<<"$(sed -n 1p <<<"$a")" || fail "line 1 is not 'astis $version'"
  grep -Eqx 'commit ([0-9a-f]{12}( \(dirty\))?|unknown)' <<<"$(sed -n 2p <<<"$a")" || fail "line 2: commit"
  grep -Eqx 'build type [A-Za-z]+' <<<"$(sed -n 3p <<<"$a")" || fail "line 3: build type"
  grep -Eqx 'OpenSSL [0-9]+\.[0-9]+\.[0-9]+.*' <<<"$(sed -n 4p <<<"$a")" || fail "line 4: OpenSSL"
  grep -Eqx 'libsodium [0-9]+\.[0-9]+\.[0-9]+' <<<"$(sed -n 5p <<<"$a")" || fail "line 5: libsodium"
  # The OpenSSL line is the library in use at run time.
  [[ $(sed -n 4p <<<"$a") == "$(openssl version | cut -d' ' -f1-5)"* ]] ||
    [[ $(openssl version) == "$(sed -n 4p <<<"$a")"* ]] || fail "OpenSSL line differs from \`openssl version\`"
  # The commit is this tree's (when there is a .git).
  if git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
    head=$(git -C "$src" rev-parse --short=12 HEAD)
    # A commit made after the build is not an error; the build's commit must exist.
    commit=$(sed -n 's/^commit \([0-9a-f]*\).*/\1/p' <<<"$a")
    git -C "$src" cat-file -e "$commit^{commit}" 2>/dev/null ||
      fail "commit $commit is not in the repository (HEAD $head)"
  fi
  echo "$a"
  ;;
*) fail "unknown mode $mode" ;;
esac
