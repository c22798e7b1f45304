#!/usr/bin/env bash
# check_debs.sh BUILD_DIR [MODE] — the light check of the Debian packages
# (scripts/package-deb.sh); the full one, a clean Debian 12 root, is
# scripts/test-clean-root-install.sh.
#
# MODE packages (default): builds the four .debs from BUILD_DIR into a
#   temporary directory (gzip rather than xz, to save CPU; lintian included:
#   errors fail), then checks
#   - `dpkg-deb -c`: the files each package must hold, and none it must not;
#   - `dpkg-deb -f`: Package, Version (the project's), Architecture, Depends
#     (dpkg-shlibdeps' libc6 for the ELF packages, libastis0 where needed);
#   - `ldd` of the binaries unpacked from the packages: no "not found", and
#     libastis.so.0 resolves to the one unpacked from libastis0.
# MODE refuses-version: a build whose version has no changelog entry is refused.
# MODE refuses-component: a build without the install components is refused.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: check_debs.sh BUILD_DIR [MODE]}" && pwd)
mode=${2:-packages}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_refusal MESSAGE FAKE_VERSION: package-deb.sh over a fake build dir fails, saying MESSAGE.
expect_refusal() {
  mkdir "$work/fake"
  echo "CMAKE_PROJECT_VERSION:STATIC=$2" > "$work/fake/CMakeCache.txt"
  if ASTIS_SKIP_LINTIAN=1 "$root/scripts/package-deb.sh" "$work/fake" "$work/out" > "$work/log" 2>&1; then
    fail "package-deb.sh accepted a build it must refuse"
  fi
  grep -q "$1" "$work/log" || { cat "$work/log" >&2; fail "refused, but not with '$1'"; }
  [[ -z $(find "$work/out" -name '*.deb' 2> /dev/null) ]] || fail "a refused run left packages behind"
  echo "ok: refused ($1)"
}
case $mode in
  refuses-version) expect_refusal "changelog says" 99.0.0; exit 0 ;;
  refuses-component)
    version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
    expect_refusal "has no install component" "$version"; exit 0 ;;
  packages) ;;
  *) fail "unknown mode $mode" ;;
esac

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
arch=$(dpkg --print-architecture)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2> /dev/null)
SECONDS=0
ASTIS_DEB_COMPRESSION=gzip "$root/scripts/package-deb.sh" "$build" "$work/dist" > "$work/package.log" 2>&1 ||
  { cat "$work/package.log" >&2; fail "scripts/package-deb.sh failed"; }
grep -E '^[EW]: ' "$work/package.log" || true
echo "packages built and linted in ${SECONDS} s"

deb() { echo "$work/dist/${1}_${version}_$([[ $1 == python3-astis ]] && echo all || echo "$arch").deb"; }
# has PKG PATH...: each PATH (relative, ./usr/...) is in PKG's data archive.
has() {
  local pkg=$1 path
  shift
  dpkg-deb -c "$(deb "$pkg")" | awk '{print $6}' > "$work/$pkg.list"
  for path in "$@"; do
    grep -qxF "$path" "$work/$pkg.list" || fail "$pkg lacks $path"
  done
}
# lacks PKG REGEX: nothing in PKG matches REGEX.
lacks() {
  if grep -E "$2" "$work/$1.list"; then fail "$1 holds files matching $2"; fi
}
field() { dpkg-deb -f "$(deb "$1")" "$2"; }

for pkg in astis libastis0 libastis-dev python3-astis; do
  [[ -f $(deb "$pkg") ]] || fail "no $(basename "$(deb "$pkg")")"
  [[ $(field "$pkg" Package) == "$pkg" ]] || fail "$pkg: Package is $(field "$pkg" Package)"
  [[ $(field "$pkg" Version) == "$version" ]] || fail "$pkg: Version $(field "$pkg" Version), project $version"
  [[ -n $(field "$pkg" Depends) ]] || fail "$pkg: empty Depends"
  [[ -n $(field "$pkg" Description) ]] || fail "$pkg: no Description"
