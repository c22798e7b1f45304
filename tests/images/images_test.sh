#!/usr/bin/env bash
# images_test.sh MODE ARGS...: the container images and what they depend on.
#
#   reproducible BUILD       two assemblies of BUILD's binaries: same digests, same archive bytes
#   astis_image BUILD        the astis image unpacked: exact file set, config, and
#                            `astis --version` chroot-ed as 65532 (a missing library fails here)
#   astis_run_image BUILD    the astis-run image unpacked: its entrypoint copies astis-run
#                            into /astis/bin as 65532, as the init container does
#   empty_chroot ASTIS_RUN   astis-run alone in an empty root: --help, --version, --install-to,
#                            and (under with_test_edge.sh) a real fetch by host name
#   install_to ASTIS_RUN     --install-to: copy, mode 0555, idempotent; refusals
#   set_digests ROOT         scripts/set-deploy-digests.sh on a copy of deploy/; refusals
#   no_placeholder ROOT      no placeholder image digest (sha256:1111...) in deploy/
#
# chroot needs root: not root → exit 77 (skipped, counted by ctest).
set -euo pipefail
mode=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
need_root() { [[ $(id -u) == 0 ]] || { echo "SKIP: chroot needs root"; exit 77; }; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# unpack ARCHIVE NAME DIR: the image's rootfs in DIR/bundle/rootfs, config in DIR/config.json.
unpack() {
  skopeo --insecure-policy copy --quiet "oci-archive:$1" "oci:$3/oci:$2"
  umoci unpack --rootless --image "$3/oci:$2" "$3/bundle" >/dev/null 2>&1 || fail "umoci unpack $1"
  skopeo inspect --config "oci-archive:$1" >"$3/config.json"
}

# A placeholder digest: one hex digit 64 times (sha256:1111..., 2222..., 0000...).
placeholder_re='sha256:([0-9a-f])\1{63}'

case $mode in
reproducible)
  build=$1
  start=$(date +%s%N)
  "$root/scripts/build-images.sh" "$build" "$t/a" >/dev/null
  mid=$(date +%s%N)
  # The second assembly under another umask, time zone and temporary directory
  # (the installed copies get new mtimes as well).
  mkdir "$t/tmp"
  (umask 077 && TZ=Asia/Tokyo TMPDIR=$t/tmp "$root/scripts/build-images.sh" "$build" "$t/b" >/dev/null)
  cat "$t/a/digests"
  echo "one assembly: $(((mid - start) / 1000000)) ms"
  cmp "$t/a/digests" "$t/b/digests" || fail "digests differ: $(cat "$t/b/digests")"
  for f in astis.oci.tar astis-run.oci.tar; do
    cmp "$t/a/$f" "$t/b/$f" || fail "$f differs between two assemblies"
  done
  grep -Eq '^astis sha256:[0-9a-f]{64}$' "$t/a/digests" || fail "digests file shape"
  grep -Eq '^astis-run sha256:[0-9a-f]{64}$' "$t/a/digests" || fail "digests file shape"
  ;;
astis_image)
  need_root
  build=$1
  "$root/scripts/build-images.sh" "$build" "$t/img" >/dev/null
  unpack "$t/img/astis.oci.tar" astis "$t"
  rootfs=$t/bundle/rootfs
  jq -e '.config.User == "65532:65532" and .config.Entrypoint == ["/usr/bin/astis"] and (.history // [] | length == 0)
         and .created == (.config.Labels["org.opencontainers.image.created"])' "$t/config.json" >/dev/null ||
    fail "astis image config: $(cat "$t/config.json")"
  # Exactly: the binary, libraries and loader, CA bundle, passwd/group/nsswitch.conf. No shell.
  allowed='usr/bin/astis|lib/[^/]+/lib[^/]+\.so[.0-9]*|lib64/ld-linux[^/]*\.so\.[0-9]'
  allowed+='|etc/(passwd|group|nsswitch\.conf|ssl/certs/ca-certificates\.crt)'
  others=$(find "$rootfs" -type f -o -type l | sed "s|^$rootfs/||" | sort | { grep -Ev "^($allowed)\$" || true; })
  [[ -z $others ]] || fail "unexpected files in the astis image: $others"
  [[ ! -e $rootfs/bin/sh && ! -e $rootfs/usr/bin/sh ]] || fail "the image has a shell"
  grep -q '^nonroot:x:65532:65532:' "$rootfs/etc/passwd" || fail "no user 65532 in /etc/passwd"
  # --version once the binary has it, else --help: either loads every library.
  args=(--version)
  "$build/src/cli/astis" --version >/dev/null 2>&1 || args=(--help)
  chroot --userspec=65532:65532 "$rootfs" /usr/bin/astis "${args[@]}" >"$t/out" 2>&1 ||
    fail "astis ${args[*]} inside the image: $(cat "$t/out")"
  head -3 "$t/out"
  echo "astis image: $(find "$rootfs" -type f | wc -l) files, $(du -sk "$rootfs" | cut -f1) KiB unpacked," \
    "$(stat -c %s "$t/img/astis.oci.tar") bytes archived"
  ;;
