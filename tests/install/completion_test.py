"""completion_test.py ASTIS COMPLETION_FILE: the bash completion offers every
subcommand `astis ... --help` lists, at every level, in real bash.

The command tree is read from the help screens (not from the code that wrote
the completion), then for each command path the test sources the completion
file in bash, sets COMP_WORDS to "astis <path> ''" and checks that COMPREPLY
holds every subcommand and option that help lists. It also checks a prefix
("se" -> seal, serve, session) and that an option's value falls back to file
names (empty COMPREPLY with complete -o default)."""

import re
import subprocess
import sys

astis, completion = sys.argv[1], sys.argv[2]


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


failures, checked, queue = [], 0, [[]]
while queue:
    path = queue.pop(0)
    subs, opts = help_of(path)
    offered, line = complete(["astis", *path])
    for word in subs + opts:
        checked += 1
        if word not in offered:
            failures.append(f"'{line}<TAB>' does not offer {word}")
    queue.extend(path + [s] for s in subs)

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
