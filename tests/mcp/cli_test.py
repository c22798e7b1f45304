#!/usr/bin/env python3
"""End-to-end checks of the `astis lint` and `astis mcp` commands (the binary).

Usage: cli_test.py ASTIS_BINARY CONTRACT_FILE {lint|mcp}
"""
import json
import os
import subprocess
import sys
import tempfile

ASTIS, CONTRACT, WHICH = sys.argv[1], sys.argv[2], sys.argv[3]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok {name}")
    else:
        failed += 1
        print(f"not ok {name}: {detail}")


def run(args, stdin=b""):
    return subprocess.run([ASTIS] + args, input=stdin, capture_output=True, timeout=60)


def mcp_session(lines):
    p = run(["mcp", "--contract", CONTRACT], ("\n".join(json.dumps(m) for m in lines) + "\n").encode())
    out = p.stdout.decode().splitlines()
    return p, [json.loads(l) for l in out]


def lint_tests():
    with tempfile.TemporaryDirectory() as d:
        # The generated manifests, through the real `astis mcp`, then `astis lint`.
        p, msgs = mcp_session([
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "generate_manifests"}},
        ])
        good = os.path.join(d, "good")
        os.mkdir(good)
        with open(os.path.join(good, "app.yaml"), "w") as f:
            f.write(msgs[-1]["result"]["content"][0]["text"])
        r = run(["lint", "-f", good, "--contract", CONTRACT])
        check("generated manifests lint clean (exit 0)", r.returncode == 0, r.stdout.decode() + r.stderr.decode())
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx}]\n"
                    "---\napiVersion: v1\nkind: Secret\nmetadata: {name: db-creds}\nstringData: {password: s3cr3t-value}\n")
        r = run(["lint", "-f", bad, "--contract", CONTRACT, "--format", "json"])
        report = json.loads(r.stdout)
        rules = {f["rule"] for f in report["findings"]}
        check("errors exit 2", r.returncode == 2, r.returncode)
        check("json report names the rules", {"image-not-pinned", "plaintext-secret", "token-volume-missing"} <= rules, rules)
        check("no secret value in the report", b"s3cr3t-value" not in r.stdout + r.stderr)
        r = run(["lint", "-f", "-"], b"kind: ConfigMap\n")
        check("stdin, no findings, exit 0", r.returncode == 0, r.stdout)
        r = run(["lint", "-f", os.path.join(d, "missing.yaml")])
        check("missing file exits 4", r.returncode == 4, r.returncode)
        badc = os.path.join(d, "contract.yaml")
        with open(badc, "w") as f:
            f.write("cluster: x\n")
        r = run(["lint", "-f", bad, "--contract", badc])
        check("invalid contract exits 2", r.returncode == 2 and b"contract" in r.stderr, r.stderr)


def mcp_tests():
    p, msgs = mcp_session([
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "describe_contract"}},
    ])
    check("exits 0 on stdin EOF", p.returncode == 0, p.returncode)
    check("stdout is only the three responses", [m.get("id") for m in msgs] == [1, 2, 3], msgs)
    check("every stdout line is JSON-RPC 2.0", all(m.get("jsonrpc") == "2.0" for m in msgs))
    check("logs go to stderr", b"astis mcp" in p.stderr, p.stderr)
    raw = run(["mcp"], b"not json\n" + b"{" * 100 + b"\n").stdout.decode().splitlines()
    check("garbage gets parse errors", [json.loads(l)["error"]["code"] for l in raw] == [-32700, -32700], raw)


lint_tests() if WHICH == "lint" else mcp_tests()
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
