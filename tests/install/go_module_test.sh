#!/usr/bin/env bash
# go_module_test.sh BUILD_DIR SOURCE_DIR — the Go wrapper under its documented
# module path, astis.dev/astis (docs/install.md "Go"), fetched the way a user
# fetches it: a throwaway consumer module requires astis.dev/astis
# v<project version> with no replace line, and the go command downloads it
# from GOPROXY=file://, a module proxy (the GOPROXY protocol: @v/list,
# .info, .mod, .zip) this test lays out from go/. No network: nothing else
# is reachable. Then go build, go vet, and the binary prints Version().
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
cleanup() { chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

module=$(sed -n 's/^module //p' "$src/go/go.mod")
[[ $module == astis.dev/astis ]] || fail "go/go.mod declares $module, docs/install.md says astis.dev/astis"
version=v$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
when=$(git -C "$src" log -1 --format=%cI 2>/dev/null || echo 2026-01-01T00:00:00Z)

# The proxy: $tmp/proxy/astis.dev/astis/@v/{list,vX.info,vX.mod,vX.zip}.
v=$tmp/proxy/$module/@v
mkdir -p "$v"
echo "$version" > "$v/list"
printf '{"Version":"%s","Time":"%s"}\n' "$version" "$when" > "$v/$version.info"
cp "$src/go/go.mod" "$v/$version.mod"
python3 - "$src/go" "$module@$version" "$v/$version.zip" <<'PY'
import os, sys, zipfile
src, prefix, out = sys.argv[1:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(src)):
        if os.path.isfile(os.path.join(src, name)):
            z.write(os.path.join(src, name), f"{prefix}/{name}")
PY

mkdir -p "$tmp/consumer"
cat > "$tmp/consumer/go.mod" <<MOD
module example.com/consumer

go 1.19

require $module $version
MOD
cat > "$tmp/consumer/main.go" <<'GO'
package main

import (
	"fmt"

	"astis.dev/astis"
)

func main() { fmt.Print(astis.Version()) }
GO
grep -q '^replace' "$tmp/consumer/go.mod" && fail "the consumer has a replace line"

export GOENV=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1
export GOPROXY=file://$tmp/proxy GOFLAGS=-mod=mod GONOSUMDB=astis.dev GONOSUMCHECK=1 GOSUMDB=off
export GOPATH=$tmp/gopath GOCACHE=$build/go/cache
export CGO_CFLAGS="-I$src/include" CGO_LDFLAGS="-L$build/src/sdk -Wl,-rpath,$build/src/sdk"
cd "$tmp/consumer"
go mod download "$module" || fail "go mod download $module from the file:// proxy"
[[ -f $GOPATH/pkg/mod/$module@$version/astis.go ]] || fail "module not in the module cache"
go build -o consumer . || fail "go build"
go vet ./... || fail "go vet"
out=$(./consumer) || fail "run the consumer"
grep -q "^libastis ${version#v}$" <<<"$(sed -n 1p <<<"$out")" || fail "Version() printed: $out"
grep -q "^require $module $version" go.mod || fail "go.mod lost its require"
echo "ok $module $version from GOPROXY=file:// (no replace): $(sed -n 1p <<<"$out")"
