/*
 * dsn_reason.c - the bounce reason of one recipient (core/dsn.c): a table
 * of status codes (RFC 3463) and a table of phrases seen in the rejection
 * texts of the common MTAs, both mapping to Sisimai's reason words, and
 * Sisimai's hard-bounce rule.
 *
 * Order: a specific status code decides unless it is one of the vague ones
 * (x.0.0, or a reason a text often refines); then the first phrase that
 * matches, in table order (more specific reasons first); then the code's
 * class (x.7 security, x.6 content), the reply code, and "onhold" for a
 * text nothing matched. The tables were written for this project, with
 * Sisimai's public lists as a guide to what MTAs say.
 *
 * Limits: the text is looked at up to its first DSN_MAX_TEXT bytes.
 */
#include "dsn_int.h"

#include <string.h>

typedef struct {
    const char *code;
    const char *reason;
} code_reason;

static const code_reason codes[] = {
    {"1.6", "hasmoved"},       {"1.7", "rejected"},
    {"1.8", "rejected"},       {"1.9", "systemerror"},
    {"2.1", "suspend"},        {"2.2", "mailboxfull"},
    {"2.3", "exceedlimit"},    {"2.4", "filtered"},
    {"3.1", "systemfull"},     {"3.2", "notaccept"},
    {"3.3", "systemerror"},    {"3.4", "mesgtoobig"},
    {"3.5", "systemerror"},    {"4.1", "expired"},
    {"4.2", "networkerror"},   {"4.3", "systemerror"},
    {"4.4", "networkerror"},   {"4.5", "systemfull"},
    {"4.6", "networkerror"},   {"4.7", "expired"},
    {"5.3", "toomanyconn"},    {"5.4", "systemerror"},
    {"5.5", "systemerror"},    {"6.0", "contenterror"},
    {"6.1", "contenterror"},   {"6.2", "contenterror"},
    {"6.5", "contenterror"},   {"7.1", "blocked"},
    {"7.2", "blocked"},        {"7.5", "securityerror"},
    {"7.6", "securityerror"},  {"7.7", "securityerror"},
    {"7.9", "securityerror"},  {"7.8", "securityerror"},
    {"7.12", "securityerror"}, {"7.13", "suspend"},
    {"7.14", "securityerror"}, {"7.16", "mesgtoobig"},
    {"7.17", "hasmoved"},      {"7.18", "hasmoved"},
    {"7.20", "authfailure"},   {"7.21", "authfailure"},
    {"7.22", "authfailure"},   {"7.23", "authfailure"},
    {"7.24", "authfailure"},   {"7.25", "requireptr"},
    {"7.26", "authfailure"},   {"7.27", "notaccept"},
};

/* Reasons a permanent (5.x.y) code gives where the 4.x.y one differs. */
static const code_reason codes5[] = {
    {"1.0", "userunknown"},  {"1.1", "userunknown"}, {"1.2", "hostunknown"},
    {"1.3", "userunknown"},  {"1.4", "filtered"},    {"1.10", "userunknown"},
    {"2.0", "filtered"},     {"2.1", "filtered"},    {"3.0", "systemerror"},
    {"4.0", "networkerror"}, {"4.4", "hostunknown"}, {"4.7", "expired"},
    {"5.2", "syntaxerror"},  {"5.6", "syntaxerror"},
};

/* Reasons a text may refine: a code giving one of these is vague. */
static const char *const vague[] = {
    "systemerror",  "securityerror", "expired",     "suspend",
    "networkerror", "hostunknown",   "userunknown", NULL};

typedef struct {
    const char *reason;
    int group; /* 0: before the status code, 1: after it (like Sisimai) */
    const char *phrases[64];
} phrase_set;

