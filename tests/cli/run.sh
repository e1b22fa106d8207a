#!/usr/bin/env bash
# tests/cli/run.sh - the crmgate command against the test stack's database
# (tests/run-all.sh starts it): parse over the shared corpus, ingest of
# directories/Maildirs/mbox files, contact import/export, record creation,
# exit codes (sysexits.h) and the spool status.
#
# Every check looks at real outcomes: exit codes, the JSON printed, rows in
# PostgreSQL. Addresses and Message-IDs are unique to the run (uniq_id).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

U=$(uniq_id)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CORPUS=${CRMGATE_CORPUS:-$REPO/../shared/corpus}
EX_USAGE=64
EX_CONFIG=78

# jcheck EXPR: a Python expression over the JSON on stdin (j); environment
# variables in E. Fails on invalid JSON.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # no pyenv shim: 10x faster start
jcheck() {
    $PY -c '
import json, os, sys
j = json.load(sys.stdin)
E = os.environ
sys.exit(0 if eval("(" + sys.argv[1].strip() + ")") else 1)' "$1"
}
json_id() { $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# run_cli OUT ERR ARGS...: runs crmgate, stdout/stderr to files; sets RC.
run_cli() {
    local out=$1 err=$2; shift 2
    $CRMGATE "$@" >"$out" 2>"$err"
    RC=$?
}

# --- parse: the golden corpus --------------------------------------------------
# Runs crmgate parse --json on every file, keeps each output and exit status,
# then one Python process checks them all (one TAP line per failing file and
# one summary line per folder).
# parse_all DIR_GLOB_BASE LABEL MODE: MODE "keys" (every key) or "any".
parse_all() {
    local label=$1 mode=$2; shift 2
    local f i=0 out=$TMP/parse-$label
    mkdir -p "$out"
    : >"$out/index"
    for f in "$@"; do
        i=$((i + 1))
        timeout 20 $CRMGATE parse --json "$f" >"$out/$i.json" 2>"$out/$i.err"
        printf '%s\t%s\t%s\n' "$i" "$?" "${f#"$CORPUS"/}" >>"$out/index"
    done
    $PY - "$out" "$mode" "$label" <<'PYEOF'
import json, os, sys
out, mode, label = sys.argv[1:4]
keys = "message_id subject date from to cc reply_to in_reply_to references text attachments warnings".split()
lists = ("from", "to", "cc", "reply_to", "references", "attachments", "warnings")
n = bad = 0
for line in open(os.path.join(out, "index")):
    i, rc, name = line.rstrip("\n").split("\t")
    n += 1
    why = None
    if rc != "0":
        why = "exit status %s" % rc
    else:
        try:
            j = json.load(open(os.path.join(out, i + ".json")))
        except ValueError as e:
            j, why = None, "invalid JSON: %s" % e
        if why is None and not isinstance(j, dict):
            why = "not a JSON object"
        elif why is None and mode == "keys":
            missing = [k for k in keys if k not in j]
            if missing:
                why = "missing keys: " + " ".join(missing)
            elif not all(isinstance(j[k], list) for k in lists) or not isinstance(j["text"], str) \
                    or not isinstance(j["subject"], str):
                why = "a key has the wrong type"
    if why:
        bad += 1
        print("not ok - parse --json %s: %s" % (name, why))
        err = open(os.path.join(out, i + ".err"), errors="replace").read().strip()
        if err:
            print("#   " + err.splitlines()[0][:200])
what = {"mime": "exit 0 with valid JSON and every key",
        "bounces": "parse (no crash, no hang, valid JSON)"}[label]
if n == 0:
    print("not ok - parse --json: no corpus/%s messages found" % label)
elif bad:
    print("not ok - parse --json: %d of %d corpus/%s messages fail to %s" % (bad, n, label, what))
else:
    print("ok - parse --json: all %d corpus/%s messages %s" % (n, label, what))
PYEOF
}
shopt -s nullglob
parse_all mime keys "$CORPUS"/mime/*/*.eml
parse_all bounces any "$CORPUS"/bounces/*.eml
shopt -u nullglob
printf 'Subject: stdin %s\nFrom: a@b.test\n\nbody\n' "$U" | $CRMGATE --json parse - >"$TMP/p.json" 2>/dev/null
export U
check "parse -: reads standard input" jcheck 'j["subject"] == "stdin " + E["U"]' <"$TMP/p.json"
run_cli "$TMP/o" "$TMP/e" parse "$TMP/does-not-exist.eml"
check_eq "parse of a missing file: exit 66 (EX_NOINPUT)" 66 "$RC"

# --- ingest -----------------------------------------------------------------
# mkmsg FILE MID SUBJECT [BODY]: an inbound message (external -> internal).
mkmsg() {
    printf 'From: Sender %s <sender-%s@ingest-%s.test>\nTo: staff-%s@example.com\nSubject: %s\nDate: Mon, 23 Nov 2026 09:00:00 +0000\nMessage-ID: <%s>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n%s\n' \
        "$U" "$U" "$U" "$U" "$3" "$2" "${4:-Body of $3.}" >"$1"
}
count_mids() { sql "SELECT count(*) FROM messages WHERE message_id LIKE '$1'"; }

# A directory of .eml files.
mkdir -p "$TMP/dir"
for i in 1 2 3; do mkmsg "$TMP/dir/m$i.eml" "dir$i-$U@ingest.test" "dir message $i"; done
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/dir"
check_eq "ingest DIR: exit 0" 0 "$RC"
check "ingest DIR: --json counts {messages:3, stored:3, new:3, duplicates:0}" jcheck '
    (j["messages"], j["stored"], j["new"], j["duplicates"]) == (3, 3, 3, 0)' <"$TMP/o"
check_eq "ingest DIR: 3 rows in messages" 3 "$(count_mids "dir_-$U@ingest.test")"
check_eq "ingest DIR: direction in, source import" "in|import" \
    "$(sql "SELECT DISTINCT m.direction || '|' || e.source FROM messages m JOIN capture_events e ON e.message_id = m.id
             WHERE m.message_id LIKE 'dir_-$U@ingest.test'")"
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/dir"
check "ingest DIR again: all duplicates, nothing new" jcheck '
    (j["messages"], j["stored"], j["new"], j["duplicates"]) == (3, 3, 0, 3)' <"$TMP/o"
check_eq "ingest DIR again: still 3 rows" 3 "$(count_mids "dir_-$U@ingest.test")"
check_eq "ingest DIR again: a second capture event per message" 6 \
    "$(sql "SELECT count(*) FROM capture_events e JOIN messages m ON m.id = e.message_id
             WHERE m.message_id LIKE 'dir_-$U@ingest.test'")"

# A Maildir (cur/ and new/; tmp/ is not read).
mkdir -p "$TMP/maildir/cur" "$TMP/maildir/new" "$TMP/maildir/tmp"
mkmsg "$TMP/maildir/cur/1700000000.M1P1.host:2,S" "md1-$U@ingest.test" "maildir cur 1"
mkmsg "$TMP/maildir/cur/1700000001.M2P1.host:2,RS" "md2-$U@ingest.test" "maildir cur 2"
mkmsg "$TMP/maildir/new/1700000002.M3P1.host" "md3-$U@ingest.test" "maildir new 3"
mkmsg "$TMP/maildir/tmp/1700000003.M4P1.host" "mdtmp-$U@ingest.test" "maildir tmp"
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/maildir"
check "ingest Maildir: --json counts {messages:3, new:3}" jcheck '
    (j["messages"], j["stored"], j["new"], j["duplicates"]) == (3, 3, 3, 0)' <"$TMP/o"
check_eq "ingest Maildir: cur/ and new/ stored" 3 "$(count_mids "md_-$U@ingest.test")"
check_eq "ingest Maildir: tmp/ not read" 0 "$(count_mids "mdtmp-$U@ingest.test")"

# An mbox: one body has a ">From " line, one a "From " line that does not
# follow a blank line; neither starts a message.
{
    for i in 1 2 3; do
        echo "From sender-$U@ingest-$U.test Mon Nov 23 09:00:00 2026"
        case $i in
        2) mkmsg "$TMP/x" "mbox$i-$U@ingest.test" "mbox message $i" \
               "$(printf 'Quoted below.\n\n>From the desk of the director: hello.\nEnd.')" ;;
        3) mkmsg "$TMP/x" "mbox$i-$U@ingest.test" "mbox message $i" \
               "$(printf 'Line one\nFrom here on it is plain text.\nEnd.')" ;;
        *) mkmsg "$TMP/x" "mbox$i-$U@ingest.test" "mbox message $i" ;;
        esac
        cat "$TMP/x"
        echo
    done
} >"$TMP/mail.mbox"
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/mail.mbox"
check "ingest mbox: --json counts {messages:3, new:3}" jcheck '
    (j["messages"], j["stored"], j["new"], j["duplicates"]) == (3, 3, 3, 0)' <"$TMP/o"
check_eq "ingest mbox: 3 rows" 3 "$(count_mids "mbox_-$U@ingest.test")"
check_eq "ingest mbox: the >From line stays in its message's text" 1 \
    "$(sql "SELECT count(*) FROM messages WHERE message_id = 'mbox2-$U@ingest.test'
             AND text_body LIKE '%From the desk of the director: hello.%' AND text_body LIKE '%End.%'")"
check_eq "ingest mbox: a From line without a blank line before it stays in its text" 1 \
    "$(sql "SELECT count(*) FROM messages WHERE message_id = 'mbox3-$U@ingest.test'
             AND text_body LIKE '%From here on it is plain text.%'")"
check_eq "ingest mbox: subjects intact (no message split in two)" \
    "mbox message 1|mbox message 2|mbox message 3" \
    "$(sql "SELECT string_agg(subject, '|' ORDER BY subject) FROM messages WHERE message_id LIKE 'mbox_-$U@ingest.test'")"
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/mail.mbox"
check "ingest mbox again: 3 duplicates" jcheck '(j["new"], j["duplicates"]) == (0, 3)' <"$TMP/o"
check_eq "ingest mbox: the mbox quoting is undone (no '>From' in the text)" 0 \
    "$(sql "SELECT count(*) FROM messages WHERE message_id = 'mbox2-$U@ingest.test'
             AND text_body LIKE '%>From the desk%'")"
# The same message captured live (its body has a plain "From " line) and
# then imported from an mbox (where that line is quoted ">From ", or
# ">>From " for a line that already began with ">From "): one message, the
# same digest, a second capture event.
mkmsg "$TMP/live.eml" "mboxrd-$U@ingest.test" "mboxrd message" \
    "$(printf 'Quoted below.\n\nFrom the desk of the director.\n>From a quote.\nEnd.')"
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/live.eml"
check "ingest live copy: new" jcheck 'j["new"] == 1' <"$TMP/o"
{
    echo "From sender-$U@ingest-$U.test Mon Nov 23 09:00:00 2026"
    sed -e 's/^From the desk/>From the desk/' -e 's/^>From a quote/>>From a quote/' "$TMP/live.eml"
    echo
} >"$TMP/rd.mbox"
check "mboxrd file really holds the quoted lines" grep -q '^>>From a quote' "$TMP/rd.mbox"
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/rd.mbox"
check "ingest mboxrd copy: the same message (a duplicate, not new)" \
    jcheck '(j["messages"], j["new"], j["duplicates"]) == (1, 0, 1)' <"$TMP/o"
check_eq "ingest mboxrd copy: one row, two capture events" "1|2" \
    "$(sql "SELECT count(DISTINCT m.id) || '|' || count(*) FROM messages m JOIN capture_events e ON e.message_id = m.id
             WHERE m.message_id = 'mboxrd-$U@ingest.test'")"

# --direction out
mkdir -p "$TMP/out"
mkmsg "$TMP/out/o1.eml" "dirout-$U@ingest.test" "sent folder"
run_cli "$TMP/o" "$TMP/e" --json ingest --direction out "$TMP/out"
check_eq "ingest --direction out: exit 0" 0 "$RC"
check_eq "ingest --direction out: direction out" out \
    "$(sql "SELECT direction FROM messages WHERE message_id = 'dirout-$U@ingest.test'")"
run_cli "$TMP/o" "$TMP/e" ingest --direction sideways "$TMP/out"
check_eq "ingest --direction sideways: exit 64" $EX_USAGE "$RC"
# A single file.
mkmsg "$TMP/single.eml" "single-$U@ingest.test" "single file"
run_cli "$TMP/o" "$TMP/e" --json ingest "$TMP/single.eml"
check "ingest FILE: one new message" jcheck '(j["messages"], j["new"]) == (1, 1)' <"$TMP/o"

# --- import / export contacts ------------------------------------------------
cat >"$TMP/contacts.csv" <<EOF
email,first_name,last_name,company,phone
imp1-$U@imp-$U.test,Ivy,Smith,"Imp $U, Ltd",+1 555 0100
imp2-$U@imp-$U.test,"Jo, Jr.",O'Brien,"Imp $U, Ltd",
not-an-email,Bad,Row,Nowhere,
imp3-$U@imp-$U.test,Kim,"Lee ""KL""",,
EOF
run_cli "$TMP/o" "$TMP/e" --json import contacts "$TMP/contacts.csv"
check_eq "import contacts: exit 0" 0 "$RC"
check "import contacts: --json {added: 3, skipped: 1}" jcheck '(j["added"], j["skipped"]) == (3, 1)' <"$TMP/o"
check "import contacts: the invalid row is reported on stderr (row 4)" grep -q "row 4" "$TMP/e"
check_eq "import contacts: quoted company with a comma" "Imp $U, Ltd" \
    "$(sql "SELECT co.name FROM contacts c JOIN companies co ON co.id = c.company_id WHERE c.email_norm = 'imp1-$U@imp-$U.test'")"
check_eq "import contacts: both contacts share one company" 1 \
    "$(sql "SELECT count(DISTINCT company_id) FROM contacts WHERE email_norm LIKE 'imp_-$U@imp-$U.test' AND company_id IS NOT NULL")"
check_eq "import contacts: quoted first name with a comma, names and phone" "Jo, Jr.|O'Brien" \
    "$(sql "SELECT first_name || '|' || last_name FROM contacts WHERE email_norm = 'imp2-$U@imp-$U.test'")"
check_eq "import contacts: phone kept" "+1 555 0100" \
    "$(sql "SELECT phone FROM contacts WHERE email_norm = 'imp1-$U@imp-$U.test'")"
check_eq "import contacts: invalid row skipped" 0 "$(sql "SELECT count(*) FROM contacts WHERE email = 'not-an-email'")"
run_cli "$TMP/o" "$TMP/e" --json import contacts "$TMP/contacts.csv"
check "import contacts again: existing addresses skipped" jcheck '(j["added"], j["skipped"]) == (0, 4)' <"$TMP/o"
run_cli "$TMP/export.csv" "$TMP/e" export contacts
check_eq "export contacts: exit 0" 0 "$RC"
check "export contacts: CSV has the imported rows, quoting intact" $PY -c '
import csv, sys
u = sys.argv[2]
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
by = {r["email"]: r for r in rows}
a, b, c = (by.get("imp%d-%s@imp-%s.test" % (i, u, u)) for i in (1, 2, 3))
ok = (a and a["first_name"] == "Ivy" and a["last_name"] == "Smith" and a["company"] == "Imp %s, Ltd" % u
      and a["phone"] == "+1 555 0100"
      and b and b["first_name"] == "Jo, Jr." and b["last_name"] == "O'"'"'Brien"
      and c and c["last_name"] == "Lee \"KL\""
      and "not-an-email" not in by)
sys.exit(0 if ok else 1)' "$TMP/export.csv" "$U"
check "export contacts: CSV header" test "$(head -1 "$TMP/export.csv")" = "id,email,first_name,last_name,title,phone,company,owner"
$CRMGATE --json export contacts >"$TMP/export.json" 2>/dev/null
check "--json export contacts: has the imported rows" jcheck '
    {r["email"]: r["company"] for r in j if r["email"] and E["U"] in r["email"]}
    == {"imp%d-%s@imp-%s.test" % (i, E["U"], E["U"]): c for i, c in
        ((1, "Imp %s, Ltd" % E["U"]), (2, "Imp %s, Ltd" % E["U"]), (3, None))}' <"$TMP/export.json"
: >"$TMP/empty.csv"
run_cli "$TMP/o" "$TMP/e" import contacts "$TMP/empty.csv"
check "import contacts of an empty CSV (no header): non-zero exit, reason on stderr" \
    test "$RC" -ne 0 -a -n "$(grep -i 'header' "$TMP/e")"
run_cli "$TMP/o" "$TMP/e" import contacts "$TMP/no-such.csv"
check "import contacts of a missing file: non-zero exit" test "$RC" -ne 0

# --- records --------------------------------------------------------------------
run_cli "$TMP/o" "$TMP/e" --json user add "cliuser-$U@example.com" --name "Cli User" --role chief
check_eq "user add: exit 0" 0 "$RC"
check "user add: JSON with id, email, role" jcheck '
    isinstance(j["id"], int) and j["id"] > 0 and j["email"] == "cliuser-" + E["U"] + "@example.com"
    and j["role"] == "chief" and j["name"] == "Cli User" and "password_hash" not in j' <"$TMP/o"
check_eq "user add: row in users" "Cli User" "$(sql "SELECT name FROM users WHERE email_norm = 'cliuser-$U@example.com'")"
run_cli "$TMP/o" "$TMP/e" --json user add "CliUser-$U@Example.COM"
check "user add of an existing address: non-zero exit, 'already exists'" \
    test "$RC" -ne 0 -a -n "$(grep 'already exists' "$TMP/e")"
run_cli "$TMP/o" "$TMP/e" --json user add "role-$U@example.com" --role emperor
check_eq "user add --role emperor: exit 64" $EX_USAGE "$RC"
run_cli "$TMP/o" "$TMP/e" --json company add "Cli Co $U" --domain "cli-$U.test"
check "company add: JSON with id and domains" jcheck 'j["id"] > 0 and j["domains"] == ["cli-" + E["U"] + ".test"]' <"$TMP/o"
CO=$(json_id <"$TMP/o")
run_cli "$TMP/o" "$TMP/e" --json contact add "person-$U@cli-$U.test" --name "Pat Person" --company-id "$CO"
CT=$(json_id <"$TMP/o")
export CO
check "contact add: JSON with id, split name and company" jcheck '
    j["id"] > 0 and j["first_name"] == "Pat" and j["last_name"] == "Person" and j["company_id"] == int(E["CO"])' <"$TMP/o"
run_cli "$TMP/o" "$TMP/e" --json deal add "Cli deal $U" --contact "$CT" --amount 1234.50 --currency eur
check "deal add: JSON with id, company from the contact, amount, currency" jcheck '
    j["id"] > 0 and j["company_id"] == int(E["CO"]) and float(j["amount"]) == 1234.5 and j["currency"] == "EUR"
    and j["status"] == "open" and len(j["ticket"]) > 0' <"$TMP/o"
run_cli "$TMP/o" "$TMP/e" --json deal add "Ghost deal $U" --contact 999999999
check "deal add --contact of a missing contact: non-zero exit, no row" \
    test "$RC" -ne 0 -a "$(sql "SELECT count(*) FROM deals WHERE name = 'Ghost deal $U'")" = 0

# --- exit codes and usage ------------------------------------------------------
usage_case() { # NAME ARGS...: exit 64 and a usage message on stderr
    local name=$1; shift
    run_cli "$TMP/o" "$TMP/e" "$@"
    if [ "$RC" -eq $EX_USAGE ] && grep -qi "usage" "$TMP/e"; then ok "$name"; else
        not_ok "$name"; echo "#   exit $RC, stderr: $(head -c 200 "$TMP/e")"; fi
}
usage_case "usage: no command -> 64 + usage"
usage_case "usage: unknown command -> 64 + usage" frobnicate
usage_case "usage: unknown global option -> 64 + usage" --frob spool status
usage_case "usage: user add without EMAIL -> 64 + usage" user add
usage_case "usage: user without add -> 64 + usage" user remove x@example.com
usage_case "usage: user add with an unknown option -> 64 + usage" user add "u-$U@example.com" --colour red
usage_case "usage: deal add --contact abc -> 64 + usage" deal add X --contact abc
usage_case "usage: contact add with two addresses -> 64 + usage" contact add a@b.test c@d.test
usage_case "usage: timeline without a target -> 64 + usage" timeline
usage_case "usage: timeline --limit 0 -> 64 + usage" timeline "contact:1" --limit 0
usage_case "usage: ingest without a path -> 64 + usage" ingest
usage_case "usage: spool frob -> 64 + usage" spool frob
usage_case "usage: parse without a file -> 64 + usage" parse
usage_case "usage: import without contacts -> 64 + usage" import people x.csv
run_cli "$TMP/o" "$TMP/e" timeline bogus:1
check_eq "timeline bogus:1: exit 64" $EX_USAGE "$RC"
run_cli "$TMP/o" "$TMP/e" timeline contact:abc
check_eq "timeline contact:abc: exit 64" $EX_USAGE "$RC"
run_cli "$TMP/o" "$TMP/e" timeline not-an-address
check_eq "timeline not-an-address: exit 64" $EX_USAGE "$RC"
run_cli "$TMP/o" "$TMP/e" --json timeline "nobody-$U@nowhere.test"
check_eq "timeline of an unknown address: exit 0" 0 "$RC"
check "timeline of an unknown address: no messages" jcheck 'j["messages"] == []' <"$TMP/o"
run_cli "$TMP/o" "$TMP/e" --version
check "--version: exit 0, prints the version" test "$RC" -eq 0 -a -n "$(grep -E '^crmgate [0-9]' "$TMP/o")"
run_cli "$TMP/o" "$TMP/e" --help
check "--help: exit 0, usage on stdout" test "$RC" -eq 0 -a -n "$(grep -i '^usage: crmgate' "$TMP/o")"

# Configuration errors: exit 78 and FILE:LINE on stderr.
FREEMAIL="$REPO/etc/freemail-domains.txt"
cat >"$TMP/unknown.conf" <<EOF
mail {
    freemail_domains_file = "$FREEMAIL"
}
database {
    time_budget_ms = 500
    colour = "blue"
}
EOF
run_cli "$TMP/o" "$TMP/e" -c "$TMP/unknown.conf" spool status
check_eq "config: unknown key -> exit 78" $EX_CONFIG "$RC"
check "config: unknown key -> stderr names FILE:LINE ($TMP/unknown.conf:6)" grep -qF "$TMP/unknown.conf:6" "$TMP/e"
cat >"$TMP/range.conf" <<EOF
mail {
    freemail_domains_file = "$FREEMAIL"
}
limits {
    open_deals_linked = 1000
}
EOF
run_cli "$TMP/o" "$TMP/e" -c "$TMP/range.conf" spool status
check_eq "config: out-of-range value -> exit 78" $EX_CONFIG "$RC"
check "config: out-of-range value -> stderr names FILE:LINE ($TMP/range.conf:5)" grep -qF "$TMP/range.conf:5" "$TMP/e"
printf 'limits {\n    open_deals_linked = 3\n' >"$TMP/syntax.conf"
run_cli "$TMP/o" "$TMP/e" -c "$TMP/syntax.conf" spool status
check_eq "config: syntax error (unclosed section) -> exit 78" $EX_CONFIG "$RC"
run_cli "$TMP/o" "$TMP/e" -c "$TMP/no-such.conf" spool status
check_eq "config: missing file -> exit 78" $EX_CONFIG "$RC"
cat >"$TMP/good.conf" <<EOF
mail {
    freemail_domains_file = "$FREEMAIL"
}
limits {
    open_deals_linked = 5
}
EOF
run_cli "$TMP/o" "$TMP/e" -c "$TMP/good.conf" spool status
check_eq "config: a valid minimal file loads (exit 0)" 0 "$RC"

# --- spool status ---------------------------------------------------------------
mkdir -p "$TMP/emptyspool"
CRMGATE_SPOOL_DIR=$TMP/emptyspool $CRMGATE --json spool status >"$TMP/o" 2>"$TMP/e"
RC=$?
check_eq "spool status --json on an empty spool: exit 0" 0 "$RC"
export EMPTY=$TMP/emptyspool
check "spool status --json on an empty spool: files 0, bytes 0, bad 0" jcheck '
    j["files"] == 0 and j["bytes"] == 0 and j["bad"] == 0 and j["oldest_age_seconds"] == 0
    and j["dir"].rstrip("/") == E["EMPTY"]' <"$TMP/o"
CRMGATE_SPOOL_DIR=$TMP/emptyspool $CRMGATE --json spool replay >"$TMP/o" 2>"$TMP/e"
RC=$?
check "spool replay on an empty spool: exit 0, nothing replayed" \
    test "$RC" -eq 0 -a "$(jcheck 'j["replayed"] == 0 and j["left"] == 0' <"$TMP/o" && echo y)" = y
$CRMGATE --json spool status >"$TMP/o" 2>"$TMP/e"
RC=$?
export SPOOL=$CRMGATE_SPOOL_DIR
check_eq "spool status --json of the stack's spool: exit 0" 0 "$RC"
check "spool status --json of the stack's spool: its dir, counts as integers" jcheck '
    j["dir"].rstrip("/") == E["SPOOL"].rstrip("/")
    and all(isinstance(j[k], int) and j[k] >= 0 for k in ("files", "bytes", "bad"))' <"$TMP/o"
# --- dates are RFC 3339 -----------------------------------------------------------
# The timeline's text lines start with the message date in RFC 3339 (seconds and
# offset); the message of the "ingest DIR" section says 09:00:00 +0000.
run_cli "$TMP/o" "$TMP/e" timeline "sender-$U@ingest-$U.test" --limit 1
check "timeline text: the date is RFC 3339 and the message's instant" $PY -c '
import datetime, re, sys
line = open(sys.argv[1]).readline()
m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)  in ", line)
want = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.timezone.utc)
sys.exit(0 if m and datetime.datetime.fromisoformat(m.group(1)) == want else 1)' "$TMP/o"

# --- CSV export round trip (libcsv's writer) ---------------------------------------
# A contact whose first name holds a comma, a quote and a newline, and whose
# last name holds a lone quote: export it, delete it, import the export, and
# the row comes back with exactly the same names.
RT_FIRST=$(printf 'Ann, "the\nBoss"')
RT_LAST='O"Hara'
run_cli "$TMP/o" "$TMP/e" --json contact add "rt-$U@rt-$U.test" --first "$RT_FIRST" --last "$RT_LAST" --title "Head, Sales"
check_eq "round trip: contact added" 0 "$RC"
run_cli "$TMP/rt.csv" "$TMP/e" export contacts
check_eq "round trip: export exit 0" 0 "$RC"
sql "DELETE FROM contacts WHERE email_norm = 'rt-$U@rt-$U.test'" >/dev/null
run_cli "$TMP/o" "$TMP/e" --json import contacts "$TMP/rt.csv"
check "round trip: import of the export adds exactly the deleted contact" jcheck 'j["added"] == 1' <"$TMP/o"
check_eq "round trip: first name with comma, quote and newline intact" "$RT_FIRST" \
    "$(sql "SELECT first_name FROM contacts WHERE email_norm = 'rt-$U@rt-$U.test'")"
check_eq "round trip: last name with a quote and title with a comma intact" "$RT_LAST|Head, Sales" \
    "$(sql "SELECT last_name || '|' || title FROM contacts WHERE email_norm = 'rt-$U@rt-$U.test'")"

# --- arrays as binary parameters -------------------------------------------------
run_cli "$TMP/o" "$TMP/e" --json company add "Two Dom $U" --domain "a-$U.test" --domain "B-$U.test"
check "company add with two domains: JSON lists both, normalised" jcheck '
    sorted(j["domains"]) == sorted(["a-" + E["U"] + ".test", "b-" + E["U"] + ".test"])' <"$TMP/o"
check_eq "company add with two domains: two rows in company_domains" 2 \
    "$(sql "SELECT count(*) FROM company_domains d JOIN companies c ON c.id = d.company_id WHERE c.name = 'Two Dom $U'")"

# --- dsn: the bounce parser on corpus bounces ------------------------------------
B=$CORPUS/bounces
if [ -f "$B/lhost-sendmail-01.eml" ]; then
    run_cli "$TMP/o" "$TMP/e" --json dsn "$B/lhost-sendmail-01.eml"
    check "dsn --json sendmail DSN: exit 0, one hard userunknown 5.1.1 for userunknown@bouncehammer.jp" \
        jq -e '.kind == "dsn" and (.recipients | length) == 1 and
            (.recipients[0] | .recipient == "userunknown@bouncehammer.jp" and
             .action == "failed" and .status == "5.1.1" and
             .reason == "userunknown" and .hard == true and
             (.diagnostic | test("User Unknown")))' "$TMP/o"
    check "dsn --json: each recipient has exactly recipient, action, status, diagnostic, reason, hard" \
        jq -e '[.recipients[] | keys] == [["action","diagnostic","hard","reason","recipient","status"]]' "$TMP/o"
    run_cli "$TMP/o" "$TMP/e" --json dsn "$B/arf-01.eml"
    check "dsn --json ARF: kind arf, feedback_type abuse, redacted@example.net soft feedback" \
        jq -e '.kind == "arf" and .feedback_type == "abuse" and
            .recipients == [{"recipient": "redacted@example.net", "action": "failed",
              "status": "", "diagnostic": "", "reason": "feedback", "hard": false}]' "$TMP/o"
    run_cli "$TMP/o" "$TMP/e" dsn --json "$B/lhost-qmail-01.eml"
    check "dsn --json qmail prose (no delivery-status part): kind text, kijitora@example.ne.jp hard" \
        jq -e '.kind == "text" and .recipients[0].recipient == "kijitora@example.ne.jp" and
            .recipients[0].hard == true' "$TMP/o"
    run_cli "$TMP/o" "$TMP/e" dsn "$B/lhost-sendmail-01.eml"
    check "dsn (table): exit 0, header and a hard row with the status" \
        test "$RC" -eq 0 -a -n "$(grep -E '^RECIPIENT +ACTION +STATUS +REASON +HARD +DIAGNOSTIC' "$TMP/o")" \
        -a -n "$(grep -E '^userunknown@bouncehammer.jp +failed +5\.1\.1 +userunknown +hard ' "$TMP/o")"
else
    not_ok "dsn on corpus bounces: no $B (CRMGATE_CORPUS)"
fi
printf 'From: a@example.org\nTo: b@example.org\nSubject: hello\n\nJust a note.\n' >"$TMP/plain.eml"
run_cli "$TMP/o" "$TMP/e" --json dsn "$TMP/plain.eml"
check "dsn on an ordinary message: exit 65, 'not a bounce' on stderr, nothing on stdout" \
    test "$RC" -eq 65 -a -n "$(grep 'not a bounce' "$TMP/e")" -a ! -s "$TMP/o"
head -c 3000 /dev/urandom >"$TMP/junk.eml"
run_cli "$TMP/o" "$TMP/e" dsn "$TMP/junk.eml"
check "dsn on random bytes: exit 65" test "$RC" -eq 65
run_cli "$TMP/o" "$TMP/e" dsn "$TMP/no-such-file.eml"
check "dsn on a missing file: exit 66 (EX_NOINPUT)" test "$RC" -eq 66

# --- COMMAND --help, from the command table -------------------------------------
# Every command listed by --help answers "COMMAND --help" (and, when it has
# subcommands, "COMMAND SUBCOMMAND --help") with its usage on stdout and exit
# 0; an unknown option still gives 64.
$CRMGATE --help >"$TMP/help" 2>/dev/null
mapfile -t HELP_CMDS < <(sed -n '/^commands:/,/^$/p' "$TMP/help" | sed -n 's/^  \([a-z][a-z-]*\)\( \(.*\)\)\{0,1\}$/\1 \3/p')
check "--help lists the commands (at least 11)" test "${#HELP_CMDS[@]}" -ge 11
for line in "${HELP_CMDS[@]}"; do
    cmd=${line%% *}
    rest=${line#"$cmd"}; rest=${rest# }
    sub=${rest%% *}
    case $sub in *[!a-z\|]* | "") sub="" ;; *) sub=${sub%%|*} ;; esac
    run_cli "$TMP/o" "$TMP/e" "$cmd" --help
    check "$cmd --help: exit 0, 'usage: crmgate $cmd' on stdout" \
        test "$RC" -eq 0 -a -n "$(grep -E "^usage: crmgate $cmd( |\$)" "$TMP/o")"
    if [ -n "$sub" ]; then
        run_cli "$TMP/o" "$TMP/e" "$cmd" "$sub" --help
        check "$cmd $sub --help: exit 0, usage naming '$cmd $sub'" \
            test "$RC" -eq 0 -a -n "$(grep -E "^usage: crmgate $cmd ([a-z|]*\\|)?$sub" "$TMP/o")"
    fi
    # shellcheck disable=SC2086
    run_cli "$TMP/o" "$TMP/e" "$cmd" $sub x --no-such-option
    check "$cmd ${sub:+$sub }x --no-such-option: exit 64, usage naming the command on stderr" \
        test "$RC" -eq $EX_USAGE -a -n "$(grep -E "^usage: crmgate $cmd( |\$)" "$TMP/e")"
done

exit 0
