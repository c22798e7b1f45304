"""org_key_secret_test.py ASTIS KUBECTL SOURCE_DIR: the org key commands of
docs/deploy.md ("The org key Secret") work as written, with no cluster.

The fenced block after the marker comment is run line by line, in order, in
an empty directory, with `astis` the built binary and `kubectl` the real one
given --dry-run=client -o yaml (offline). Then:
  - the Secret is astis-org-keys in namespace astis;
  - its keys are exactly the items deploy/base/cvs/deployment.yaml mounts from
    it, and the mounted path (mountPath/path) is org_keys in
    deploy/base/cvs/cvs.yaml, so the CVS reads the file keygen wrote;
  - its content is the org key: a value sealed to the public key keygen wrote
    opens with it (`astis unseal --org-key`).
Each broken link is one FAIL line and exit 1."""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

astis, kubectl, source = (os.path.abspath(a) for a in sys.argv[1:4])
MARKER = "<!-- tests/deploy/org_key_secret_test.py runs the block below"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


doc = open(os.path.join(source, "docs/deploy.md")).read()
at = doc.find(MARKER)
if at < 0:
    sys.exit("FAIL: docs/deploy.md has no tested org key block (marker missing)")
block = re.search(r"```sh\n(.*?)```", doc[at:], re.S)
commands = [c for c in block.group(1).replace("\\\n", " ").splitlines() if c.strip() and not c.startswith("#")]
if not any(c.startswith("astis keygen") for c in commands) or not any(c.startswith("kubectl") for c in commands):
    fail(f"the block does not generate a key and create the Secret: {commands}")

work = tempfile.mkdtemp(prefix="astis-org-key-secret-")
bindir = os.path.join(work, "bin")
os.mkdir(bindir)
os.symlink(astis, os.path.join(bindir, "astis"))
with open(os.path.join(bindir, "kubectl"), "w") as f:
    f.write(f'#!/bin/sh\nexec {kubectl} "$@" --dry-run=client -o yaml\n')
os.chmod(os.path.join(bindir, "kubectl"), 0o755)
run_dir = os.path.join(work, "run")
os.mkdir(run_dir)
env = {"PATH": bindir + ":/usr/bin:/bin", "HOME": work, "KUBECONFIG": os.path.join(work, "no-kubeconfig")}
secrets = []
for c in commands:
    r = subprocess.run(["sh", "-ec", c], cwd=run_dir, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"`{c}` exited {r.returncode}: {r.stderr.strip()}")
        break
    if c.startswith("kubectl"):
        secrets.extend(d for d in yaml.safe_load_all(r.stdout) if d and d.get("kind") == "Secret")

secret = next((s for s in secrets if s["metadata"]["name"] == "astis-org-keys"), None)
if secret is None:
    fail("the block creates no Secret astis-org-keys")
    secret = {"metadata": {}, "data": {}}
elif secret["metadata"].get("namespace") != "astis":
    fail(f"Secret astis-org-keys is in namespace {secret['metadata'].get('namespace')}, not astis")

# What deploy/base/cvs mounts from that Secret, and where the CVS reads it.
deployment = yaml.safe_load(open(os.path.join(source, "deploy/base/cvs/deployment.yaml")))
cvs_config = yaml.safe_load(open(os.path.join(source, "deploy/base/cvs/cvs.yaml")))
pod = deployment["spec"]["template"]["spec"]
volume = next(v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "astis-org-keys")
items = volume["secret"].get("items", [])
container = next(c for c in pod["containers"] if c["name"] == "cvs")
mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
mounted = {mount["mountPath"].rstrip("/") + "/" + i["path"]: i["key"] for i in items}
if set(secret.get("data", {})) != {i["key"] for i in items}:
    fail(f"Secret keys {sorted(secret.get('data', {}))} != "
         f"keys deploy/base/cvs mounts {sorted(i['key'] for i in items)}")
if cvs_config.get("org_keys") not in mounted:
    fail(f"cvs.yaml org_keys {cvs_config.get('org_keys')} is not a mounted path ({sorted(mounted)})")
key_name = mounted.get(cvs_config.get("org_keys"))

# The content is the private key of the public key the block wrote.
pubs = [os.path.join(d, f) for d, _, fs in os.walk(run_dir) for f in fs if f.endswith(".pub.jwk")]
if key_name in secret.get("data", {}) and len(pubs) == 1:
    keyfile = os.path.join(work, "from-secret.jwk")
    fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, base64.b64decode(secret["data"][key_name]))
    os.close(fd)
    plain = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: payments}\nstringData: {pw: canary-1}\n"
    sealed = subprocess.run([astis, "seal", "--public-key", pubs[0], "--cluster", "prod", "--namespace", "payments",
                             "--service-account", "api"], input=plain, capture_output=True, text=True)
    opened = subprocess.run([astis, "unseal", "--org-key", keyfile], input=sealed.stdout, capture_output=True,
                            text=True)
    if sealed.returncode != 0 or opened.returncode != 0:
        fail(f"the Secret's {key_name} does not open a value sealed to {os.path.basename(pubs[0])}: "
             f"{sealed.stderr.strip()} {opened.stderr.strip()}")
    elif base64.b64encode(b"canary-1").decode() not in opened.stdout and "canary-1" not in opened.stdout:
        fail("unseal with the Secret's key did not give the sealed value back")
else:
    fail(f"cannot check the key's content (key {key_name}, public keys {pubs})")

shutil.rmtree(work, ignore_errors=True)
print(f"checked {len(commands)} documented command(s); {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
