#!/usr/bin/env bash
# astis_run_test.sh ASTIS_RUN MODE: checks astis-run against the live test
# edge (run under with_test_edge.sh, which exports the ASTIS_* settings).
#   env      secrets reach CMD's environment; CMD's exit code is propagated
#   file     file contents, 0700 dir / 0400 files on a tmpfs, removed after CMD;
#            an absolute FILE (astis inject) in an existing tmpfs directory too
#   refuses  an SDK failure (missing secret, refused capsule, no edge) runs nothing
#   sessions runs in a row in one pod, also after a failed run, are not pinned out
set -euo pipefail
run=$1
mode=$2
want_pw='correct horse battery staple'
want_tok='tok-7f3a9'
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$(mktemp -d)
abs=$(mktemp -d /dev/shm/astis-run-test.XXXXXX)  # a tmpfs directory, like an in-memory emptyDir
trap 'rm -rf "$out" "$abs"' EXIT

case $mode in
env)
  "$run" --env DB_PW=db-password --env TOK=api-token -- \
    sh -c 'printf %s "$DB_PW" > "$1/pw"; printf %s "$TOK" > "$1/tok"' sh "$out" || fail "astis-run exited $?"
  [[ $(cat "$out/pw") == "$want_pw" ]] || fail "DB_PW is not the plaintext"
  [[ $(cat "$out/tok") == "$want_tok" ]] || fail "TOK is not the plaintext"
  set +e
  "$run" --env DB_PW=db-password -- sh -c 'exit 7'
  rc=$?
  set -e
  [[ $rc == 7 ]] || fail "exit code not propagated: $rc"
  ;;
file)
  XDG_RUNTIME_DIR=$out "$run" --file pw=db-password --file tok=api-token --file bin=binary -- \
    sh -c 'echo "$ASTIS_RUN_DIR" > "$1/dir"; cat "$ASTIS_RUN_DIR/pw" > "$1/pw"; cat "$ASTIS_RUN_DIR/bin" > "$1/bin";
           stat -c %a "$ASTIS_RUN_DIR" > "$1/dirmode"; stat -c %a "$ASTIS_RUN_DIR/pw" > "$1/filemode";
           stat -f -c %T "$ASTIS_RUN_DIR" > "$1/fstype"' sh "$out" || fail "astis-run exited $?"
  dir=$(cat "$out/dir")
  [[ $(od -An -c "$out/bin" | tr -d ' ') == 'a\0b' ]] || fail "binary file content: $(od -An -c "$out/bin")"
  [[ $dir == "$out"/astis-run.* ]] || fail "files not under XDG_RUNTIME_DIR: $dir"
  [[ $(cat "$out/pw") == "$want_pw" ]] || fail "file content is not the plaintext"
  [[ $(cat "$out/dirmode") == 700 ]] || fail "dir mode $(cat "$out/dirmode")"
  [[ $(cat "$out/filemode") == 400 ]] || fail "file mode $(cat "$out/filemode")"
  [[ ! -e $dir ]] || fail "private dir $dir not removed after the command exited"
  # Default location: /dev/shm (a tmpfs), also removed, also on command failure.
  set +e
  env -u XDG_RUNTIME_DIR "$run" --file pw=db-password -- \
    sh -c 'echo "$ASTIS_RUN_DIR" > "$1/dir2"; stat -f -c %T "$ASTIS_RUN_DIR" > "$1/fstype2"; exit 3' sh "$out"
  rc=$?
  set -e
  [[ $rc == 3 ]] || fail "exit code not propagated: $rc"
  dir2=$(cat "$out/dir2")
  [[ $dir2 == /dev/shm/astis-run.* ]] || fail "default dir not under /dev/shm: $dir2"
  [[ $(cat "$out/fstype2") == tmpfs ]] || fail "default dir not on tmpfs: $(cat "$out/fstype2")"
  [[ ! -e $dir2 ]] || fail "private dir $dir2 not removed after a failing command"
  # An absolute path: a new 0400 file in that directory, no ASTIS_RUN_DIR,
  # removed when the command exits.
  "$run" --file "$abs/key.pem=db-password" --env TOK=api-token -- \
    sh -c 'cat "$2/key.pem" > "$1/abs"; stat -c %a "$2/key.pem" > "$1/absmode"
           echo "${ASTIS_RUN_DIR-unset}" > "$1/rd"' \
    sh "$out" "$abs" || fail "astis-run with an absolute --file exited $?"
  [[ $(cat "$out/abs") == "$want_pw" ]] || fail "absolute file content is not the plaintext"
  [[ $(cat "$out/absmode") == 400 ]] || fail "absolute file mode $(cat "$out/absmode")"
  [[ $(cat "$out/rd") == unset ]] || fail "ASTIS_RUN_DIR set without a relative --file"
  [[ ! -e $abs/key.pem ]] || fail "absolute file not removed after the command exited"
  ;;
