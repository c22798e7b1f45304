#!/usr/bin/env bash
# build-wheel.sh — the astis wheel from a build's libastis, offline.
#
#   python/build-wheel.sh [BUILD_DIR=build/release] [OUT_DIR=dist]
#
# Stages python/ (pyproject.toml, astis/*.py) with BUILD_DIR's
# python/astis/_version.py and libastis.so.0 (the real file, under its
# SONAME) and runs `python3 -m build --no-isolation --wheel` (Debian's
# python3-build, python3-setuptools, python3-wheel). Prints the wheel's path.
# SOURCE_DATE_EPOCH (default: the last commit's time) fixes the zip times.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build_dir=$(cd "${1:-$here/../build/release}" && pwd)
out_dir=${2:-$here/../dist}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

lib=$build_dir/src/sdk/libastis.so.0
version_py=$build_dir/python/astis/_version.py
for f in "$lib" "$version_py"; do
  [[ -e $f ]] || { echo "build-wheel: $f missing (build the release tree first)" >&2; exit 1; }
done

python=
for p in ${PYTHON:-} /usr/bin/python3 python3; do
  if "$p" -c 'import build, setuptools, wheel' 2>/dev/null; then python=$p; break; fi
done
[[ -n $python ]] || { echo "build-wheel: no python3 with build, setuptools and wheel" \
  "(apt-get install python3-build python3-setuptools python3-wheel)" >&2; exit 1; }

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 315532800)
fi
export SOURCE_DATE_EPOCH

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/astis"
cp "$here/pyproject.toml" "$stage/"
cp "$here"/astis/*.py "$stage/astis/"
cp "$version_py" "$stage/astis/_version.py"
cp -L "$lib" "$stage/astis/libastis.so.0"
chmod 0644 "$stage/astis/libastis.so.0"
# A platform wheel (it carries a native library), for any Python 3.
plat=$("$python" -c 'import sysconfig; print(sysconfig.get_platform().replace("-", "_").replace(".", "_"))')
printf '[bdist_wheel]\npython_tag = py3\nplat_name = %s\n' "$plat" > "$stage/setup.cfg"

(cd "$stage" && "$python" -m build --no-isolation --wheel --outdir "$stage/dist" . >"$stage/build.log" 2>&1) || {
  cat "$stage/build.log" >&2; exit 1; }
wheel=$(ls "$stage"/dist/astis-*.whl)
cp "$wheel" "$out_dir/"
echo "$out_dir/$(basename "$wheel")"
