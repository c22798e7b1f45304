"""completion_test.py ASTIS COMPLETION_FILE [ZSH_COMPLETION_FILE]: the bash
completion offers every subcommand `astis ... --help` lists, at every level,
in real bash; so does the zsh one.

The command tree is read from the help screens (not from the code that wrote
the completion), then for each command path the test sources the completion
file in bash, sets COMP_WORDS to "astis <path> ''" and checks that COMPREPLY
holds every subcommand and option that help lists. It also checks a prefix
("se" -> seal, serve, session) and that an option's value falls back to file
names (empty COMPREPLY with complete -o default).

The zsh completion (a #compdef file) is checked structurally first: for each
command path its case branch lists every subcommand and option of that
path's help. When zsh is installed, compinit must register it for astis and
kubectl-astis, and running it (with _describe and _files replaced by stubs
that print what they were given, compsys needs a terminal otherwise) must
offer the same words at every path and file names after an option that takes
a value. Without zsh that part is skipped, loudly (scripts/install-deps.sh
installs zsh)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

astis, completion = sys.argv[1], sys.argv[2]
zsh_completion = sys.argv[3] if len(sys.argv) > 3 else None


def help_of(path):
    out = subprocess.run([astis, *path, "--help"], capture_output=True, text=True, env={}, check=True).stdout
    subs, opts, section = [], [], None
    for line in out.splitlines():
        if re.match(r"^(Subcommands|SUBCOMMANDS):$", line):
            section = "sub"
            continue
        if re.match(r"^(Options|OPTIONS):$", line):
            section = "opt"
            continue
        if not line.strip() or not line.startswith("  "):
            section = None if not line.startswith("  ") else section
            continue
        first = line.split()[0]
        if section == "sub":
            subs.append(first)
        elif section == "opt":
            opts.extend(o for o in first.split(",") if o.startswith("-"))
    return subs, opts


def complete(words, cur=""):
    line = " ".join(words + [cur])
    script = (
        f"source {completion}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)} {cur!r}); COMP_CWORD={len(words)}\n"
        "_astis; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, check=True)
    return set(w for w in out.stdout.split("\n") if w), line


def zsh_branches(text):
    """{path: (subcommand names, option names)} from the case branches."""
    branches = {}
    for m in re.finditer(r'^  \("([^"]*)"\)\n    cmds=\((.*?)\)\n    opts=\((.*?)\) ;;$', text, re.S | re.M):
        names = [[w.split(":", 1)[0] for w in re.findall(r"^\s+'((?:[^'\\]|'\\'')*)'", group, re.M)]
                 for group in (m.group(2), m.group(3))]
        branches[m.group(1)] = (set(names[0]), set(names[1]))
    return branches


ZSH_STUBS = (
    "_describe() { local a; for a in \"${@:4}\"; do print -rl -- \"${(@P)a}\"; done }\n"
    "_files() { print -r -- __FILES__ }\n"
)


def zsh_complete(fdir, words, cur=""):
    """Runs _astis for `words cur<TAB>`; returns the names offered."""
    arr = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words + [cur])
    script = (ZSH_STUBS + f"fpath=({fdir} $fpath); autoload -U _astis\n"
              f"words=({arr}); CURRENT={len(words) + 1}; _astis\n")
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, check=True)
    return set(w.split(":", 1)[0] for w in out.stdout.split("\n") if w)


zsh_text = open(zsh_completion).read() if zsh_completion else None
branches = zsh_branches(zsh_text) if zsh_text else {}
zsh = shutil.which("zsh") if zsh_text else None
fdir = None
if zsh_text:
    if zsh:
        fdir = tempfile.mkdtemp(prefix="astis-zsh-")
        shutil.copy(zsh_completion, os.path.join(fdir, "_astis"))
    else:
        print("SKIP (zsh not installed; scripts/install-deps.sh installs it): only the structural check of "
              f"{zsh_completion} ran, not zsh itself", file=sys.stderr)

failures, checked, queue = [], 0, [[]]
while queue:
    path = queue.pop(0)
    subs, opts = help_of(path)
    offered, line = complete(["astis", *path])
    for word in subs + opts:
        checked += 1
        if word not in offered:
            failures.append(f"'{line}<TAB>' does not offer {word}")
    if zsh_text:
        key = " ".join(path)
        if key not in branches:
            failures.append(f"zsh: no case branch for '{key}'")
        else:
            for word in subs:
                if word not in branches[key][0]:
                    failures.append(f"zsh: '{key}' does not list subcommand {word}")
            for word in opts:
                if word not in branches[key][1]:
                    failures.append(f"zsh: '{key}' does not list option {word}")
        if fdir:
            # Subcommands on an empty word, options after a dash.
            z_subs = zsh_complete(fdir, ["astis", *path])
            z_opts = zsh_complete(fdir, ["astis", *path], "-")
            for word in subs:
                if word not in z_subs:
                    failures.append(f"zsh: 'astis {key} <TAB>' does not offer {word}")
            for word in opts:
                if word not in z_opts:
                    failures.append(f"zsh: 'astis {key} -<TAB>' does not offer {word}")
            if not subs and z_subs != {"__FILES__"}:
                failures.append(f"zsh: 'astis {key} <TAB>' offers {sorted(z_subs)}, want file names")
    queue.extend(path + [s] for s in subs)

if zsh_text and len(branches) < 10:
    failures.append(f"zsh: only {len(branches)} case branches parsed")
if fdir:
    offered = zsh_complete(fdir, ["astis", "seal", "--public-key"])
    if offered != {"__FILES__"}:
        failures.append(f"zsh: 'astis seal --public-key <TAB>' offers {sorted(offered)}, want file names")
    offered = zsh_complete(fdir, ["astis", "cluster", "jwks", "fetch", "--yes"], "-")
    if "--apply" not in offered:
        failures.append("zsh: a flag (--yes) is taken as an option with a value")
    # compinit finds the #compdef file on fpath and binds it to both names.
    script = (f"fpath=({fdir} $fpath); autoload -U compinit; compinit -u -D\n"
              "print -r -- \"${_comps[astis]} ${_comps[kubectl-astis]}\"\n")
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True)
    if out.stdout.strip() != "_astis _astis":
        failures.append(f"zsh: compinit did not register _astis for astis and kubectl-astis: {out.stdout!r} "
                        f"{out.stderr!r}")
    if subprocess.run(["zsh", "-n", zsh_completion]).returncode != 0:
        failures.append("zsh: the completion file does not parse (zsh -n)")
    shutil.rmtree(fdir)

offered, line = complete(["astis"], "se")
if offered != {"seal", "serve", "session"}:
    failures.append(f"'{line}<TAB>' offers {sorted(offered)}")
offered, line = complete(["astis", "seal", "--public-key"])
if offered:
    failures.append(f"'{line}<TAB>' (an option's value) offers {sorted(offered)}, want file names")
offered, line = complete(["kubectl-astis"])
if "seal" not in offered:
    failures.append("kubectl-astis is not completed")

for f in failures:
    print("FAIL:", f)
print(f"checked {checked} words over the command tree; {len(failures)} missing")
sys.exit(1 if failures else 0)
