#!/usr/bin/env bash
# set-deploy-digests.sh [DIGESTS] [DEPLOY_DIR] — write the digests of the
# images scripts/build-images.sh built into the kustomizations' `images:`
# fields, so every render of deploy/ pins what was built.
#
#   DIGESTS     "NAME sha256:<64 hex>" per line (default dist/images/digests)
#   DEPLOY_DIR  default deploy/
#
# In every kustomization.yaml under DEPLOY_DIR, an `images:` entry whose
# name is .../edge, .../cvs or .../inject gets the astis image's digest,
# .../astis-run the astis-run image's (deploy/components/inject copies it
# into the webhook's --run-image); its `digest:` line is rewritten in place (comments and
# layout kept). Debian has no kustomize binary to do `kustomize edit set
# image`, and `kubectl kustomize` only renders. Prints each change. Fails if
# DIGESTS lacks an image, holds a malformed digest, or no entry was found.
# Test: tests/images (images_set_deploy_digests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
digests=${1:-$root/dist/images/digests}
deploy=${2:-$root/deploy}
fail() { echo "set-deploy-digests: $*" >&2; exit 1; }
[[ -f $digests ]] || fail "$digests not found (run scripts/build-images.sh first)"
[[ -d $deploy ]] || fail "$deploy is not a directory"

declare -A digest
while read -r name value; do
  [[ -z $name || $name == \#* ]] && continue
  [[ $value =~ ^sha256:[0-9a-f]{64}$ ]] || fail "$digests: $name: '$value' is not sha256:<64 lower-case hex>"
  digest[$name]=$value
done <"$digests"
for name in astis astis-run; do
  [[ -n ${digest[$name]:-} ]] || fail "$digests has no digest for image $name"
done

changed=0
while IFS= read -r -d '' file; do
  # Rewrites the digest: line of each matching images: entry; prints
  # "name digest" per entry set, to stderr.
  awk -v astis="${digest[astis]}" -v run="${digest[astis-run]}" '
    /^images:/ { in_images = 1; print; next }
    /^[^ #-]/ { in_images = 0 }
    in_images && match($0, /^ *- name: */) {
      name = substr($0, RLENGTH + 1); sub(/[ \t]+$/, "", name)
      n = split(name, parts, "/"); base = parts[n]
      want = (base == "edge" || base == "cvs" || base == "inject") ? astis : (base == "astis-run" ? run : "")
    }
    in_images && want != "" && match($0, /^ *digest: */) {
      print substr($0, 1, RLENGTH) want
      print name " " want > "/dev/stderr"
      want = ""
      next
    }
    { print }
  ' "$file" >"$file.new" 2>"$file.log"
  if [[ -s $file.log ]]; then
    sed "s|^|${file#"$root"/}: |" "$file.log"
    changed=$((changed + $(wc -l <"$file.log")))
  fi
  rm -f "$file.log"
  if cmp -s "$file" "$file.new"; then rm -f "$file.new"; else mv "$file.new" "$file"; fi
done < <(find "$deploy" -name kustomization.yaml -print0 | sort -z)
((changed > 0)) || fail "no images: entry for .../edge, .../cvs, .../inject or .../astis-run under $deploy"
