#!/usr/bin/env bash
# check-test-citations.sh — every test a comment or a doc names must exist.
#
# The sources name the tests that prove a rule ("Test: Suite.Name",
# "Tests: A.B, C", "(test Name)", "checked by Suite.Name", a `Suite.Name` in a
# doc table). A renamed or deleted test leaves such a citation pointing at
# nothing, and nothing else notices. This script needs no build: it reads the
# test definitions (GoogleTest TEST / TEST_F / TEST_P, TEST_F inside a
# case-defining macro, the Go SDK's func TestX) and the citations straight from
# the tracked files, and prints file:line and the name of every citation that
# names no test. Exit status 1 when there is one, 0 otherwise.
#
# What counts as a citation:
#   - Suite.Name anywhere in a comment or doc when Suite is a test suite (or
#     looks like one: ends in "Test"); "Suite.*" and "Suite.Prefix*" match
#     any test of the suite, "Inst/Suite.Name/Param" a parameterised one;
#   - a bare CamelCase Name in a list after "Test:", "Tests:", "test", "tests",
#     "checked by", "shown by" or "named in test" (the list may go on over the
#     next comment line after a trailing comma or "and"); it must be the name
#     of some test. Words that are not CamelCase ("test PKI") are not names.
# A citation that is meant to name something else can be written without the
# marker word; there is no ignore list.
set -euo pipefail
cd "$(dirname "$0")/.."
checker=$(cat <<'PY'
import re
import sys

files = [f for f in sys.stdin.read().split("\0") if f]
CODE_EXT = (".cc", ".h", ".c", ".cpp", ".hpp", ".mjs", ".js", ".go")
HASH_EXT = (".sh", ".py", ".cmake", ".txt", ".yaml", ".yml", ".toml", ".conf")
DOC_EXT = (".md",)


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None


# ---- definitions
suites = {}  # suite -> set of test names
loose = set()  # every test name, whatever its suite (and Go's TestX)
DEF = re.compile(r"^\s*(?:TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)\(\s*(\w+)\s*,\s*(\w+)\s*\)", re.M)
MACRO = re.compile(r"#define\s+(\w+)\((\w+)[^)]*\)((?:.*\\\n)*.*)")
GO_DEF = re.compile(r"^func (Test\w+)\(t \*testing\.T\)", re.M)


def define(suite, name):
    suites.setdefault(suite, set()).add(name)
    loose.add(name)


for path in files:
    if not path.endswith(CODE_EXT):
        continue
    text = read(path)
    if text is None:
        continue
    for suite, name in DEF.findall(text):
        define(suite, name)
    # A macro whose body is TEST_F(Suite, PARAM) defines Suite.X for every MACRO(X, ...).
    for macro, param, body in MACRO.findall(text):
        m = re.search(r"\bTEST(?:_F|_P)?\(\s*(\w+)\s*,\s*" + re.escape(param) + r"\s*\)", body)
        if not m:
            continue
        suite = m.group(1)
        for name in re.findall(r"^\s*" + re.escape(macro) + r"\(\s*(\w+)\s*,", text, re.M):
            define(suite, name)
    for name in GO_DEF.findall(text):
        define("go", name)
    for suite in re.findall(r"INSTANTIATE_TEST_SUITE_P\(\s*\w+\s*,\s*(\w+)", text):
        suites.setdefault(suite, set())

# CTest names (add_test(NAME x), astis_test(x ...)) are tests too: scripts and
# whole binaries are cited by them.
for path in files:
    if path.endswith("CMakeLists.txt") or path.endswith(".cmake"):
        text = read(path) or ""
        for name in re.findall(r"\badd_test\(\s*NAME\s+([\w.-]+)", text) + re.findall(r"^\s*astis_test\(\s*([\w.-]+)", text, re.M):
            loose.add(name)

# ---- comment text, line by line
def comment_lines(path, text):
    """Yields (line number, comment text) for the parts of path that are prose."""
    lines = text.split("\n")
    if path.endswith(DOC_EXT):
        for i, line in enumerate(lines, 1):
            yield i, line
        return
    in_block = False
    for i, line in enumerate(lines, 1):
        if path.endswith(CODE_EXT):
            if in_block:
                end = line.find("*/")
                yield i, line if end < 0 else line[:end]
                in_block = end < 0
                continue
            c = line.find("//")
            b = line.find("/*")
            if b >= 0 and (c < 0 or b < c):
                end = line.find("*/", b + 2)
                yield i, line[b + 2 : end if end >= 0 else None]
                in_block = end < 0
            elif c >= 0:
                yield i, line[c + 2 :]
        elif path.endswith(HASH_EXT) or path.endswith("CMakeLists.txt"):
            s = line.lstrip()
            if s.startswith("#") and not s.startswith("#!"):
                yield i, s[1:]
            elif " #" in line:
                yield i, line[line.index(" #") + 2 :]


IDENT = r"`?(?:\w+/)?[A-Za-z_]\w*(?:\*|\.(?:\w+\*?|\*))?(?:/\w+)?`?"
MARKER = re.compile(
    r"(?:\b[Tt]ests?\b:?|\bnamed in test\b:?|\b(?P<soft>[Cc]hecked by|[Ss]hown by)\b:?)[ \t]*(?:(?P<t>tests?)[ \t]+)?"
)
SEP = re.compile(r"[ \t]*(?:,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+and[ \t]+|[ \t]+or[ \t]+|[ \t]*/[ \t]*)")
QUALIFIED = re.compile(r"(?<![\w./-])(?:(\w+)/)?([A-Z]\w*)\.(\w+\*?|\*)(?:/\w+)?")
CAMEL = re.compile(r"^[A-Z][A-Za-z0-9_]*[a-z0-9][A-Z][A-Za-z0-9_]*$")


def suite_like(s):
    return s in suites or s.endswith("Test") or s.endswith("Fixture")


def known(suite, name):
    """None when Suite.Name (or Suite.Prefix*) names a test, else the reason."""
    if suite not in suites:
        return "no test suite " + suite
    if name == "*":
        return None
    names = suites[suite]
    if name.endswith("*"):
        return None if any(n.startswith(name[:-1]) for n in names) else "no test " + suite + "." + name
    return None if name in names else "no test " + suite + "." + name


def check_token(tok, soft):
    """Returns (is_citation, reason or None) for one list item after a marker.
    After "checked by" / "shown by" a bare name may be a function: it is a
    citation only when a test has that name."""
    tok = tok.strip("`")
    m = QUALIFIED.fullmatch(tok)
    if m and suite_like(m.group(2)):
        return True, known(m.group(2), m.group(3))
    bare = re.sub(r"^\w+/|/\w+$", "", tok)
    if CAMEL.match(bare.rstrip("*")):
        if bare in loose or bare in suites:
            return True, None
        if bare.endswith("*") and any(n.startswith(bare[:-1]) for n in loose):
            return True, None
        return (False, None) if soft else (True, "no test named " + bare)
    return False, None


misses = []
for path in files:
    if not path.endswith(CODE_EXT + HASH_EXT + DOC_EXT) and not path.endswith("CMakeLists.txt"):
        continue
    text = read(path)
    if text is None:
        continue
    prose = list(comment_lines(path, text))
    table_cols = []
    for idx, (lineno, line) in enumerate(prose):
        seen = set()
        # Qualified Suite.Name anywhere in prose.
        for m in QUALIFIED.finditer(line):
            suite, name = m.group(2), m.group(3)
            if suite_like(suite) and not re.match(r"(?:cc|h|md|sh|json|go|py|mjs)$", name):
                seen.add(m.start())
                reason = known(suite, name)
                if reason:
                    misses.append((path, lineno, m.group(0), reason))
        # A doc table's "test" / "tests" column: every CamelCase name in it.
        if path.endswith(DOC_EXT) and line.lstrip().startswith("|"):
            cells = line.strip().strip("|").split("|")
            if re.match(r"^[ |:-]+$", line.strip()):
                pass
            elif any(re.search(r"\btests?\b", c) for c in cells) and not any("`" in c for c in cells):
                table_cols = [i for i, c in enumerate(cells) if re.search(r"\btests?\b", c)]
            else:
                for i in table_cols:
                    if i >= len(cells):
                        continue
                    for t in re.finditer(r"`([^`]+)`", cells[i]):
                        ok, reason = check_token(t.group(1), False)
                        q = QUALIFIED.fullmatch(t.group(1))
                        if ok and reason and not q:
                            misses.append((path, lineno, t.group(1), reason))
        else:
            table_cols = []
        # Lists after a marker word; a list may continue on the next prose line.
        for m in MARKER.finditer(line):
            soft = m.group("soft") is not None and m.group("t") is None
            rest, at, ln = line[m.end() :], m.end(), lineno
            follow = idx
            while True:
                pos = 0
                ended_open = rest.strip() == ""
                while True:
                    t = re.match(IDENT, rest[pos:])
                    if not t:
                        break
                    ok, reason = check_token(t.group(0), soft)
                    if not ok:
                        break
                    if reason and (at + pos not in seen):
                        misses.append((path, ln, t.group(0).strip("`"), reason))
                    pos += t.end()
                    s = SEP.match(rest[pos:])
                    if not s or s.end() == 0:
                        break
                    pos += s.end()
                    if rest[pos:].strip() == "":
                        ended_open = True
                        break
                if not ended_open or follow + 1 >= len(prose) or prose[follow + 1][0] != ln + 1:
                    break
                follow += 1
                ln, rest, at = prose[follow][0], prose[follow][1].lstrip(), -1
                seen = set()

misses = sorted(set(misses))
for path, lineno, cited, reason in misses:
    print(f"{path}:{lineno}: {cited}: {reason}")
print(f"check-test-citations: {sum(len(v) for v in suites.values())} tests defined, "
      f"{len(misses)} citation(s) name no test", file=sys.stderr)
sys.exit(1 if misses else 0)
PY
)
git ls-files -z --cached --others --exclude-standard -- src tests tools bench fuzz scripts deploy docs go python include examples README.md | python3 -c "$checker"
