#!/usr/bin/env bash
# test-clean-root-install.sh [DEB_DIR] [BUILD_DIR] — install the Debian packages
# the way a user does, into a clean Debian 12 root, and use them there.
#
#   scripts/package-deb.sh build/release dist     # the four .debs
#   scripts/test-clean-root-install.sh dist build/release
#
# Long (a few minutes, mostly debootstrap and apt downloads) and separate from
# the test command, which runs the light check (tests/packaging). Needs root
# (debootstrap, chroot, mount) and the Debian archive (deb.debian.org, or
# $DEBIAN_MIRROR); installs debootstrap on the host if it is missing.
#
#   1. debootstrap --variant=minbase bookworm into a temporary directory: the
#      root holds Debian's packages only, nothing from the build machine;
#   2. copies the .debs of DEB_DIR (default dist/) in and runs
#      `apt-get install ./*.deb` inside: every dependency comes from the archive;
#   3. inside the root: `astis --version`, keygen -> seal -> unseal;
#   4. apt-get install gcc pkg-config, compiles examples/c/astis_get.c with
#      `pkg-config --cflags --libs astis` against the installed libastis-dev;
#   5. a live edge: the installed `astis serve` (inside the root, on loopback,
#      SQLite, embedded CVS) for one organisation whose cluster is the project's
#      Kubernetes API stand-in (BUILD_DIR/tools/kube-standin, default
#      build/release, outside the root: it plays the cluster, not the product);
#      then, inside the root, examples/python/astis_get.py (python3-astis), the C
#      example and astis-run fetch a sealed value as a pod would.
#
# ASTIS_DEBOOTSTRAP_TARBALL=FILE: the archive's .debs for step 1, downloaded
# once by `debootstrap --make-tarball=FILE bookworm DIR` (a download cache:
# the root is still installed from Debian's packages, only without the fetch).
#
# Prints the time of each step. On exit it stops what it started, unmounts
# /proc from the root and deletes it (ASTIS_KEEP_ROOT=1 keeps it for a look).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
debs=$(cd "${1:-$src/dist}" && pwd)
build=$(cd "${2:-$src/build/release}" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
standin=$build/tools/kube-standin/astis-kube-standin
die() { echo "clean-root: FAIL: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mount)"
compgen -G "$debs/*.deb" > /dev/null || die "no .deb in $debs (scripts/package-deb.sh first)"
[[ -x $standin ]] || die "$standin is not built"
command -v kubectl > /dev/null || die "kubectl not found (scripts/install-deps.sh installs it)"
if ! command -v debootstrap > /dev/null; then
  echo "clean-root: installing debootstrap on the host"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap > /dev/null
fi

root=$(mktemp -d /var/tmp/astis-clean-root.XXXXXX)
chmod 0755 "$root"  # apt's _apt user reads below it
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  if mountpoint -q "$root/proc"; then umount "$root/proc" || umount -l "$root/proc"; fi
  rm -f "$root.times" "$root.debootstrap.log"
  if [[ ${ASTIS_KEEP_ROOT:-0} == 1 ]]; then
    echo "clean-root: root kept in $root"
  elif [[ -n $(findmnt -rn -o TARGET | grep -F "$root/" || true) ]]; then
    echo "clean-root: something is still mounted under $root; not deleting it" >&2
  else
    rm -rf "$root"
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM
in_root_cmd=(/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8)
in_root() { chroot "$root" "${in_root_cmd[@]}" "$@"; }
apt_install() {  # apt_install LOG PACKAGE...: apt-get install inside the root
  local log=$1
  shift
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@" \
    > "$log" 2>&1 || { cat "$log" >&2; die "apt-get install $*"; }
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
took() { printf 'clean-root: %-44s %4d s\n' "$1" $((SECONDS - tstep)) | tee -a "$root.times"; tstep=$SECONDS; }
t0=$SECONDS
tstep=$SECONDS
: > "$root.times"

step "1. debootstrap a minimal Debian 12 root from $mirror"
tarball=()
[[ -n ${ASTIS_DEBOOTSTRAP_TARBALL:-} ]] && tarball=(--unpack-tarball="$(realpath "$ASTIS_DEBOOTSTRAP_TARBALL")")
debootstrap --variant=minbase "${tarball[@]}" bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log" >&2; die "debootstrap"; }
rm -f "$root.debootstrap.log"
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root dpkg-query -W -f='${Package}\n' > "$root/tmp/before.list"
echo "$(wc -l < "$root/tmp/before.list") packages, all from the archive; no astis:"
if grep -E '^(astis|libastis0|libastis-dev|python3-astis)$' "$root/tmp/before.list"; then
  die "astis already in the root"
fi
took "debootstrap"

step "2. apt-get install the .debs; their dependencies come from the archive"
mkdir "$root/debs"
cp "$debs"/*.deb "$root/debs/"
ls "$root/debs"
in_root apt-get update -qq
in_root_debs=()
for pkg in astis libastis0 libastis-dev python3-astis; do
  f=$(compgen -G "$root/debs/${pkg}_*.deb") || die "no ${pkg}_*.deb in $debs"
  in_root_debs+=("${f#"$root"}")
done
apt_install "$root/tmp/apt.log" "${in_root_debs[@]}"
in_root dpkg-query -W -f='${Package} ${Version}\n' astis libastis0 libastis-dev python3-astis
in_root dpkg-query -W -f='${Package}\n' | sort | comm -13 <(sort "$root/tmp/before.list") - |
  grep -vxE 'astis|libastis0|libastis-dev|python3-astis' | tr '\n' ' ' > "$root/tmp/pulled"
echo "pulled from the archive: $(cat "$root/tmp/pulled")"
took "apt-get install ./*.deb"

step "3. astis --version; keygen -> seal -> unseal"
in_root astis --version || die "astis --version"
in_root astis-run --version || die "astis-run --version"
mkdir -m 0700 "$root/work"
cat > "$root/work/plain.yaml" <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
type: Opaque
stringData:
  password: correct horse battery staple
YAML
in_root astis keygen --out /work/keys > /dev/null
in_root astis seal --public-key /work/keys/org-key.pub.jwk --cluster prod --namespace payments \
  --service-account api -f /work/plain.yaml > "$root/work/sealed-offline.yaml"
if grep -q "correct horse" "$root/work/sealed-offline.yaml"; then die "the sealed Secret holds the plaintext"; fi
in_root astis unseal --org-key /work/keys/org-key.jwk -f /work/sealed-offline.yaml > "$root/work/unsealed.yaml"
grep -qF "$(printf 'correct horse battery staple' | base64)" "$root/work/unsealed.yaml" ||
  die "unseal did not give the value back"
echo "ok: the value sealed with the public key comes back with the private key"
took "version, keygen, seal, unseal"

step "4. The C example against the installed pkg-config"
apt_install "$root/tmp/apt-gcc.log" gcc libc6-dev pkg-config
cp "$src/examples/c/astis_get.c" "$src/examples/python/astis_get.py" "$root/work/"
echo "pkg-config --cflags --libs astis: $(in_root pkg-config --cflags --libs astis)"
in_root sh -c 'gcc -Wall -Werror -o /work/astis_get_c /work/astis_get.c $(pkg-config --cflags --libs astis)' ||
  die "the C example does not compile against the installed package"
in_root /work/astis_get_c --help > /dev/null || die "the C example does not run"
echo "ok: compiled and linked with pkg-config; runs"
took "apt-get install gcc, compile the C example"

step "5. A live edge: the installed astis serve; the stand-in cluster outside the root"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for FILE PATTERN: a child wrote PATTERN into FILE (10 s)
  local i
  for ((i = 0; i < 200; i++)); do grep -q "$2" "$1" 2> /dev/null && return 0; sleep 0.05; done
  cat "$1" >&2 || true
  die "timed out waiting for '$2' in $1"
}
kube=$root/work/kube
"$standin" --dir "$kube" --port 0 2> "$root/work/kube.log" &
pids+=($!)
wait_for "$kube/url" https
kc() { kubectl --kubeconfig "$kube/kubeconfig" "$@"; }
app_digest="sha256:$(printf 'payments-api v1.4.2' | sha256sum | cut -d' ' -f1)"
in_root astis org add --store /work/astis.db --name acme --tier standard
mkdir -m 0700 "$root/work/cvs-keys"
in_root astis org key create --org acme --keys-dir /work/cvs-keys > "$root/work/acme.pub.jwk"
in_root astis seal --public-key /work/acme.pub.jwk --cluster prod --namespace payments --service-account api \
  -f /work/plain.yaml > "$root/work/sealed.yaml"
kc apply --validate=false -f "$root/work/sealed.yaml" > /dev/null
cat > "$root/work/pod.yaml" <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: payments}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata: {name: payments-api-0, namespace: payments}
spec:
  serviceAccountName: api
  automountServiceAccountToken: false
  containers:
  - name: app
    image: registry.example/payments/api@$app_digest
YAML
kc apply --validate=false -f "$root/work/pod.yaml" > /dev/null
in_root astis cluster add --store /work/astis.db --org acme --name prod --issuer "$(cat "$kube/issuer")" \
  --audience astis --jwks-file /work/kube/jwks.json --api-url "$(cat "$kube/url")" --ca-file /work/kube/ca.crt \
  --token-file /work/kube/read.token --mode strict > /dev/null
in_root astis workload add --store /work/astis.db --org acme --cluster prod --namespace payments \
  --service-account api --image "$app_digest" > /dev/null
in_root astis apikey create --store /work/astis.db --org acme --cluster prod --namespace payments \
  --service-account api --expires-in 1h > "$root/work/api.key" 2> /dev/null
chmod 0400 "$root/work/api.key"
port=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=astis-clean-root-edge" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$root/work/edge.key" -out "$root/work/edge.crt" 2> /dev/null
cat > "$root/work/edge.yaml" <<YAML
listen: {address: 127.0.0.1, port: $port}
tls: {cert_file: /work/edge.crt, key_file: /work/edge.key}
external_base_url: https://127.0.0.1:$port
store: {backend: sqlite, path: /work/astis.db}
cvs: {mode: embedded, org_keys_dir: /work/cvs-keys}
audit_log: /work/audit.log
YAML
# Not through in_root (a function runs in a subshell): $! is chroot, which execs env, which execs astis.
chroot "$root" "${in_root_cmd[@]}" astis serve --config /work/edge.yaml 2> "$root/work/edge.log" &
pids+=($!)
wait_for "$root/work/edge.log" "serving on"
grep "serving on" "$root/work/edge.log"
mkdir -p "$root/work/pod/secrets"
kc create token api -n payments --bound-object-kind Pod --bound-object-name payments-api-0 --audience astis \
  --duration 10m > "$root/work/pod/token"
kc get secret db-creds -n payments -o jsonpath='{.data.password}' | base64 -d > "$root/work/pod/secrets/password"
pod_env=(ASTIS_EDGE_URL="https://127.0.0.1:$port" ASTIS_CA_FILE=/work/edge.crt ASTIS_API_KEY_FILE=/work/api.key
  ASTIS_TOKEN_PATH=/work/pod/token ASTIS_SECRETS_DIR=/work/pod/secrets ASTIS_PIN_WAIT_SECONDS=0)
took "stand-in cluster, org, seal, astis serve"

out=$(in_root env "${pod_env[@]}" python3 /work/astis_get.py password) || die "the Python example failed"
echo "python3 (python3-astis): $out"
[[ $out == "password: 28 bytes" ]] || die "the Python example did not get the 28-byte value"
out=$(in_root env "${pod_env[@]}" /work/astis_get_c password) || die "the C example failed"
echo "C (libastis-dev, libastis0): $out"
[[ $out == "password: 28 bytes" ]] || die "the C example did not get the 28-byte value"
out=$(in_root env "${pod_env[@]}" astis-run --env DB_PASSWORD=password -- sh -c 'echo "$DB_PASSWORD"') ||
  die "astis-run failed"
[[ $out == "correct horse battery staple" ]] || die "astis-run did not pass the value"
echo "astis-run: the command saw DB_PASSWORD"
took "Python example, C example, astis-run"

printf '\n'
cat "$root.times"
printf 'clean-root: %-44s %4d s\n' "total" $((SECONDS - t0))
echo "clean-root: ok"
