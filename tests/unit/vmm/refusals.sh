#!/usr/bin/env bash
# usage: refusals.sh EVR_VMM
# evr-vmm refuses bad command lines and configurations before it needs KVM,
# with status 1 and a message naming what is wrong, and frees everything it
# took on the way out: in the ASan build LeakSanitizer runs at exit (meson
# sets ASAN_OPTIONS with detect_leaks=1 for this test) and a leak turns into a
# report on stderr and a status other than 1. --help and --version end with 0.
set -uo pipefail
VMM=$1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
failures=0

# refused STATUS TEXT ARG...: evr-vmm ARG... ends with STATUS, says TEXT on
# stderr and no sanitizer report.
refused() {
    local status=$1 text=$2 rc
    shift 2
    "$VMM" "$@" >"$W/out" 2>"$W/err" </dev/null
    rc=$?
    if [ "$rc" -eq "$status" ] && grep -qF -- "$text" "$W/err" "$W/out" &&
        ! grep -q Sanitizer "$W/err"; then
        echo "ok: evr-vmm $*: status $rc"
    else
        echo "FAIL: evr-vmm $*: status $rc (want $status and '$text'), stderr:"
        sed 's/^/    /' "$W/err" | head -30
        failures=$((failures + 1))
    fi
}

echo '{"memory": "lots"}' >"$W/lots.json"
echo '{"kernel": "/k", "memroy": 64}' >"$W/typo.json"
echo '{"kernel": "/k",' >"$W/broken.json"
echo '[1, 2]' >"$W/array.json"
mkdir "$W/dir"

refused 1 "key 'memory': expected an integer" --config "$W/lots.json"
refused 1 "unknown key 'memroy'" --config "$W/typo.json"
refused 1 "broken.json: line" --config "$W/broken.json"
refused 1 "expected a JSON object" --config "$W/array.json"
refused 1 "config $W/missing.json" --config "$W/missing.json"
refused 1 "unknown option '--bogus'" --bogus
refused 1 "needs a value" --kernel
refused 1 "unexpected argument 'extra'" --kernel /k extra
refused 1 "--memory: 1 is out of range (16..1048576)" --kernel /k --memory 1
refused 1 "--vcpus: 0 is out of range (1..254)" --kernel /k --vcpus 0
refused 1 "no kernel given (--kernel PATH" --memory 64
# Refused once the configuration is whole: the console and the control socket.
refused 1 "$W/dir/none/console" --kernel /k --console "file:$W/dir/none/console"
refused 1 "$W/dir" --kernel /k --console none --control "$W/dir"
refused 1 "control" --kernel /k --console "socket:$W/con" --control "$W/dir/none/ctl"
[ -e "$W/con" ] && { echo "FAIL: the console socket $W/con was left behind"; failures=$((failures + 1)); }
refused 0 "usage: evr-vmm" --help
refused 0 "evr-vmm " --version
# --exit-file: the status is written there at the end (a stale one is
# replaced), also when the VM could not be set up.
echo 7 >"$W/exit"
refused 1 "$W/dir" --kernel /k --console none --control "$W/dir" --exit-file "$W/exit"
if [ "$(cat "$W/exit" 2>/dev/null)" = 1 ] && [ ! -e "$W/exit.tmp" ]; then
    echo "ok: --exit-file holds 1"
else
    echo "FAIL: --exit-file holds '$(cat "$W/exit" 2>/dev/null)', want 1"
    failures=$((failures + 1))
fi
refused 1 "exit_file $W/dir/none/exit" --kernel /k --console none --control "$W/dir" \
    --exit-file "$W/dir/none/exit"

if [ "$failures" -ne 0 ]; then
    echo "$failures refusal check(s) failed"
    exit 1
fi
echo "all refusal checks passed"