/* In order: the first set with a matching phrase gives the reason. */
static const phrase_set phrases[] = {
    {"policyviolation",
     0,
     {"content presents a potential", "protocol violation",
      "rejected for policy reasons", NULL}},
    {"securityerror",
     0,
     {"unauthenticated senders", "smtp authentication",
      "authentication required", NULL}},
    {"mailboxfull",
     0,
     {"mailbox full",
      "mailbox is full",
      "mailbox was full",
      "over quota",
      "overquota",
      "quota exceeded",
      "exceeded quota",
      "exceeds quota",
      "exceeded storage",
      "insufficient disk space",
      "disk quota",
      "mailfolder is full",
      "not enough storage",
      "not enough space",
      "user has too many messages",
      "would exceed the quota",
      "exceeding its mailbox quota",
      "mailbox size limit",
      "over the quota",
      "exceeded its disk space",
      "full mailbox",
      "no space left",
      "mailbox has exceeded",
      "quota violation",
      "out of storage",
      "mailbox is over",
      "over its quota",
      "box is full",
      NULL}},
    {"mesgtoobig",
     0,
     {"message too big", "message is too big", "message too large",
      "message size exceeds", "message exceeds", "size limit",
      "message is larger than", "exceeds the maximum size",
      "message length exceeds", "too large for", NULL}},
    {"suspend",
     0,
     {"is currently suspended",
      "has been suspended",
      "mailbox disabled",
      "mailbox is disabled",
      "account is disabled",
      "account disabled",
      "account has been disabled",
      "inactive account",
      "account is inactive",
      "is a deactivated mailbox",
      "user suspended",
      "temporarily inactive",
      "mailbox currently suspended",
      "this mailbox is disabled",
      "account is locked",
      "is not active",
      "temporary locked",
      "temporarily locked",
      "is inactive",
      "disabled recipient",
      "account is blocked",
      "user is terminated",
      "account that you tried to reach is disabled",
      "mailbox is frozen",
      "recipient suspend",
      "archived recipient",
      "account is unavailable",
      NULL}},
    {"hasmoved", 0, {"has been replaced by", "address has moved", NULL}},
    {"norelaying",
     0,
     {"relay access denied", "relaying denied", "relay denied",
      "not permitted to relay", "relaying not allowed", "unable to relay",
      "we do not relay", "relay not permitted", "relaying mail to",
      "not allowed to relay", "no relaying", "relay not allowed",
      "cannot relay", "relay prohibited", NULL}},
    {"authfailure",
     0,
     {"spf check", "spf fail", "spf validation", "dmarc policy", "dmarc",
      "dkim", "sender policy framework", "spf record", " spf ",
      "authentication failed", "authentication information",
      "fails to pass authentication", NULL}},
    {"notaccept",
     0,
     {"doesn't receive email", "does not receive email", "no mx record",
      "couldn't find a mail exchanger", "indicated no smtp service", "null mx",
      NULL}},
    {"networkerror",
     0,
     {"dns error", "dns type", "host name lookup failure", "hop count",
      "mail loop", "too many hops", NULL}},
    {"hostunknown",
     0,
     {"domain is not reachable", "domain may not exist", "host unknown",
      "unknown host", "no such domain", "domain does not exist",
      "domain not found", "unrouteable address", "unroutable address", NULL}},
    {"userunknown",
     0,
     {"user unknown",
      "unknown user",
      "no such user",
      "no such mailbox",
      "no such recipient",
      "no such address",
      "no such person",
      "user not found",
      "user does not exist",
      "user doesn't exist",
      "user not exist",
      "mailbox not found",
      "mailbox does not exist",
      "mailbox unavailable",
      "mailbox is unavailable",
      "invalid recipient",
      "invalid mailbox",
      "recipient unknown",
      "unknown recipient",
      "recipient not found",
      "recipient does not exist",
      "address does not exist",
      "address unknown",
      "address not found",
      "unknown address",
      "bad address",
      "invalid address",
      "not a valid mailbox",
      "does not exist",
      "doesn't exist",
      "no mailbox",
      "not our customer",
      "is not a known user",
      "recipient address rejected: unknown",
      "unknown local part",
      "recipient address rejected: invalid",
      "user doesn't have a",
      "recipient address rejected: access denied",
      "no account by that name",
      "not a valid recipient",
      "badrcptto",
      "validrcptto",
      "unknown or illegal alias",
      "not listed in",
      "user invalid",
      "account does not exist",
      "is not a valid user",
      "destination addresses were unknown",
      "no longer valid",
      "recipient not ok",
      "invalid final delivery userid",
      "no valid recipients for",
      NULL}},
    {"filtered",
     0,
     {"due to user rules", "message filtered",
      "refused due to recipient preferences", "user refuses",
      "only accepting mail from", "has restricted", "is not accepting any mail",
      "rejected by the recipient", "blocked by the recipient", "notauthorized",
      "user reject", NULL}},
    {"requireptr",
     0,
     {"reverse dns", "reverse lookup", "mismatches client ip", "ptr record",
      "no ptr", "cannot find your hostname", "cannot resolve your address",
      "no rdns", "rdns", "resolve your ip", "hostname lookup", NULL}},
    {"notcompliantrfc",
     0,
     {"rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "duplicate header",
      "multiple addresses in", "not rfc compliant", "rfc compliant", NULL}},
    {"badreputation",
     0,
     {"poor reputation", "unexpected volume or user complaints",
      "bad reputation", "low reputation", "ip reputation", "sender reputation",
      NULL}},
    {"blocked",
     0, /* block lists, before "spam" in their names */
     {"spamhaus", "spamcop", "blocked using", "dnsbl", "barracuda",
      "smtp server of your isp", NULL}},
    {"spamdetected",
     0,
     {"spam", "unsolicited", "bulk mail", "bulk email", "content filter",
      "message content rejected", "mail content denied", "looks like",
      "rejecting banned content", NULL}},
    {"virusdetected",
     1,
     {"virus", "malware", "infected", "banned attachment", NULL}},
    {"rejected",
     0,
     {"sender address rejected",
      "sender rejected",
      "sender verify failed",
      "sender is",
      "sender domain",
      "sender not",
      "invalid sender",
      "administrative prohibition",
      "batv",
      "backscatter",
      "domain of sender",
      "null sender",
      "empty envelope sender",
      "sender email address",
      "not allowed to post",
      "bogus mail from",
      "unroutable sender",
      "sender was rejected",
      "purported responsible address",
      "to/from an address that has been",
      NULL}},
    {"hostunknown",
     0,
     {"host unknown", "unknown host", "host not found", "no such domain",
      "domain not found", "domain does not exist", "unrouteable address",
      "unroutable address", "name or service not known",
      "domain name not found", "domain must exist", "unknown domain", "no mx",
      "nxdomain", "host or domain name not found", NULL}},
    {"speeding", 0, {"too many recipients this hour", NULL}},
    {"toomanyconn",
     0,
     {"too many connections", "too many recipients", "connection rate limit",
      "frequency limited", "too many concurrent", "connection limit",
      "too many sessions", NULL}},
    {"speeding",
     0,
     {"rate limit", "too many messages", "receiving mail at a rate",
      "sending rate", "ratelimit", "slow down", NULL}},
    {"blocked",
     0,
     {"blocked",
      "blacklist",
      "black list",
      "blocklist",
      "block list",
      "listed in",
      "dnsbl",
      "rbl",
      "spamhaus",
      "spamcop",
      "barracuda",
      "client host rejected",
      "connection refused",
      "refused to talk",
      "connection reset by peer",
      "connection dropped",
      "service refused",
      "not allowed to connect",
      "access denied",
      "helo command rejected",
      "dynamic ip",
      "dial-up",
      "dialup",
      "your ip",
      "ip address",
      NULL}},
    {"policyviolation",
     1,
     {"policy", "members-only", "closed mailing list", "not subscribed",
      "illegal attachment", "organizational settings", "header error", NULL}},
    {"systemerror",
     1,
     {"loop", "local error", "configuration error", "internal error",
      "system error", "server error", "temporary local problem",
      "service currently unavailable", "timeout waiting", "transaction failed",
      NULL}},
    {"networkerror",
     1,
     {"no route to host", "host is unreachable", "network is unreachable",
      "dns", "lookup failure", "could not connect", "name server",
      "too many hops", "hop count", NULL}},
    {"systemfull",
     1,
     {"system full", "disk full", "mail system congestion",
      "insufficient system storage", NULL}},
    {"notaccept",
     1,
     {"does not accept mail", "not accepting mail", "null mx",
      "accepts no mail", NULL}},
    {"expired",
     1,
     {"expired", "timed out", "did not accept our requests to connect",
      "host not reachable", "time out", "timeout", "too long", "giving up",
      "retry time", "could not be delivered for",
      "delivery attempts will continue", "has been delayed",
      "not reachable within", "queue too long", "multiple retries",
      "have been failing for a long time", NULL}},
    {"mailererror",
     1,
     {"x-unix", "mailer error", "command died", "exit code", "pipe to",
      "unknown mailer", NULL}},
};