astis_run_image)
  need_root
  build=$1
  "$root/scripts/build-images.sh" "$build" "$t/img" >/dev/null
  unpack "$t/img/astis-run.oci.tar" astis-run "$t"
  rootfs=$t/bundle/rootfs
  jq -e '.config.User == "65532:65532" and .config.Entrypoint == ["/usr/bin/astis-run", "--install-to"]
         and .config.Cmd == ["/astis/bin"]' "$t/config.json" >/dev/null || fail "astis-run image config"
  files=$(cd "$rootfs" && find . -type f -o -type l | sort | tr '\n' ' ')
  [[ $files == './etc/group ./etc/passwd ./usr/bin/astis-run ' ]] || fail "astis-run image files: $files"
  # The init container: entrypoint + cmd, as 65532, into the shared volume.
  install -d -o 65532 -g 65532 "$rootfs/astis/bin"
  chroot --userspec=65532:65532 "$rootfs" /usr/bin/astis-run --install-to /astis/bin || fail "entrypoint failed"
  [[ $(stat -c '%a %u' "$rootfs/astis/bin/astis-run") == '555 65532' ]] || fail "copy mode/owner"
  cmp "$rootfs/usr/bin/astis-run" "$rootfs/astis/bin/astis-run" || fail "the copy differs"
  echo "astis-run image: $(stat -c %s "$t/img/astis-run.oci.tar") bytes archived"
  ;;
