#!/usr/bin/env bash
# tests/campaign/t15_ab.sh - a subject A/B test: the variants go to a sample
# (campaign.ab_sample_percent, 10 % each), the winner by replies
# (campaign.ab_winner_by) is chosen campaign.ab_wait seconds (5 in
# tests/crmgate-test.conf) after the last sample message, and the rest get
# the winner's subject.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"

C=${CRMGATE_BUILD:-build}/bin/crmgate
U=$(uniq_id)
D="ab$U.test"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
status_field() { "$C" --json campaign status "$1" | jq -r ".$2"; }
field_ge() { [ "$(status_field "$1" "$2")" -ge "$3" ]; }
state_is() { [ "$(status_field "$1" state)" = "$2" ]; }

printf 'Hello {{first_name|there}}\n{{unsubscribe_url}}\n' >"$TMP/t.txt"
ACC=$("$C" --json account add "ab-$U@example.com" --relay "smtp://127.0.0.1:$CRMGATE_SUBMISSION_PORT" | jq -r .id)
for i in $(seq 1 20); do "$C" contact add "a$i@$D" --tag "ab-$U" >/dev/null; done
CID=$("$C" --json campaign create "AB $U" --account "$ACC" --subject "Subject A $U" \
    --ab-subject "Subject B $U" --text "$TMP/t.txt" --segment "tag:ab-$U" | jq -r .id)
check_eq "the sample: 2 rows per variant, 16 wait for the winner" "2 2 16" \
    "$(sql "SELECT count(*) FILTER (WHERE variant = 1), count(*) FILTER (WHERE variant = 2), count(*) FILTER (WHERE variant = 0) FROM campaign_recipients WHERE campaign_id = $CID" | tr '|' ' ')"
"$C" campaign start "$CID" >/dev/null
wait_for 30 field_ge "$CID" sent 4
sleep 1
check_eq "only the sample is sent before the winner is known" 4 "$(status_field "$CID" sent)"
# a reply to a variant B message: B wins by replies
B=$(sql "SELECT address_norm || ' ' || message_id FROM campaign_recipients WHERE campaign_id = $CID AND variant = 2 ORDER BY id LIMIT 1")
read -r baddr bmid <<<"$B"
smtp "$CRMGATE_SMTP_PORT" "$baddr" "ab-$U@example.com" "abreply-$U@$D" "Re: B" --header "In-Reply-To: <$bmid>"
wait_for 60 state_is "$CID" finished
check "the campaign finished" state_is "$CID" finished
check_eq "variant B (2) won by replies" 2 "$(sql "SELECT ab_winner FROM campaigns WHERE id = $CID")"
scripts/stack wait-queue 30 >/dev/null
n=0
for a in $(sql "SELECT address_norm FROM campaign_recipients WHERE campaign_id = $CID AND variant = 0"); do
    f=$(grep -l -F "X-Rcpt-Args: <$a>" "$CRMGATE_SINK_DIR"/* | head -1)
    [ -n "$f" ] && grep -q "^Subject: Subject B $U" "$f" && n=$((n + 1))
done
check_eq "the 16 others got the winner's subject" 16 "$n"