/* The reason of a status code "c.s.d", or NULL. */
static const char *code_reason_of(const char *status)
{
    if (status == NULL || strlen(status) < 5)
        return NULL;
    if (status[0] == '2')
        return "delivered";
    const char *sub = status + 2;
    if (status[0] == '5')
        for (gsize i = 0; i < G_N_ELEMENTS(codes5); i++)
            if (strcmp(sub, codes5[i].code) == 0)
                return codes5[i].reason;
    for (gsize i = 0; i < G_N_ELEMENTS(codes); i++)
        if (strcmp(sub, codes[i].code) == 0)
            return codes[i].reason;
    return NULL;
}

static bool is_vague(const char *reason)
{
    for (gsize i = 0; vague[i] != NULL; i++)
        if (strcmp(reason, vague[i]) == 0)
            return true;
    return false;
}

/* The first phrase set of a group matching the lower-case text, or NULL. */
static const char *phrase_reason(const char *lower, int group)
{
    for (gsize i = 0; i < G_N_ELEMENTS(phrases); i++) {
        if (phrases[i].group != group)
            continue;
        for (gsize k = 0; phrases[i].phrases[k] != NULL; k++)
            if (strstr(lower, phrases[i].phrases[k]) != NULL)
                return phrases[i].reason;
    }
    return NULL;
}