refuses)
  check_refused() {  # check_refused WANT_TEXT ARGS...
    local want=$1 rc
    shift
    set +e
    "$run" "$@" -- touch "$out/ran" 2> "$out/err"
    rc=$?
    set -e
    [[ $rc == 125 ]] || fail "$*: exit $rc, want 125"
    [[ ! -e $out/ran ]] || fail "$*: the command ran despite the refusal"
    grep -q -- "$want" "$out/err" || fail "$*: message lacks '$want': $(cat "$out/err")"
    ! grep -q "$want_pw" "$out/err" || fail "plaintext in the error message"
  }
  check_refused not_found --env A=db-password --env B=no-such-secret
  check_refused capsule_scope --env A=db-password --file t=theirs
  check_refused 'invalid environment variable name' --env 1BAD=db-password
  check_refused 'invalid file name' --file ../escape=db-password
  check_refused 'invalid absolute file path' --file "$abs/../escape=db-password"
  check_refused 'not on a tmpfs' --file /no-such-dir/key=db-password
  # An existing file is neither replaced nor removed.
  echo keep > "$abs/exists"
  check_refused 'cannot write' --file "$abs/new=db-password" --file "$abs/exists=api-token"
  [[ $(cat "$abs/exists") == keep ]] || fail "an existing file was replaced"
  [[ ! -e $abs/new ]] || fail "a file written before the refusal was left behind"
  check_refused 'NUL byte' --env A=db-password --env B=binary
  check_refused 'duplicate target' --env A=db-password --env A=api-token
  check_refused 'no --env or --file'
  check_refused 'needs TARGET=SECRET' --env A
  check_refused 'unknown or incomplete option' --bogus A=b
  set +e
  "$run" --env A=db-password 2> "$out/err"
  rc=$?
  set -e
  [[ $rc == 125 ]] && grep -q 'no command given' "$out/err" || fail "no command: exit $rc: $(cat "$out/err")"
  ASTIS_EDGE_URL=http://127.0.0.1:1 check_refused config --env A=db-password
  ASTIS_EDGE_URL=https://127.0.0.1:1 check_refused unavailable --env A=db-password
  ;;
sessions)
  # Every run ends its session (also when it fails after establishing it),
  # so the next run in the same pod, with a new key, is not refused
  # credential_pinned. ASTIS_PIN_WAIT_SECONDS=0: a session left behind would
  # fail the next run at once instead of being waited out.
  export ASTIS_PIN_WAIT_SECONDS=0
  "$run" --env A=db-password -- true || fail "first run exited $?"
  "$run" --env A=db-password -- true || fail "second run in a row exited $? (pinned?)"
  set +e
  "$run" --env A=db-password --env T=theirs -- touch "$out/ran" 2> "$out/err"
  rc=$?
  set -e
  [[ $rc == 125 && ! -e $out/ran ]] && grep -q capsule_scope "$out/err" ||
    fail "failing run: exit $rc: $(cat "$out/err")"
  "$run" --env A=db-password -- sh -c 'printf %s "$A" > "$1/pw"' sh "$out" 2> "$out/err" ||
    fail "run after a failed run exited $? (pinned?): $(cat "$out/err")"
  [[ $(cat "$out/pw") == "$want_pw" ]] || fail "run after a failed run: wrong plaintext"
  set +e
  "$run" --env A=db-password -- "$out/no-such-command" 2> /dev/null
  rc=$?
  set -e
  [[ $rc == 127 ]] || fail "exec failure: exit $rc, want 127"
  "$run" --env A=db-password -- true || fail "run after an exec failure exited $? (pinned?)"
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "astis-run $mode: ok"
