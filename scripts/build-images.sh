#!/usr/bin/env bash
# build-images.sh [BUILD_DIR] [OUT_DIR] — assemble the two ASTIS container
# images, without a container daemon, from binaries a build already made:
#
#   astis      the edge and the CVS (deploy/base/edge, deploy/base/cvs):
#              /usr/bin/astis, the shared libraries ldd names (with the
#              loader), the CA bundle, /etc/passwd and /etc/group for 65532
#   astis-run  the static astis-run; its entrypoint copies it into a volume
#              shared with the application: astis-run --install-to /astis/bin
#
# Both are FROM scratch, run as 65532:65532 and hold no shell. Output, in
# OUT_DIR (default dist/images): astis.oci.tar, astis-run.oci.tar (OCI image
# archives) and `digests` ("NAME sha256:..." per line; scripts/set-deploy-digests.sh
# writes them into deploy/). Push and install: docs/deploy.md "Images".
#
# Reproducible: the same binaries give the same image digests. Every file
# gets mtime SOURCE_DATE_EPOCH (default: the last commit's time), owner 0:0
# unless listed, a fixed order, no atime/ctime; the configs carry that time
# and no history. Test: tests/images (images_reproducible).
#
# BUILD_DIR (default $ASTIS_BUILD_DIR, else build/release) is installed with
# `cmake --install --component cli|run` into a scratch prefix; nothing is
# compiled. Needs umoci and skopeo (scripts/install-deps.sh).
set -euo pipefail
export LC_ALL=C TZ=UTC
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${ASTIS_BUILD_DIR:-$root/build/release}}
out=${2:-$root/dist/images}
fail() { echo "build-images: $*" >&2; exit 1; }

for tool in umoci skopeo cmake tar readelf ldd; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh installs it)"
done
[[ -f $build/CMakeCache.txt ]] || fail "$build is not a CMake build directory (build it first: cmake --preset release)"
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null) || fail "no git: set SOURCE_DATE_EPOCH"
fi
export SOURCE_DATE_EPOCH
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# The binaries, as `cmake --install` lays them out (stripped). Until every
# install component exists, fall back to the build tree (same files).
inst=$work/install
for component in cli run sdk; do
  cmake --install "$build" --prefix "$inst" --component "$component" --strip >/dev/null 2>&1 || true
done
binary() {  # binary NAME TREE_PATH: the installed file, else the build tree's, stripped
  if [[ -x $inst/bin/$1 ]]; then
    echo "$inst/bin/$1"
  elif [[ -x $build/$2 ]]; then
    install -m 0755 "$build/$2" "$work/$1.stripped"
    strip --strip-unneeded "$work/$1.stripped"
    echo "$work/$1.stripped"
  else
    fail "neither $inst/bin/$1 nor $build/$2 exists (build the release preset first)"
  fi
}
astis_bin=$(binary astis src/cli/astis)
astis_run_bin=$(binary astis-run src/sdk/astis-run)
# astis-run goes into application images of any libc: it must need no loader.
if readelf -lW "$astis_run_bin" | grep -q 'Requesting program interpreter'; then
  fail "$astis_run_bin is dynamically linked; the release build links it static-pie (src/sdk/CMakeLists.txt)"
fi

# put SRC DEST MODE: one file into a rootfs.
put() { install -D -m "$3" "$1" "$2"; }

# etc_files ROOTFS: the nonroot user 65532 that the images run as.
etc_files() {
  mkdir -p "$1/etc"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' \
    >"$1/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$1/etc/group"
  chmod 0644 "$1/etc/passwd" "$1/etc/group"
}