static bool has_any(const char *lower, const char *const *list)
{
    for (gsize i = 0; list[i] != NULL; i++)
        if (strstr(lower, list[i]) != NULL)
            return true;
    return false;
}

/* "553 host.example does not exist": a domain (a dotted word without '@')
   said not to exist. */
static bool domain_missing(const char *lower)
{
    const char *hit = strstr(lower, " does not exist");
    if (hit == NULL)
        return false;
    const char *w = hit;
    while (w > lower && w[-1] != ' ' && w[-1] != '<' && w[-1] != ':')
        w--;
    gsize n = (gsize)(hit - w);
    if (n < 4 || memchr(w, '@', n) != NULL || memchr(w, '.', n) == NULL)
        return false;
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isalnum(w[i]) && w[i] != '.' && w[i] != '-')
            return false;
    return true;
}

/* The SMTP command the text says the error answered: 'D' (DATA), 'M'
   (MAIL FROM), 'C' (connection, HELO/EHLO) or 0. */
static char smtp_command(const char *lower)
{
    static const char *const data[] = {
        "end of data",        "after data",        ">>> data", "command data",
        "smtp command: data", "smtp command data", "(data)",   NULL};
    static const char *const mail[] = {"after mail from", "mail from command",
                                       ">>> mail from", NULL};
    static const char *const conn[] = {"after initial connection",
                                       "ehlo command", "helo command",
                                       "greeting", NULL};
    if (has_any(lower, mail))
        return 'M';
    if (has_any(lower, data))
        return 'D';
    if (has_any(lower, conn))
        return 'C';
    return 0;
}

