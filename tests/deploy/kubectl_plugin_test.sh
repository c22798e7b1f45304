#!/usr/bin/env bash
# kubectl_plugin_test.sh BIN_DIR TESTS_DEPLOY_DIR — `kubectl astis ...` runs
# the `astis` binary through the kubectl-astis symlink found on PATH (kubectl
# plugin discovery). Checks seal --help, keygen, a seal round, the plugin
# listing, `kubectl astis lint` on the rendered example workload (clean) and
# on its broken copy with a tag image (refused), and that an unknown
# subcommand fails.
set -euo pipefail
bin_dir=$1
tests_dir=$2
[[ -x $bin_dir/kubectl-astis ]] || { echo "FAIL: $bin_dir/kubectl-astis missing (post-build symlink)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PATH="$bin_dir:$PATH" KUBECONFIG="$tmp/none"

kubectl plugin list 2>/dev/null | grep -q "kubectl-astis$" || { echo "FAIL: kubectl plugin list does not show kubectl-astis"; exit 1; }

help=$(kubectl astis seal --help)
grep -q -- "--public-key" <<<"$help" || { echo "FAIL: seal --help lacks --public-key"; exit 1; }

kubectl astis keygen --out "$tmp/keys" >"$tmp/keygen.out"
[[ -s $tmp/keys/org-key.pub.jwk && -s $tmp/keys/org-key.jwk ]] || { echo "FAIL: keygen wrote no key files"; exit 1; }
[[ $(stat -c %a "$tmp/keys/org-key.jwk") == 600 ]] || { echo "FAIL: private key not 0600"; exit 1; }

kubectl astis seal --public-key "$tmp/keys/org-key.pub.jwk" --cluster prod --namespace payments \
  --service-account api --name api-sealed --from-literal db-password=canary-plaintext -o json >"$tmp/sealed.json"
node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const v = Buffer.from(s.data["db-password"], "base64").toString("latin1");
  if (!v.startsWith("astis.v1.")) { console.log("FAIL: seal output is not a sealed value"); process.exit(1); }
  if (JSON.stringify(s).includes("canary-plaintext") || v.includes("canary-plaintext")) {
    console.log("FAIL: plaintext in sealed output"); process.exit(1);
  }' "$tmp/sealed.json"

kubectl kustomize "$tests_dir/../../deploy/examples/workload" >"$tmp/workload.yaml"
kubectl astis lint -f "$tmp/workload.yaml" >/dev/null || { echo "FAIL: kubectl astis lint refuses the example workload"; exit 1; }
kubectl kustomize "$tests_dir/broken/RejectsTagImage" >"$tmp/tag.yaml"
if kubectl astis lint -f "$tmp/tag.yaml" >/dev/null; then echo "FAIL: kubectl astis lint accepts a tag image"; exit 1; fi

if kubectl astis no-such-command >/dev/null 2>&1; then echo "FAIL: unknown subcommand accepted"; exit 1; fi
echo "ok: kubectl astis seal --help, keygen, seal, lint, plugin list"
