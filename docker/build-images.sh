#!/usr/bin/env bash
# build-images.sh [REGISTRY] [TAG] — build and push the edge and CVS images,
# then print the digests to pin in deploy/base/*/deployment.yaml.
#
#   docker/build-images.sh registry.example.com/astis 0.1.0
#
# Needs docker with BuildKit and push access to REGISTRY. It was NOT run in
# the development sandbox (no container runtime, no registry access); the
# manifests in deploy/ carry placeholder digests until it is.
set -euo pipefail
cd "$(dirname "$0")/.."
registry=${1:-registry.example.com/astis}
tag=${2:-$(git describe --tags --always --dirty)}

for target in edge cvs; do
  image="$registry/$target:$tag"
  docker build --file docker/Dockerfile --target "$target" \
    --build-arg BUILD_IMAGE="${BUILD_IMAGE:-debian:12}" \
    --build-arg RUNTIME_IMAGE="${RUNTIME_IMAGE:-gcr.io/distroless/cc-debian12:nonroot}" \
    --tag "$image" .
  docker push "$image"
  digest=$(docker inspect --format '{{index .RepoDigests 0}}' "$image")
  echo "$target: $digest"
  echo "  pin it: set image: in deploy/base/$target/deployment.yaml to ${digest}"
done
