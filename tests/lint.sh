#!/usr/bin/env bash
# tests/lint.sh - style and static checks (`make lint`): clang-format,
# cppcheck, clang-tidy (bugprone, clang-analyzer) and the banned-call list.
set -u
cd "$(dirname "$0")/.."
mapfile -t srcs < <(git ls-files '*.c' '*.h' '*.cc')
fail=0

echo "== clang-format"
clang-format --dry-run --Werror "${srcs[@]}" || fail=1

echo "== banned calls"
if grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strtok|gets|atoi|atol|system)\s*\(' \
    "${srcs[@]}" | grep -v 'snprintf\|g_strdup_printf'; then
    echo "banned calls found (see ../shared/CONVENTIONS.md)"
    fail=1
fi
if grep -nE '\bPQexec\s*\(' "${srcs[@]}"; then
    echo "PQexec found: use db_query (PQexecParams)"
    fail=1
fi

echo "== cppcheck"
cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
    --std=c11 --inline-suppr --suppress=missingIncludeSystem \
    -Iinclude core milter cli || fail=1

echo "== clang-tidy"
cflags=$(pkg-config --cflags gmime-3.0 glib-2.0 libpq libconfuse libcurl jansson libsodium libxml-2.0)
# shellcheck disable=SC2086
clang-tidy --quiet \
    -checks='-*,bugprone-*,clang-analyzer-*,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-bugprone-assignment-in-if-condition,-bugprone-narrowing-conversions,-bugprone-implicit-widening-of-multiplication-result' \
    --warnings-as-errors='*' core/*.c milter/*.c cli/*.c -- \
    -std=c11 -D_GNU_SOURCE -Iinclude -DCRM_VERSION='"lint"' \
    -DCRM_SYSCONFDIR='"/etc"' $cflags 2>/dev/null || fail=1
# The one C++ file (libphonenumber's interface).
clang-tidy --quiet \
    -checks='-*,bugprone-*,clang-analyzer-*,-bugprone-easily-swappable-parameters' \
    --warnings-as-errors='*' core/*.cc -- -std=c++17 -Iinclude 2>/dev/null || fail=1

[ $fail -eq 0 ] && echo "lint: clean" || echo "lint: problems found"
exit $fail
