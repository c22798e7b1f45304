#!/usr/bin/env bash
# install-deps.sh — install every Debian package this project needs to build,
# test, fuzz and benchmark. Idempotent: installs only what is missing, and
# runs `apt-get update` only when something is. Must run as root (or sudo).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config git ccache
  clang-14 libclang-rt-14-dev llvm-14
  # libraries (see docs/architecture.md "Dependencies")
  libssl-dev libsodium-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev
  libboost1.81-dev libboost-system1.81-dev libsqlite3-dev libpq-dev
  # PostgreSQL server for the HA store tests (started by the tests on a free port)
  postgresql
  # org keys in a PKCS#11 token: the pkcs11.h header (p11-kit) and SoftHSM2,
  # the token the tests start with a private token directory (docs/hsm.md)
  libp11-kit-dev softhsm2
  # Go wrapper of the SDK (cgo)
  golang-go
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # interoperability client (written only from docs/protocol.md, no npm deps)
  nodejs
  # scripts
  python3 openssl procps
  zsh  # the zsh completion checked in zsh itself (tests/install/completion_test.py)
  umoci skopeo ca-certificates  # container images without a daemon: scripts/build-images.sh
  dpkg-dev lintian  # Debian packages: scripts/package-deb.sh, tests/packaging
  help2man python3-build python3-venv python3-setuptools python3-wheel  # man pages; the wheel (docs/install.md)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# kubectl drives the Kubernetes stand-in tests and renders deploy/ with
# kustomize. Any kubectl on PATH will do; otherwise Debian's kubernetes-client.
if ! command -v kubectl >/dev/null 2>&1; then
  missing+=(kubernetes-client)
fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
else
  SUDO=
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