# The astis rootfs. Each library goes where ldd found it (the path the loader
# searches), as a regular file with the content of the real file.
astis_root=$work/rootfs-astis
put "$astis_bin" "$astis_root/usr/bin/astis" 0755
etc_files "$astis_root"
put /etc/ssl/certs/ca-certificates.crt "$astis_root/etc/ssl/certs/ca-certificates.crt" 0644
# glibc >= 2.34 has the files and dns NSS modules inside libc: hosts as in
# distroless, /etc/hosts first, no other module loaded.
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$astis_root/etc/nsswitch.conf"
chmod 0644 "$astis_root/etc/nsswitch.conf"
ldd_out=$(ldd "$astis_bin") || fail "ldd $astis_bin failed"
if grep -q 'not found' <<<"$ldd_out"; then
  fail "$astis_bin: a shared library is not found: $(grep 'not found' <<<"$ldd_out")"
fi
while read -r path; do
  [[ $path == /* ]] || continue
  real=$(readlink -f "$path")
  mode=0644
  [[ $path == */ld-linux* ]] && mode=0755
  put "$real" "$astis_root$path" "$mode"
done < <(awk '/=> \// {print $3; next} /^[[:space:]]*\// {print $1}' <<<"$ldd_out" | sort -u)

# The astis-run rootfs: the static binary and the user, nothing else.
run_root=$work/rootfs-astis-run
put "$astis_run_bin" "$run_root/usr/bin/astis-run" 0755
etc_files "$run_root"

# layer ROOTFS TAR: a reproducible tar of ROOTFS (names sorted, owner 0:0,
# mtime SOURCE_DATE_EPOCH, no atime/ctime/xattrs, directories 0755).
layer() {
  find "$1" -type d -exec chmod 0755 {} +
  local top
  mapfile -t top < <(find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
  tar --create --file "$2" --directory "$1" --format=posix --sort=name \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --no-acls --no-xattrs --no-selinux "${top[@]}"
}

# image NAME ROOTFS UMOCI-CONFIG-ARGS...: an OCI archive in OUT_DIR; prints its digest.
image() {
  local name=$1 rootfs=$2
  shift 2
  local layout=$work/oci-$name
  layer "$rootfs" "$work/$name.tar"
  umoci init --layout "$layout"
  umoci new --image "$layout:$name"
  # No history (no timestamps); umoci warns that tools may mind: they do not.
  umoci raw add-layer --no-history --image "$layout:$name" "$work/$name.tar" 2>"$work/umoci.err" ||
    fail "umoci raw add-layer: $(cat "$work/umoci.err")"
  grep -v 'no history entry' "$work/umoci.err" >&2 || true
  umoci config --no-history --image "$layout:$name" --created "$created" --architecture "$arch" --os linux \
    --config.user 65532:65532 --config.workingdir / \
    --config.label "org.opencontainers.image.title=$name" \
    --config.label "org.opencontainers.image.revision=$revision" \
    --config.label "org.opencontainers.image.created=$created" "$@"
  umoci gc --layout "$layout"
  # An OCI archive is the layout in a tar (what skopeo's oci-archive: reads
  # and writes); made here with the layer's tar options it is byte-for-byte
  # reproducible too, which skopeo's own (current mtimes) is not.
  find "$layout" -type f -exec chmod 0644 {} +
  layer "$layout" "$out/$name.oci.tar"
  local digest
  digest=$(skopeo inspect --raw "oci-archive:$out/$name.oci.tar" | sha256sum | cut -d' ' -f1)
  grep -q "\"sha256:$digest\"" "$layout/index.json" || fail "$name: the archive's manifest is not the one umoci wrote"
  echo "sha256:$digest"
}

astis_digest=$(image astis "$astis_root" --config.entrypoint /usr/bin/astis \
  --config.env PATH=/usr/bin --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.label "org.opencontainers.image.description=ASTIS edge and conversion service (astis edge|cvs)")
run_digest=$(image astis-run "$run_root" --config.entrypoint /usr/bin/astis-run --config.entrypoint --install-to \
  --config.cmd /astis/bin \
  --config.label "org.opencontainers.image.description=astis-run, copied into an application's volume")
printf 'astis %s\nastis-run %s\n' "$astis_digest" "$run_digest" >"$out/digests"
cat "$out/digests"
