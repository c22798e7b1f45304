#!/usr/bin/env bash
# wheel_test.sh BUILD_DIR SOURCE_DIR — the Python wheel as a user installs it:
# python/build-wheel.sh builds it from BUILD_DIR's libastis (offline,
# python3-build --no-isolation), pip installs it into a fresh venv with
# --no-index, and `import astis` there, with no ASTIS_LIBRARY and no
# libastis on the system, loads the wheel's own libastis.so.0.
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")

wheel=$("$src/python/build-wheel.sh" "$build" "$tmp/dist") || fail "python/build-wheel.sh"
[[ $(basename "$wheel") == astis-$version-py3-none-linux_*.whl ]] || fail "wheel name $(basename "$wheel")"
python=
for p in ${PYTHON:-} /usr/bin/python3 python3; do
  if "$p" -c 'import venv, ensurepip' 2>/dev/null; then python=$p; break; fi
done
[[ -n $python ]] || fail "no python3 with venv and ensurepip (python3-venv)"
"$python" -m venv "$tmp/venv" || fail "python3 -m venv"
"$tmp/venv/bin/pip" install --no-index --disable-pip-version-check -q "$wheel" ||
  fail "pip install --no-index the wheel"
cd "$tmp"  # not the source tree: import the installed package
out=$(env -u ASTIS_LIBRARY -u PYTHONPATH "$tmp/venv/bin/python" -c '
import astis, os
print(astis.__version__)
print(astis.version(), end="")
maps = open("/proc/self/maps").read()
print("loaded", [l.split()[-1] for l in maps.splitlines() if "libastis" in l][0])
') || fail "import astis in the venv"
echo "$out"
[[ $(sed -n 1p <<<"$out") == "$version" ]] || fail "astis.__version__ is not $version"
[[ $(sed -n 2p <<<"$out") == "libastis $version" ]] || fail "astis.version() does not start with libastis $version"
grep -q "^loaded $tmp/venv/lib/python3[.0-9]*/site-packages/astis/libastis.so.0$" <<<"$out" ||
  fail "the venv's astis did not load the wheel's libastis.so.0"