empty_chroot)
  need_root
  run=$1
  readelf -lW "$run" | grep -q 'Requesting program interpreter' && fail "$run needs a program interpreter"
  readelf -dW "$run" | grep -q NEEDED && fail "$run needs shared libraries: $(readelf -dW "$run" | grep NEEDED)"
  # The root holds astis-run and nothing else: no /dev, /proc, /etc, libc.
  r=$t/root
  mkdir -p "$r/out"
  cp "$run" "$r/astis-run"
  chroot "$r" /astis-run --help | grep -q -- '--install-to DIR' || fail "--help in the empty root"
  if "$run" --version >/dev/null 2>&1; then
    chroot "$r" /astis-run --version | tee "$t/version" | head -1 | grep -q '^astis-run ' ||
      fail "--version in the empty root: $(cat "$t/version")"
  else
    echo "note: this astis-run has no --version yet; not checked"
  fi
  # No /proc here: --install-to falls back to argv[0].
  chroot "$r" /astis-run --install-to /out || fail "--install-to in the empty root"
  cmp "$r/astis-run" "$r/out/astis-run" || fail "the copy differs"
  if [[ -n ${ASTIS_EDGE_URL:-} ]]; then
    # A real fetch (TLS, the edge protocol, HPKE) with the client files at
    # their host paths. CMD exits 0; astis-run runs it only after every
    # secret was fetched (else 125).
    for f in "$ASTIS_CA_FILE" "$ASTIS_API_KEY_FILE" "$ASTIS_TOKEN_PATH"; do install -D -m 0644 "$f" "$r$f"; done
    mkdir -p "$r$ASTIS_SECRETS_DIR" && cp -r "$ASTIS_SECRETS_DIR/." "$r$ASTIS_SECRETS_DIR/"
    chroot "$r" /astis-run --env PW=db-password --env TOK=api-token -- /astis-run --help >/dev/null ||
      fail "fetch from the empty root exited $?"
    set +e
    chroot "$r" /astis-run --env X=no-such-secret -- /astis-run --help >/dev/null 2>&1
    rc=$?
    set -e
    [[ $rc == 125 ]] || fail "a missing secret gave exit $rc, not 125 (is the fetch real?)"
    # By host name: the static getaddrinfo's built-in files module reads
    # /etc/hosts (no nsswitch.conf, no libnss_*). The edge binds DPoP proofs
    # to its own URL (127.0.0.1), so it answers 401 dpop_invalid: an answer
    # over TLS to "localhost" (a name in its certificate) proves the lookup.
    url=${ASTIS_EDGE_URL/127.0.0.1/localhost}
    [[ $url != "$ASTIS_EDGE_URL" ]] || fail "edge URL $ASTIS_EDGE_URL is not on 127.0.0.1"
    mkdir -p "$r/etc" && echo '127.0.0.1 localhost' >"$r/etc/hosts"
    ASTIS_EDGE_URL=$url chroot "$r" /astis-run --env PW=db-password -- /astis-run --help 2>"$t/err" >/dev/null &&
      fail "the edge accepted a proof for another URL"
    grep -q 'edge answered 401 dpop_invalid' "$t/err" || fail "https://localhost not reached: $(cat "$t/err")"
    rm "$r/etc/hosts"
    # No ASTIS_CA_FILE: the "system store" is the image's bundle where
    # Debian/Alpine keep it, not the /usr/lib/ssl compiled into the static OpenSSL.
    install -D -m 0644 "$ASTIS_CA_FILE" "$r/etc/ssl/certs/ca-certificates.crt"
    rm "$r$ASTIS_CA_FILE"
    env -u ASTIS_CA_FILE -u SSL_CERT_FILE -u SSL_CERT_DIR \
      chroot "$r" /astis-run --env PW=db-password -- /astis-run --help >/dev/null ||
      fail "fetch with the image's CA bundle exited $?"
    echo "fetched from the edge in the empty root; reached it as localhost through /etc/hosts"
  fi
  echo "empty root: $(find "$r" -type f | sort | tr '\n' ' ')"
  ;;
install_to)
  run=$1
  d=$t/d
  mkdir "$d"
  "$run" --install-to "$d" || fail "--install-to exited $?"
  [[ $(stat -c %a "$d/astis-run") == 555 ]] || fail "mode $(stat -c %a "$d/astis-run")"
  cmp "$run" "$d/astis-run" || fail "the copy differs"
  "$run" --install-to "$d" || fail "a second --install-to over the identical file exited $?"
  [[ $(find "$d" -mindepth 1 | wc -l) == 1 ]] || fail "temporary files left: $(ls -A "$d")"
  "$d/astis-run" --help >/dev/null || fail "the copy does not run"
  refused() {  # refused WHY ARGS...: astis-run ARGS exits 125
    local why=$1
    shift
    set +e
    "$run" "$@" 2>"$t/err"
    local rc=$?
    set -e
    [[ $rc == 125 ]] || fail "$why: exit $rc, not 125"
    echo "refused ($why): $(tail -1 "$t/err")"
  }
  # RefusesDifferentFile: an existing different astis-run stays as it was.
  mkdir "$t/other" && echo 'not astis-run' >"$t/other/astis-run"
  refused "different file" --install-to "$t/other"
  [[ $(cat "$t/other/astis-run") == 'not astis-run' ]] || fail "the different file was replaced"
  [[ $(find "$t/other" -mindepth 1 | wc -l) == 1 ]] || fail "temporary files left in $t/other"
  # RefusesSymlink: a symlink at the destination is not followed or replaced.
  mkdir "$t/link" && ln -s "$run" "$t/link/astis-run"
  refused "symlink" --install-to "$t/link"
  [[ -L $t/link/astis-run ]] || fail "the symlink was replaced"
  refused "missing directory" --install-to "$t/none"
  refused "a file, not a directory" --install-to "$t/other/astis-run"
  refused "no directory given" --install-to
  refused "empty directory" --install-to ""
  refused "extra argument" --install-to "$d" extra
  if [[ $(id -u) != 0 ]]; then
    mkdir "$t/ro" && chmod 0555 "$t/ro"
    refused "unwritable directory" --install-to "$t/ro"
  fi
  ;;
