#!/usr/bin/env bash
# package-deb.sh [BUILD_DIR] [OUT_DIR] — the Debian packages, from a built tree.
#
#   scripts/package-deb.sh                      # build/release -> dist/
#   scripts/package-deb.sh build/release /tmp/debs
#
# Assembles four binary packages from BUILD_DIR (default build/release; no
# compile happens here) into OUT_DIR (default dist/):
#
#   astis          install component cli + run: astis (CLI, edge, CVS),
#                  kubectl-astis, astis-run, bash and zsh completion, man pages
#   libastis0      component runtime: libastis.so.0 (the package is named
#                  after the SONAME)
#   libastis-dev   component dev: headers, libastis.so, libastis.a, astis.pc,
#                  the CMake package
#   python3-astis  component python: the astis module (ctypes over libastis0)
#
# astis-run goes into `astis`, not a package of its own: pods get it from the
# astis-run init image, not from Debian, so on a Debian host it is a tool next
# to the CLI (local runs, the demo). In a release build it is static-pie (it
# must run in any app image), so it adds no dependency; a build that links it
# to libastis.so.0 (ASan) gets libastis0 in astis's Depends from dpkg-shlibdeps.
#
# Each component is installed with `cmake --install --prefix /usr --component C`
# into a staging root (DESTDIR), the way debhelper stages debian/<package>/.
# packaging/debian/ holds the control file, changelog and copyright; Depends of
# the ELF files come from dpkg-shlibdeps (libastis0's own shlibs file resolves
# libastis.so.0), the control files from dpkg-gencontrol. The version is the
# project's (CMAKE_PROJECT_VERSION in BUILD_DIR/CMakeCache.txt), and must match
# the top entry of packaging/debian/changelog.
#
# Reproducible: SOURCE_DATE_EPOCH (default: the last commit's time) clamps every
# mtime, permissions are normalised, dpkg-deb sorts the archive members and
# --root-owner-group makes every file root:root; the changelog is gzip -9n.
# Two runs over the same BUILD_DIR give byte-identical .debs.
#
# Then lintian runs over the four packages and any error fails the script
# (set ASTIS_SKIP_LINTIAN=1 to skip it). ASTIS_DEB_COMPRESSION (default xz)
# is dpkg-deb's -Z; the light check in tests/packaging uses gzip, which is
# cheaper on CPU. Needs dpkg-dev and lintian
# (scripts/install-deps.sh). Does not need root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
out=${2:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
die() { echo "package-deb: $*" >&2; exit 1; }

[[ -f $build/CMakeCache.txt ]] || die "$build is not a CMake build directory"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[[ -n $version ]] || die "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"
changelog_version=$(dpkg-parsechangelog -l "$root/packaging/debian/changelog" -S Version)
[[ $changelog_version == "$version" ]] ||
  die "project version $version but packaging/debian/changelog says $changelog_version: add an entry"
arch=$(dpkg --print-architecture)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}
export LC_ALL=C.UTF-8 TZ=UTC
umask 022

declare -A components=([astis]="cli run" [libastis0]="runtime" [libastis-dev]="dev" [python3-astis]="python")
packages=(astis libastis0 libastis-dev python3-astis)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The debhelper-style tree that dpkg-shlibdeps and dpkg-gencontrol expect.
mkdir "$work/debian"
cp "$root/packaging/debian/control" "$root/packaging/debian/changelog" "$work/debian/"
cd "$work"

stage_package() {  # stage_package PKG: install its components into debian/PKG
  local pkg=$1 stage=$work/debian/$1 comp
  mkdir -p "$stage"
  for comp in ${components[$pkg]}; do
    grep -rqs --include=cmake_install.cmake "CMAKE_INSTALL_COMPONENT STREQUAL \"$comp\"" "$build" ||
      die "$build has no install component '$comp'"
    DESTDIR=$stage cmake --install "$build" --prefix /usr --component "$comp" --strip > /dev/null
  done
  find "$stage" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
  [[ -n $(find "$stage" -type f -print -quit) ]] || die "component(s) ${components[$pkg]} installed nothing"
  local doc=$stage/usr/share/doc/$pkg
  mkdir -p "$doc"
  cp "$root/packaging/debian/copyright" "$doc/copyright"
  gzip -9n < "$root/packaging/debian/changelog" > "$doc/changelog.gz"
  mkdir -p "$stage/DEBIAN"
}

