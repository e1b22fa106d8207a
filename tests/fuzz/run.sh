#!/bin/sh
# run.sh - runs libFuzzer targets over the shared corpus.
#
# Usage: tests/fuzz/run.sh build/fuzz/bin/fuzz_NAME...
# For each target: seeds build/fuzz/seed-NAME from ../shared/corpus (MIME
# messages and bounces), or from tests/fuzz/seeds_NAME/ when the target has
# its own (fuzz_webform: tests/fuzz/seeds_webform/), keeps what the fuzzer
# finds in build/fuzz/corpus-NAME, and runs for CRMGATE_FUZZ_SECONDS (default
# 60) with inputs up to 64 KiB and 2 GiB RSS, with a dictionary of mail
# syntax (build/fuzz/mail.dict, written here). Crash files go to
# build/fuzz/crash-NAME/. Exits non-zero, naming the crash file, when a
# target fails.
set -u

seconds=${CRMGATE_FUZZ_SECONDS:-60}
corpus=${CRMGATE_CORPUS:-../shared/corpus}
out=build/fuzz
status=0

if [ $# -eq 0 ]; then
    echo "usage: $0 build/fuzz/bin/fuzz_NAME..." >&2
    exit 2
fi

mkdir -p "$out"
dict=$out/mail.dict
cat >"$dict" <<'DICT'
"\x0a\x0a"
"\x0d\x0a"
"\x0a "
"From: "
"To: "
"Cc: "
"Bcc: "
"Sender: "
"Reply-To: "
"Subject: "
"Date: "
"Message-ID: "
"In-Reply-To: "
"References: "
"MIME-Version: 1.0"
"Content-Type: "
"Content-Transfer-Encoding: "
"Content-Disposition: "
"multipart/mixed"
"multipart/alternative"
"multipart/related"
"multipart/report"
"multipart/signed"
"message/rfc822"
"message/global"
"message/partial"
"message/delivery-status"
"text/plain"
"text/html"
"text/rfc822-headers"
"application/octet-stream"
"image/png"
"; boundary="
"; charset="
"; name="
"; filename="
"filename*=UTF-8''"
"filename*0*="
"attachment"
"inline"
"base64"
"quoted-printable"
"x-uuencode"
"begin 644 "
"8bit"
"binary"
"--"
"=?UTF-8?B?"
"=?utf-8?q?"
"=?iso-8859-1?Q?"
"=?"
"?="
"=\x0a"
"=C3=A9"
"utf-8"
"windows-1252"
"koi8-r"
"iso-2022-jp"
"utf-16"
"<>"
"<a@b.c>"
"undisclosed-recipients:;"
"\"Name\" <a@b>"
"Fri, 07 Oct 1994 16:15:05 -0700"
"<html>"
"<body>"
"<p>"
"<br>"
"<a href=\"http://x/\">"
"<li>"
"<pre>"
"<script>"
"<style>"
"&amp;"
"&#x263A;"
"&nbsp;"
"message/feedback-report"
"Final-Recipient: rfc822; "
"Original-Recipient: rfc822;"
"Action: failed"
"Status: 5.1.1"
"Diagnostic-Code: smtp; 550 "
"Feedback-Type: abuse"
"Original-Rcpt-To: "
"X-Failed-Recipients: "
"Auto-Submitted: auto-replied"
"MAILER-DAEMON@"
DICT

for bin in "$@"; do
    name=$(basename "$bin")
    seed=$out/seed-$name
    work=$out/corpus-$name
    crashes=$out/crash-$name
    log=$out/$name.log
    mkdir -p "$seed" "$work" "$crashes"
    own=$(dirname "$0")/seeds_${name#fuzz_}
    if [ -d "$own" ]; then # a target with its own seeds: those, not mail
        cp "$own"/* "$seed"/
    else
        for f in "$corpus"/mime/*/*.eml "$corpus"/bounces/*.eml; do
            [ -f "$f" ] || continue
            cp "$f" "$seed/$(basename "$(dirname "$f")")-$(basename "$f")"
        done
    fi
    echo "fuzz: $name for ${seconds}s (seeds: $(ls "$seed" | wc -l))"
    "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -timeout=25 -print_final_stats=1 -dict="$dict" \
        -artifact_prefix="$crashes/" "$work" "$seed" >"$log" 2>&1
    rc=$?
    grep -E '^stat::number_of_executed_units|^#[0-9]+ *DONE' "$log" | tail -2
    if [ $rc -ne 0 ]; then
        found=$(ls -t "$crashes"/* 2>/dev/null | head -1)
        echo "fuzz: $name FAILED (exit $rc); crash file: ${found:-none}; log: $log" >&2
        tail -40 "$log" >&2
        status=1
    else
        echo "fuzz: $name ok"
    fi
done
exit $status