done
for pkg in astis libastis0 libastis-dev; do
  [[ $(field "$pkg" Architecture) == "$arch" ]] || fail "$pkg: Architecture $(field "$pkg" Architecture)"
done
[[ $(field python3-astis Architecture) == all ]] || fail "python3-astis: Architecture is not all"
for pkg in astis libastis0; do
  field "$pkg" Depends | grep -q 'libc6 (>= ' || fail "$pkg: Depends lacks the shlibdeps libc6 version"
done
field python3-astis Depends | grep -q "libastis0 (>= $version)" || fail "python3-astis: Depends lacks libastis0"
field libastis-dev Depends | grep -q "libastis0 (= $version)" ||
  fail "libastis-dev: Depends lacks libastis0 (= $version)"
echo "ok: fields (Package, Version $version, Architecture, Depends)"

has astis ./usr/bin/astis ./usr/bin/astis-run ./usr/bin/kubectl-astis \
  ./usr/share/bash-completion/completions/astis ./usr/share/zsh/vendor-completions/_astis \
  ./usr/share/man/man1/astis.1.gz ./usr/share/man/man1/astis-run.1.gz \
  ./usr/share/doc/astis/copyright ./usr/share/doc/astis/changelog.gz
dpkg-deb -c "$(deb astis)" | grep -q ' ./usr/bin/kubectl-astis -> astis$' || fail "kubectl-astis is not a link to astis"
lacks astis '^\./usr/(include|lib)/'
has libastis0 "./usr/lib/$ma/libastis.so.0" "./usr/lib/$ma/libastis.so.$version" ./usr/share/doc/libastis0/copyright
lacks libastis0 "^\./usr/(bin|include)/|libastis\.(so|a)$|\.pc$"
has libastis-dev ./usr/include/astis/astis.h ./usr/include/astis/client.hpp "./usr/lib/$ma/libastis.so" \
  "./usr/lib/$ma/libastis.a" "./usr/lib/$ma/pkgconfig/astis.pc" "./usr/lib/$ma/cmake/astis/astisConfig.cmake" \
  ./usr/share/doc/libastis-dev/copyright
lacks libastis-dev '^\./usr/bin/|libastis\.so\.'
has python3-astis ./usr/lib/python3/dist-packages/astis/__init__.py ./usr/share/doc/python3-astis/copyright
lacks python3-astis '\.pyc$|\.so|^\./usr/bin/'
echo "ok: contents of the four packages"

# ldd over the unpacked packages: the system's libraries, libastis from libastis0.
unpacked=$work/root
for pkg in astis libastis0; do dpkg-deb -x "$(deb "$pkg")" "$unpacked"; done
needs() { readelf -d "$1" | grep -q "(NEEDED).*\[$2\]"; }
for bin in "$unpacked/usr/bin/astis" "$unpacked/usr/bin/astis-run" "$unpacked/usr/lib/$ma/libastis.so.0"; do
  if ! readelf -d "$bin" | grep -q '(NEEDED)'; then
    # astis-run is static-pie in a release build (it is copied into any app image): nothing to resolve.
    [[ $bin == */astis-run ]] || fail "${bin#"$unpacked"} has no NEEDED entries"
    echo "${bin#"$unpacked"}: statically linked"
    continue
  fi
  LD_LIBRARY_PATH=$unpacked/usr/lib/$ma ldd "$bin" > "$work/ldd" 2>&1 || { cat "$work/ldd" >&2; fail "ldd $bin"; }
  if grep 'not found' "$work/ldd"; then fail "${bin#"$unpacked"}: a library is missing"; fi
  if needs "$bin" libastis.so.0; then
    grep -q "libastis.so.0 => $unpacked/" "$work/ldd" || fail "${bin#"$unpacked"} does not load libastis0's library"
    field astis Depends | grep -q "libastis0 (>= $version)" || fail "astis: Depends lacks libastis0 (>= $version)"
  fi
done
echo "ok: ldd finds every library of astis, astis-run and libastis.so.0"