elf_files() {  # elf_files DIR: the dynamically linked ELF files under DIR
  # (static archives are not ELF; the static-pie astis-run needs nothing)
  find "$1" -path "$1/DEBIAN" -prune -o -type f -print | sort | while read -r f; do
    [[ $(head -c4 "$f" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]] || continue
    readelf -d "$f" 2> /dev/null | grep -q '(NEEDED)' && echo "$f"
  done
  return 0
}

for pkg in "${packages[@]}"; do stage_package "$pkg"; done

# libastis0: shlibs (dependents get libastis0 (>= this version)) and the
# ldconfig trigger every shared-library package needs.
soname_file=$(cd debian/libastis0 && find . -name 'libastis.so.*' -type l | head -1)
[[ -n $soname_file ]] || die "libastis0 has no libastis.so.<N> link"
soversion=${soname_file##*.so.}
[[ libastis$soversion == libastis0 ]] || die "SONAME version is $soversion: rename the package libastis$soversion"
echo "libastis $soversion libastis0 (>= $version)" > debian/libastis0/DEBIAN/shlibs
echo "activate-noawait ldconfig" > debian/libastis0/DEBIAN/triggers

for pkg in "${packages[@]}"; do
  stage=debian/$pkg
  echo "misc:Depends=" > "debian/$pkg.substvars"
  mapfile -t elves < <(elf_files "$stage")
  if ((${#elves[@]})); then
    # -S: libastis.so.0 is looked up in the staged libastis0 first.
    self=()
    [[ $pkg == libastis0 ]] && self=(-xlibastis0)
    dpkg-shlibdeps -T"debian/$pkg.substvars" -Sdebian/libastis0 "${self[@]}" "${elves[@]}" \
      2> "debian/$pkg.shlibdeps.log" ||
      { cat "debian/$pkg.shlibdeps.log" >&2; die "dpkg-shlibdeps failed for $pkg"; }
    cat "debian/$pkg.shlibdeps.log" >&2
  fi
  if [[ $pkg == astis ]] && readelf -d "$stage/usr/bin/astis-run" 2> /dev/null | grep -q 'libastis.so'; then
    grep -q 'libastis0' "debian/$pkg.substvars" ||
      die "astis-run needs libastis.so but astis does not depend on libastis0"
  fi
  # Normalise: directories and executables 0755, everything else 0644.
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage" -path "$stage/DEBIAN" -prune -o -type f -perm /0111 -exec chmod 0755 {} + \
    -o -type f -exec chmod 0644 {} +
  dpkg-gencontrol -p"$pkg" -P"$stage" -T"debian/$pkg.substvars" -v"$version" -fdebian/files
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | sort | xargs -r -d '\n' md5sum) \
    > "$stage/DEBIAN/md5sums"
  find "$stage/DEBIAN" -type f -exec chmod 0644 {} +
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  pkg_arch=$(sed -n 's/^Architecture: //p' "$stage/DEBIAN/control")
  deb=$out/${pkg}_${version}_${pkg_arch}.deb
  dpkg-deb --root-owner-group -Z"${ASTIS_DEB_COMPRESSION:-xz}" --build "$stage" "$deb" > /dev/null
  echo "package-deb: $(basename "$deb")  Depends: $(dpkg-deb -f "$deb" Depends)"
done

if [[ ${ASTIS_SKIP_LINTIAN:-0} != 1 ]]; then
  command -v lintian > /dev/null || die "lintian not found (scripts/install-deps.sh installs it)"
  debs=()
  for pkg in "${packages[@]}"; do debs+=("$out/${pkg}_${version}_"*.deb); done
  # Errors fail; warnings and below are printed for the reader.
  lintian --fail-on error --tag-display-limit 0 "${debs[@]}" ||
    die "lintian reported errors"
  echo "package-deb: lintian: no errors"
fi
echo "package-deb: $arch packages of astis $version in $out"
