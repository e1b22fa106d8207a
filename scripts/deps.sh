#!/usr/bin/env bash
# scripts/deps.sh [EXTRA-PACKAGE...] -- install the Debian 12 packages that
# crmgate needs to build, test and run its local stack (scripts/stack).
#
# * Only installs what is missing (dpkg-query); runs `apt-get update` once, and
#   only when something has to be installed. Prints one summary line.
# * Non-interactive. Postfix is preseeded to "No configuration", and service
#   starts are blocked during the install (policy-rc.d exit 101), so neither
#   the system Postfix nor a system PostgreSQL cluster is started or
#   configured. (The postgresql package may still create a "15 main" cluster;
#   it is left alone and never used: scripts/stack runs its own.)
# * Uses sudo only when not root and sudo exists.
set -euo pipefail

PACKAGES="build-essential pkg-config libxml2-dev libcsv-dev libgmime-3.0-dev libglib2.0-dev libpq-dev
libconfuse-dev libcurl4-openssl-dev libmilter-dev libsodium-dev libjansson-dev
libmicrohttpd-dev postgresql postgresql-client postfix miltertest swaks clang
libclang-rt-14-dev valgrind cppcheck clang-format clang-tidy curl procps
iproute2 python3 chromium wrk jq pgbouncer libphonenumber-dev"
# The browser tests (tests/browser) run on node and npm: Debian's, unless
# the machine already has them.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    PACKAGES="$PACKAGES nodejs npm"

die() {
    printf 'deps: error: %s\n' "$*" >&2
    exit 1
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    die "dpkg-query/apt-get not found: this script supports Debian 12 only"
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo is not installed; run as root"
    SUDO=(sudo)
fi

# shellcheck disable=SC2206 # word splitting of the list is intended
wanted=($PACKAGES "$@")
missing=()
for p in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    printf 'deps: all %d packages already installed\n' "${#wanted[@]}"
    exit 0
fi

LOG=$(mktemp "${TMPDIR:-/tmp}/crmgate-deps.XXXXXX")
POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if ((created_policy)); then
        "${SUDO[@]}" rm -f "$POLICY" || printf 'deps: warning: could not remove %s\n' "$POLICY" >&2
    fi
}
trap cleanup EXIT

fail() {
    printf 'deps: error: %s; last 20 lines of the apt output (%s):\n' "$1" "$LOG" >&2
    tail -n 20 "$LOG" >&2 || true
    exit 1
}

# Keep the system's Postfix unconfigured and unstarted.
echo "postfix postfix/main_mailer_type select No configuration" |
    "${SUDO[@]}" debconf-set-selections >>"$LOG" 2>&1 ||
    fail "debconf-set-selections failed"

# Prevent invoke-rc.d from starting any service (postgresql, postfix) while
# installing; removed again afterwards only if this script created it.
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\n# created by crmgate scripts/deps.sh during apt-get install\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY" >/dev/null || die "cannot create $POLICY"
    created_policy=1
    "${SUDO[@]}" chmod 0755 "$POLICY"
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q update >>"$LOG" 2>&1 ||
    fail "apt-get update failed"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >>"$LOG" 2>&1 ||
    fail "apt-get install ${missing[*]} failed"

still=()
for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || still+=("$p")
done
[[ ${#still[@]} -eq 0 ]] || fail "still not installed after apt-get: ${still[*]}"

rm -f "$LOG"
printf 'deps: installed %d package(s): %s\n' "${#missing[@]}" "${missing[*]}"