const char *dsn_classify_ctx(const char *diagnostic, const char *context,
                             const char *status, int reply_code)
{
    const char *byc = code_reason_of(status);
    if (byc != NULL && strcmp(byc, "delivered") == 0)
        return byc;
    gsize n = diagnostic != NULL ? strnlen(diagnostic, DSN_MAX_TEXT) : 0;
    g_autofree char *lower = g_ascii_strdown(n ? diagnostic : "", (gssize)n);
    gsize cn = context != NULL ? strnlen(context, DSN_MAX_TEXT) : 0;
    g_autofree char *lctx = g_ascii_strdown(cn ? context : "", (gssize)cn);
    char cmd = smtp_command(lower);
    if (cmd == 0)
        cmd = smtp_command(lctx);
    if (status != NULL &&
        (g_str_has_suffix(status, ".1.7") || g_str_has_suffix(status, ".1.8")))
        return "rejected";
    if (byc != NULL && strcmp(byc, "userunknown") == 0) {
        /* x.1.1: user unknown unless the text says something else */
        static const char *const other[] = {
            "norelaying",  "blocked",     "mailboxfull", "hasmoved",
            "rejected",    "notaccept",   "filtered",    "speeding",
            "authfailure", "toomanyconn", NULL};
        if (cmd == 'M')
            return "rejected";
        const char *t = phrase_reason(lower, 0);
        for (gsize i = 0; t != NULL && other[i] != NULL; i++)
            if (strcmp(t, other[i]) == 0)
                return t;
        return byc;
    }
    if (domain_missing(lower))
        return "hostunknown";
    /* Yahoo refuses an unknown mailbox only at DATA, in these words */
    if (strstr(lower, "doesn't have a yahoo.com account") != NULL)
        return "userunknown";
    const char *r = phrase_reason(lower, 0);
    if (r != NULL && byc != NULL && strcmp(r, "mesgtoobig") == 0 &&
        strcmp(byc, "exceedlimit") == 0)
        r = byc;
    if (r != NULL) {
        /* "user unknown" after DATA, or under a security status (x.7.y):
           the message was refused, not the address */
        if (strcmp(r, "userunknown") == 0 &&
            (cmd == 'D' || (status != NULL && status[0] != '\0' &&
                            strncmp(status + 1, ".7.", 3) == 0)))
            return "filtered";
        if (cmd == 'M' &&
            (strcmp(r, "userunknown") == 0 || strcmp(r, "hostunknown") == 0 ||
             strcmp(r, "filtered") == 0))
            return "rejected";
        return r;
    }
    if (byc != NULL && !is_vague(byc))
        return byc;
    r = phrase_reason(lower, 1);
    if (r != NULL)
        return r;
    if (byc != NULL)
        return byc;
    if (status != NULL && strlen(status) >= 3) {
        if (strncmp(status + 1, ".7", 2) == 0)
            return "securityerror";
        if (strncmp(status + 1, ".6", 2) == 0)
            return "contenterror";
    }
    if (cmd == 'M')
        return "rejected";
    if (reply_code >= 500 && reply_code <= 504)
        return "syntaxerror";
    if (cmd == 'C')
        return "blocked";
    if (n > 0 || reply_code != 0)
        return "onhold";
    return "undefined";
}

const char *dsn_int_mailer_reason(const char *diagnostic)
{
    gsize n = diagnostic != NULL ? strnlen(diagnostic, DSN_MAX_TEXT) : 0;
    g_autofree char *lower = g_ascii_strdown(n ? diagnostic : "", (gssize)n);
    const char *r = phrase_reason(lower, 0);
    if (r == NULL)
        r = phrase_reason(lower, 1);
    /* a user the program could not find is its own failure */
    if (r == NULL || strcmp(r, "userunknown") == 0)
        r = "mailererror";
    return r;
}

/* The reason for one recipient: see the file comment for the order. */
const char *dsn_classify(const char *diagnostic, const char *status,
                         int reply_code)
{
    return dsn_classify_ctx(diagnostic, NULL, status, reply_code);
}

/* Sisimai's hardbounce rule. */
bool dsn_reason_is_hard(const char *reason, const char *status)
{
    if (reason == NULL)
        return false;
    if (strcmp(reason, "userunknown") == 0 ||
        strcmp(reason, "hostunknown") == 0 || strcmp(reason, "hasmoved") == 0)
        return true;
    if (strcmp(reason, "notaccept") == 0)
        return status == NULL || status[0] == '\0' || status[0] == '5';
    return false;
}