set_digests)
  src=$1
  cp -r "$src/deploy" "$t/deploy"
  a=sha256:$(echo a | sha256sum | cut -d' ' -f1)
  b=sha256:$(echo b | sha256sum | cut -d' ' -f1)
  printf '# built by scripts/build-images.sh\nastis %s\nastis-run %s\n' "$a" "$b" >"$t/digests"
  "$src/scripts/set-deploy-digests.sh" "$t/digests" "$t/deploy"
  for o in tier1 tier2-edge tier2-customer-cvs; do
    images=$(kubectl kustomize "$t/deploy/overlays/$o" | grep -E '^ +image: registry\.example\.com/astis/' | sort -u)
    [[ -n $images ]] || fail "$o: no astis image rendered"
    while read -r _ image; do
      [[ $image == *"@$a" ]] || fail "$o: $image is not pinned to the new digest"
    done <<<"$images"
  done
  # The inject component: the webhook runs the astis image, and both the
  # run-image init container and the --run-image it passes on get astis-run's.
  rendered=$(kubectl kustomize "$t/deploy/overlays/tier1-inject")
  grep -qE "^ +image: registry\.example\.com/astis/inject@$a\$" <<<"$rendered" || fail "tier1-inject: webhook image"
  grep -qE "^ +image: registry\.example\.com/astis/astis-run@$b\$" <<<"$rendered" || fail "tier1-inject: run-image"
  grep -qE "^ +value: registry\.example\.com/astis/astis-run@$b\$" <<<"$rendered" ||
    fail "tier1-inject: ASTIS_INJECT_RUN_IMAGE is not the new astis-run digest"
  # Idempotent, and only the digest lines changed.
  cp -r "$t/deploy" "$t/deploy2"
  "$src/scripts/set-deploy-digests.sh" "$t/digests" "$t/deploy2" >/dev/null
  diff -r "$t/deploy" "$t/deploy2" || fail "a second run changed deploy/"
  changed=$(diff -r "$src/deploy" "$t/deploy" | grep -E '^[<>]' | grep -Ev '^[<>] +digest: sha256:' || true)
  [[ -z $changed ]] || fail "lines other than digest: changed: $changed"
  refuses() {  # refuses WHY DIGESTS_TEXT
    printf '%s' "$2" >"$t/bad"
    if "$src/scripts/set-deploy-digests.sh" "$t/bad" "$t/deploy2" 2>"$t/err"; then fail "$1: accepted"; fi
    diff -r "$t/deploy" "$t/deploy2" >/dev/null || fail "$1: deploy/ changed although refused"
    echo "refused ($1): $(cat "$t/err")"
  }
  refuses "upper-case digest" "astis ${a^^}"$'\n'"astis-run $b"$'\n'
  refuses "short digest" "astis sha256:abc"$'\n'"astis-run $b"$'\n'
  refuses "astis-run missing" "astis $a"$'\n'
  mkdir "$t/empty"
  if "$src/scripts/set-deploy-digests.sh" "$t/digests" "$t/empty" 2>/dev/null; then
    fail "no images: entries: accepted"
  fi
  ;;
no_placeholder)
  src=$1
  # deploy/examples/ is the user's own application image, which this
  # project cannot build; everything else is what it builds.
  scan() { grep -rEn --include='*.yaml' "$placeholder_re" "$1" --exclude-dir=examples || true; }
  found=$(scan "$src/deploy")
  [[ -z $found ]] || fail "placeholder image digest in deploy/ (run scripts/set-deploy-digests.sh): $found"
  # The check finds one planted in a copy.
  cp -r "$src/deploy" "$t/deploy"
  sed -i -E 's/(digest: sha256:)[0-9a-f]{64}/\11111111111111111111111111111111111111111111111111111111111111111/' \
    "$t/deploy/base/edge/kustomization.yaml"
  [[ -n $(scan "$t/deploy") ]] || fail "the scan missed a planted placeholder"
  grep -rEq --include='*.yaml' 'digest: sha256:[0-9a-f]{64}' "$src/deploy/base" ||
    fail "no images: digest in deploy/base"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
echo "PASS: $mode"
