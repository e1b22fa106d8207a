/*
 * test_ingest.c - capture policy (pure) and each linking rule against a
 * real PostgreSQL (CRMGATE_TEST_DSN; those cases are skipped without it).
 */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "crmgate/addr.h"
#include "crmgate/config.h"
#include "crmgate/ingest.h"
#include "crmgate/message.h"
#include "crmgate/records.h"

static crm_config *cfg;
static db_conn *db;
static char run[32];

static crm_message *parse(const char *text)
{
    message_limits lim;
    message_limits_default(&lim);
    crm_message *m = NULL;
    g_assert_cmpint(message_parse_bytes(text, strlen(text), &lim, &m), ==,
                    CRM_OK);
    return m;
}

static crm_message *mail(const char *from, const char *to, const char *extra,
                         const char *mid)
{
    g_autofree char *t = g_strdup_printf(
        "Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\n%sSubject: test %s\r\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nbody of %s\r\n",
        mid, from, to, extra ? extra : "", mid, mid);
    return parse(t);
}

static void test_direction(void)
{
    crm_message *m =
        mail("John <john@client.test>", "alice@example.com", NULL, "d1@x");
    ingest_envelope env = {.source = "milter"};
    ingest_plan *p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_LOG);
    g_assert_cmpstr(p->direction, ==, "in");
    ingest_plan_free(&p);
    message_free(&m);

    m = mail("alice@example.com", "john@client.test", NULL, "d2@x");
    env.auth_authen = "alice";
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpstr(p->direction, ==, "out");
    ingest_plan_free(&p);
    env.auth_authen = NULL;
    env.daemon_name = "ORIGINATING";
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpstr(p->direction, ==, "out");
    ingest_plan_free(&p);
    env.daemon_name = NULL;
    env.non_smtpd = true;
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpstr(p->direction, ==, "out");
    ingest_plan_free(&p);
    message_free(&m);
}

static void test_policy(void)
{
    ingest_envelope env = {.source = "milter"};
    /* Internal only: skipped. */
    crm_message *m = mail("alice@example.com", "bob@example.com", NULL, "p1@x");
    ingest_plan *p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_SKIP_INTERNAL);
    ingest_plan_free(&p);
    message_free(&m);
    /* Internal with the capture address: logged as internal. */
    m = mail("alice@example.com", "bob@example.com",
             "Bcc: crm+deal-5@crm.example.com\r\n", "p2@x");
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_LOG);
    g_assert_cmpstr(p->direction, ==, "internal");
    json_t *tokens = json_object_get(p->doc, "tokens");
    g_assert_cmpint(json_array_size(tokens), ==, 1);
    g_assert_cmpstr(
        json_string_value(json_object_get(json_array_get(tokens, 0), "type")),
        ==, "deal");
    ingest_plan_free(&p);
    message_free(&m);
    /* Never-log wins over everything, even a capture token. */
    m = mail("hr@example.com", "john@client.test",
             "Cc: crm+deal-5@crm.example.com\r\n", "p3@x");
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_SKIP_NEVER_LOG);
    ingest_plan_free(&p);
    message_free(&m);
    m = mail("someone@private.test", "alice@example.com", NULL, "p4@x");
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_SKIP_NEVER_LOG);
    ingest_plan_free(&p);
    message_free(&m);
    /* No internal party at all: not our mail. */
    m = mail("a@one.test", "b@two.test", NULL, "p5@x");
    p = ingest_plan_new(cfg, &env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_SKIP_NO_PARTY);
    ingest_plan_free(&p);
    message_free(&m);
    /* Free-mail domains never become company candidates. */
    m = mail("x@gmail.com", "alice@example.com", "Cc: y@acme.test\r\n", "p6@x");
    p = ingest_plan_new(cfg, &env, m);
    json_t *domains = json_object_get(p->doc, "domains");
    g_assert_cmpint(json_array_size(domains), ==, 1);
    g_assert_cmpstr(json_string_value(json_array_get(domains, 0)), ==,
                    "acme.test");
    ingest_plan_free(&p);
    message_free(&m);
    g_assert_true(ingest_is_capture_rcpt(cfg, "<crm+deal-1@crm.example.com>"));
    g_assert_true(ingest_is_capture_rcpt(cfg, "CRM@crm.example.com"));
    g_assert_false(ingest_is_capture_rcpt(cfg, "<alice@example.com>"));
}

/* --- against PostgreSQL -------------------------------------------------- */

static gint64 add(json_t *rec)
{
    g_assert_nonnull(rec);
    gint64 id = json_integer_value(json_object_get(rec, "id"));
    json_decref(rec);
    return id;
}

/* Replaces the "%s" in pattern with the run id, so every run uses fresh
   addresses and Message-IDs. */
static char *u(const char *pattern)
{
    g_auto(GStrv) parts = g_strsplit(pattern, "%s", 2);
    return g_strconcat(parts[0], run, parts[1], NULL);
}

static ingest_result capture(crm_message *m, ingest_envelope *env)
{
    ingest_plan *p = ingest_plan_new(cfg, env, m);
    g_assert_cmpint(p->verdict, ==, INGEST_LOG);
    ingest_result res;
    char *err = NULL;
    crm_result r = ingest_store(db, 5000, p, m, &res, &err);
    if (r)
        g_error("ingest_store: %s", err);
    ingest_plan_free(&p);
    return res;
}

/* One JSON value from the database, as the owner (NULL for no row). */
static json_t *query1(const char *sql, int n, const char *const *p)
{
    json_t *out = NULL;
    char *err = NULL;
    if (records_query_json(db, sql, n, p, &out, &err))
        g_error("query: %s", err);
    return out;
}

/* True when the message with Message-ID mid has a row in message_links to
   type:id with this reason (the capture result carries no ids). */
static bool has_link(const char *mid, const char *type, gint64 id,
                     const char *reason)
{
    g_autofree char *ids = g_strdup_printf("%" G_GINT64_FORMAT, id);
    const char *p[] = {mid, type, ids};
    json_t *got = query1("SELECT to_jsonb(l.reason) FROM message_links l "
                         "JOIN messages m ON m.id = l.message_id WHERE "
                         "m.message_id = $1 AND l.record_type = $2 AND "
                         "l.record_id = $3::bigint",
                         3, p);
    bool ok = got && strcmp(json_string_value(got), reason) == 0;
    if (!ok)
        g_test_message("<%s> %s:%s: reason %s (wanted %s)", mid, type, ids,
                       got ? json_string_value(got) : "none", reason);
    json_decref(got);
    return ok;
}

/* The number of capture-token links of the message with Message-ID mid. */
static gint64 token_links(const char *mid)
{
    const char *p[] = {mid};
    json_t *n = query1("SELECT to_jsonb(count(*)) FROM message_links l JOIN "
                       "messages m ON m.id = l.message_id WHERE m.message_id "
                       "= $1 AND l.reason = 'capture-token'",
                       1, p);
    gint64 v = json_integer_value(n);
    json_decref(n);
    return v;
}

static void test_db_rules(void)
{
    if (!db) {
        g_test_skip("CRMGATE_TEST_DSN not set");
        return;
    }
    char *err = NULL;
    json_t *rec = NULL;
    g_autofree char *staff = u("staff-%s@example.com");
    g_autofree char *dom = u("acme-%s.test");
    g_autofree char *cont = g_strdup_printf("john@%s", dom);
    g_autofree char *other = g_strdup_printf("mary@%s", dom);
    records_user user = {.email = staff, .name = "Staff"};
    g_assert_cmpint(records_user_add(db, &user, &rec, &err), ==, CRM_OK);
    json_decref(rec);
    const char *domains[] = {dom, NULL};
    records_company co = {.name = "Acme", .domains = domains};
    g_assert_cmpint(records_company_add(db, &co, &rec, &err), ==, CRM_OK);
    gint64 company = add(rec);
    records_contact ct = {
        .email = cont, .first_name = "John", .company_id = company};
    g_assert_cmpint(records_contact_add(db, &ct, &rec, &err), ==, CRM_OK);
    gint64 contact = add(rec);
    gint64 deals[5];
    for (int i = 0; i < 5; i++) {
        records_deal d = {.name = "deal", .contact_id = contact};
        g_assert_cmpint(records_deal_add(db, &d, &rec, &err), ==, CRM_OK);
        deals[i] = add(rec);
    }
    g_autofree char *ticket = u("T%s");
    if (strlen(ticket) > 20)
        ticket[20] = '\0';
    records_deal td = {.name = "ticketed", .ticket = ticket};
    g_assert_cmpint(records_deal_add(db, &td, &rec, &err), ==, CRM_OK);
    gint64 tdeal = add(rec);

    ingest_envelope env = {.source = "milter"};
    /* 4+5+6: participant, contact's company, open deals (newest 3). */
    g_autofree char *mid1 = u("r1-%s@test");
    crm_message *m = mail(cont, staff, NULL, mid1);
    ingest_result r1 = capture(m, &env);
    g_assert_true(r1.is_new);
    g_assert_true(has_link(mid1, "contact", contact, "participant"));
    g_assert_true(has_link(mid1, "company", company, "participant"));
    g_assert_true(has_link(mid1, "deal", deals[4], "open-deal"));
    g_assert_true(has_link(mid1, "deal", deals[2], "open-deal"));
    g_assert_false(has_link(mid1, "deal", deals[1], "open-deal"));
    /* The same message again: no new row, no new links. */
    ingest_result again = capture(m, &env);
    g_assert_false(again.is_new);
    g_assert_cmpint(again.new_links, ==, 0);
    {
        const char *p[] = {mid1};
        json_t *rows = query1("SELECT to_jsonb(count(*)) FROM messages "
                              "WHERE message_id = $1",
                              1, p);
        g_assert_cmpint(json_integer_value(rows), ==, 1);
        json_decref(rows);
    }
    ingest_result_clear(&again);
    message_free(&m);

    /* 5: company by domain for an unknown person there. */
    g_autofree char *mid2 = u("r2-%s@test");
    m = mail(other, staff, NULL, mid2);
    ingest_result r2 = capture(m, &env);
    g_assert_true(has_link(mid2, "company", company, "domain"));
    ingest_result_clear(&r2);
    message_free(&m);

    /* 3: a reply from nobody we know inherits the thread's links. */
    g_autofree char *mid3 = u("r3-%s@test");
    g_autofree char *irt = g_strdup_printf("In-Reply-To: <%s>\r\n", mid1);
    m = mail("stranger@nowhere.test", staff, irt, mid3);
    ingest_result r3 = capture(m, &env);
    g_assert_true(has_link(mid3, "contact", contact, "thread"));
    g_assert_true(has_link(mid3, "deal", deals[4], "thread"));
    ingest_result_clear(&r3);
    message_free(&m);

    /* 1: capture token from a user; ignored from a stranger. */
    g_autofree char *mid4 = u("r4-%s@test");
    g_autofree char *tok = g_strdup_printf(
        "crm+deal-%" G_GINT64_FORMAT "@crm.example.com", deals[0]);
    g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
    g_ptr_array_add(rcpts, "client@else.test");
    g_ptr_array_add(rcpts, tok);
    ingest_envelope out = {.source = "milter",
                           .envelope_from = staff,
                           .envelope_rcpts = rcpts,
                           .auth_authen = "staff"};
    m = mail(staff, "client@else.test", NULL, mid4);
    ingest_result r4 = capture(m, &out);
    g_assert_true(has_link(mid4, "deal", deals[0], "capture-token"));
    g_assert_null(r4.tokens_ignored);
    ingest_result_clear(&r4);
    message_free(&m);
    g_autofree char *mid5 = u("r5-%s@test");
    ingest_envelope forged = {.source = "milter",
                              .envelope_from = "evil@else.test",
                              .envelope_rcpts = rcpts};
    m = mail("evil@else.test", staff, NULL, mid5);
    ingest_result r5 = capture(m, &forged);
    g_assert_cmpstr(r5.tokens_ignored, ==, "not-outbound");
    g_assert_false(has_link(mid5, "deal", deals[0], "capture-token"));
    ingest_result_clear(&r5);
    message_free(&m);

    /* 2: [ticket:...] in the subject. */
    g_autofree char *mid6 = u("r6-%s@test");
    g_autofree char *text =
        g_strdup_printf("Message-ID: <%s>\r\nFrom: who@else.test\r\nTo: %s\r\n"
                        "Subject: Re: offer [ticket:%s]\r\n\r\nbody\r\n",
                        mid6, staff, ticket);
    m = parse(text);
    ingest_result r6 = capture(m, &env);
    g_assert_true(has_link(mid6, "deal", tdeal, "ticket"));
    ingest_result_clear(&r6);
    message_free(&m);

    /* Sales inbox: unknown sender becomes a lead with a request, once. */
    g_autofree char *lead_addr = u("prospect-%s@newco.test");
    g_autofree char *from = g_strdup_printf("Ann Lee <%s>", lead_addr);
    g_autofree char *mid7 = u("r7-%s@test");
    m = mail(from, "sales@example.com", NULL, mid7);
    ingest_result r7 = capture(m, &env);
    const char *lp[] = {lead_addr};
    json_t *ids = query1("SELECT jsonb_build_array(l.id, r.id) FROM leads l "
                         "JOIN requests r ON r.lead_id = l.id WHERE "
                         "l.email_norm = $1",
                         1, lp);
    gint64 lead_id = json_integer_value(json_array_get(ids, 0));
    gint64 request_id = json_integer_value(json_array_get(ids, 1));
    json_decref(ids);
    g_assert_cmpint(lead_id, >, 0);
    g_assert_cmpint(request_id, >, 0);
    g_assert_true(has_link(mid7, "lead", lead_id, "sales-inbox"));
    g_assert_true(has_link(mid7, "request", request_id, "sales-inbox"));
    g_assert_nonnull(strstr(r7.links, "lead/sales-inbox"));
    message_free(&m);
    g_autofree char *mid8 = u("r8-%s@test");
    m = mail(from, "sales@example.com", NULL, mid8);
    ingest_result r8 = capture(m, &env);
    g_assert_true(has_link(mid8, "lead", lead_id, "participant"));
    g_assert_null(strstr(r8.links, "sales-inbox"));
    ingest_result_clear(&r8);
    ingest_result_clear(&r7);
    message_free(&m);
    const char *p[] = {lead_addr};
    json_t *lead = NULL;
    g_assert_cmpint(records_query_json(db,
                                       "SELECT to_jsonb(l) FROM leads l WHERE "
                                       "email_norm = $1",
                                       1, p, &lead, &err),
                    ==, CRM_OK);
    g_assert_cmpstr(json_string_value(json_object_get(lead, "first_name")), ==,
                    "Ann");
    g_assert_cmpstr(json_string_value(json_object_get(lead, "last_name")), ==,
                    "Lee");
    json_decref(lead);
    ingest_result_clear(&r1);
}

/* Capture tokens: trusted only on outbound mail (evidence: SASL login,
   submission service, sendmail, --direction out) from an active user, and
   with token_require_login only when the login names that user. Each case
   asserts the rows in message_links, not only the result. */
static void token_case(const char *name, const ingest_envelope *env,
                       const char *from, const char *to, int want_links,
                       const char *want_ignored)
{
    g_autofree char *pat = g_strdup_printf("tok-%s-%%s@test", name);
    g_autofree char *mid = u(pat);
    crm_message *m = mail(from, to, NULL, mid);
    ingest_envelope e = *env;
    ingest_result r = capture(m, &e);
    g_test_message("token case %s: links=%s ignored=%s", name, r.links,
                   r.tokens_ignored ? r.tokens_ignored : "-");
    g_assert_true(r.is_new);
    g_assert_cmpint(token_links(mid), ==, want_links);
    g_assert_cmpstr(r.tokens_ignored, ==, want_ignored);
    if (want_links)
        g_assert_nonnull(strstr(r.links, "deal/capture-token"));
    else
        g_assert_null(strstr(r.links, "capture-token"));
    ingest_result_clear(&r);
    message_free(&m);
}

static void test_db_token_trust(void)
{
    if (!db) {
        g_test_skip("CRMGATE_TEST_DSN not set");
        return;
    }
    char *err = NULL;
    json_t *rec = NULL;
    g_autofree char *staff = u("tokstaff-%s@example.com");
    g_autofree char *gone = u("tokgone-%s@example.com");
    records_user user = {.email = staff, .name = "Token Staff"};
    g_assert_cmpint(records_user_add(db, &user, &rec, &err), ==, CRM_OK);
    json_decref(rec);
    records_user old = {.email = gone, .name = "Former Staff"};
    g_assert_cmpint(records_user_add(db, &old, &rec, &err), ==, CRM_OK);
    json_decref(rec);
    const char *gp[] = {gone};
    g_assert_cmpint(db_exec(db, 5000,
                            "UPDATE users SET active = false WHERE "
                            "email_norm = $1",
                            1, gp, &err),
                    ==, CRM_OK);
    records_deal d = {.name = "token deal"};
    g_assert_cmpint(records_deal_add(db, &d, &rec, &err), ==, CRM_OK);
    gint64 deal = add(rec);
    g_autofree char *tok = g_strdup_printf(
        "<crm+deal-%" G_GINT64_FORMAT "@crm.example.com>", deal);
    g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
    g_ptr_array_add(rcpts, tok);
    g_autoptr(GPtrArray) rcpts_ext = g_ptr_array_new();
    g_ptr_array_add(rcpts_ext, "<client@else.test>");
    g_ptr_array_add(rcpts_ext, tok);
    g_autofree char *local = g_strndup(staff, strcspn(staff, "@"));
    g_autofree char *upper = g_ascii_strup(staff, -1);

    /* From the internet (port 25): a staff MAIL FROM proves nothing. */
    ingest_envelope in = {
        .source = "milter", .envelope_from = staff, .envelope_rcpts = rcpts};
    token_case("forged-envelope", &in, staff, "client@else.test", 0,
               "not-outbound");
    /* A null sender with a staff From: header, likewise. */
    ingest_envelope null_sender = {
        .source = "milter", .envelope_from = "", .envelope_rcpts = rcpts};
    token_case("null-sender", &null_sender, staff, "client@else.test", 0,
               "not-outbound");
    /* Genuine outbound: the submission service, a SASL login, sendmail,
       the CLI's --direction out. */
    ingest_envelope sub = {.source = "milter",
                           .envelope_from = staff,
                           .envelope_rcpts = rcpts_ext,
                           .daemon_name = "ORIGINATING"};
    token_case("submission", &sub, staff, "client@else.test", 1, NULL);
    ingest_envelope other_daemon = sub;
    other_daemon.daemon_name = "MTA";
    token_case("other-daemon", &other_daemon, staff, "client@else.test", 0,
               "not-outbound");
    ingest_envelope auth = {.source = "milter",
                            .envelope_from = staff,
                            .envelope_rcpts = rcpts_ext,
                            .auth_authen = local};
    token_case("auth", &auth, staff, "client@else.test", 1, NULL);
    ingest_envelope sendmail = {.source = "milter",
                                .envelope_from = staff,
                                .envelope_rcpts = rcpts_ext,
                                .non_smtpd = true};
    token_case("sendmail", &sendmail, staff, "client@else.test", 1, NULL);
    ingest_envelope forced = {.source = "import",
                              .envelope_rcpts = rcpts_ext,
                              .direction = INGEST_DIR_OUT};
    token_case("forced-out", &forced, staff, "client@else.test", 1, NULL);
    /* Outbound, but the sender is no active user. */
    ingest_envelope stranger = sub;
    stranger.envelope_from = "nobody-here@example.com";
    token_case("unknown-sender", &stranger, "nobody-here@example.com",
               "client@else.test", 0, "unknown-sender");
    ingest_envelope former = sub;
    former.envelope_from = gone;
    token_case("inactive-user", &former, gone, "client@else.test", 0,
               "unknown-sender");

    /* token_require_login: the login must name the sender's user (its
       address or local part, any case). */
    cfg->token_require_login = true;
    ingest_envelope wrong = auth;
    wrong.auth_authen = "mallory";
    token_case("login-mismatch", &wrong, staff, "client@else.test", 0,
               "login-mismatch");
    token_case("login-missing", &sub, staff, "client@else.test", 0,
               "login-mismatch");
    token_case("login-local-part", &auth, staff, "client@else.test", 1, NULL);
    ingest_envelope full = auth;
    full.auth_authen = upper;
    token_case("login-address", &full, staff, "client@else.test", 1, NULL);
    cfg->token_require_login = false;

    /* The plan carries the evidence for the database to judge. */
    crm_message *m = mail(staff, "client@else.test", NULL, "ev@x");
    ingest_plan *p = ingest_plan_new(cfg, &in, m);
    g_assert_true(json_is_null(json_object_get(p->doc, "outbound_evidence")));
    ingest_plan_free(&p);
    p = ingest_plan_new(cfg, &auth, m);
    g_assert_cmpstr(
        json_string_value(json_object_get(p->doc, "outbound_evidence")), ==,
        "auth");
    g_assert_cmpstr(json_string_value(json_object_get(p->doc, "auth_login")),
                    ==, local);
    ingest_plan_free(&p);
    message_free(&m);
}

/* A reply stored before its parent joins the parent's thread when the
   parent arrives (with what had joined the reply's thread), and inherits
   the parent's links. */
static gint64 thread_of(const char *mid)
{
    const char *p[] = {mid};
    json_t *t = query1("SELECT to_jsonb(thread_id) FROM messages WHERE "
                       "message_id = $1",
                       1, p);
    g_assert_nonnull(t);
    gint64 v = json_integer_value(t);
    json_decref(t);
    return v;
}

static gint64 row_of(const char *mid)
{
    const char *p[] = {mid};
    json_t *t = query1("SELECT to_jsonb(id) FROM messages WHERE "
                       "message_id = $1",
                       1, p);
    g_assert_nonnull(t);
    gint64 v = json_integer_value(t);
    json_decref(t);
    return v;
}

static void test_db_rethread(void)
{
    if (!db) {
        g_test_skip("CRMGATE_TEST_DSN not set");
        return;
    }
    char *err = NULL;
    json_t *rec = NULL;
    g_autofree char *cont = u("threader-%s@thread.test");
    records_contact ct = {.email = cont, .first_name = "Thread"};
    g_assert_cmpint(records_contact_add(db, &ct, &rec, &err), ==, CRM_OK);
    gint64 contact = add(rec);
    g_autofree char *parent = u("parent-%s@test");
    g_autofree char *reply = u("reply-%s@test");
    g_autofree char *second = u("reply2-%s@test");
    ingest_envelope env = {.source = "milter"};

    /* The reply first: its parent is missing, it heads its own thread. */
    g_autofree char *h1 = g_strdup_printf(
        "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", parent, parent);
    crm_message *m =
        mail("stranger@nowhere.test", "alice@example.com", h1, reply);
    ingest_result r = capture(m, &env);
    ingest_result_clear(&r);
    message_free(&m);
    g_assert_cmpint(thread_of(reply), ==, row_of(reply));
    /* A reply to the reply joins the reply's thread. */
    g_autofree char *h2 = g_strdup_printf(
        "In-Reply-To: <%s>\r\nReferences: <%s> <%s>\r\n", reply, parent, reply);
    m = mail("other@nowhere.test", "alice@example.com", h2, second);
    r = capture(m, &env);
    ingest_result_clear(&r);
    message_free(&m);
    g_assert_cmpint(thread_of(second), ==, row_of(reply));
    g_assert_false(has_link(reply, "contact", contact, "thread"));

    /* Then the parent, from the contact: both move into its thread. */
    m = mail(cont, "alice@example.com", NULL, parent);
    r = capture(m, &env);
    g_assert_true(r.is_new);
    g_assert_cmpint(r.rethreaded, ==, 2);
    ingest_result_clear(&r);
    message_free(&m);
    gint64 t = row_of(parent);
    g_assert_cmpint(thread_of(parent), ==, t);
    g_assert_cmpint(thread_of(reply), ==, t);
    g_assert_cmpint(thread_of(second), ==, t);
    g_assert_true(has_link(parent, "contact", contact, "participant"));
    g_assert_true(has_link(reply, "contact", contact, "thread"));
    g_assert_true(has_link(second, "contact", contact, "thread"));

    /* An unrelated new message moves nothing. */
    g_autofree char *lone = u("lone-%s@test");
    m = mail(cont, "alice@example.com", NULL, lone);
    r = capture(m, &env);
    g_assert_cmpint(r.rethreaded, ==, 0);
    ingest_result_clear(&r);
    message_free(&m);
    g_assert_cmpint(thread_of(lone), ==, row_of(lone));
}

/* Concurrent captures of one message: one row, one event each. Once
   through ingest_store() (the CLI's and replay's path), once through
   ingest_store_batch() (the milter writers' path), where each writer's
   batch also carries a message of its own, as a real batch does. */
typedef struct {
    const char *dsn;
    const char *text;     /* the message every thread captures */
    const char *own_text; /* batch mode: this thread's other message */
    bool batch;
    GCond *go;
    GMutex *lock;
    gboolean *started;
    gboolean fresh;     /* the shared message was new to this capture */
    gboolean own_fresh; /* the batch's own message was new */
    gboolean ok;
} race_arg;

static gpointer race_one(gpointer data)
{
    race_arg *a = data;
    db_conn *c = db_conn_new(a->dsn);
    char *err = NULL;
    g_assert_cmpint(db_connect(c, 5000, &err), ==, CRM_OK);
    ingest_envelope env = {.source = "milter"};
    crm_message *msgs[2] = {parse(a->text),
                            a->own_text != NULL ? parse(a->own_text) : NULL};
    ingest_plan *plans[2] = {
        ingest_plan_new(cfg, &env, msgs[0]),
        msgs[1] != NULL ? ingest_plan_new(cfg, &env, msgs[1]) : NULL};
    guint n = msgs[1] != NULL ? 2 : 1;
    g_mutex_lock(a->lock);
    while (!*a->started)
        g_cond_wait(a->go, a->lock);
    g_mutex_unlock(a->lock);
    ingest_result res[2] = {{0}};
    if (a->batch) {
        char *errors[2] = {NULL, NULL};
        a->ok = ingest_store_batch(c, 10000, plans,
                                   (const crm_message *const *)msgs, n, false,
                                   res, errors, &err) == CRM_OK;
        for (guint i = 0; i < n; i++) {
            if (errors[i] != NULL) {
                g_printerr("batch item %u: %s\n", i, errors[i]);
                a->ok = FALSE;
            }
            g_free(errors[i]);
        }
    } else {
        a->ok =
            ingest_store(c, 10000, plans[0], msgs[0], &res[0], &err) == CRM_OK;
    }
    if (!a->ok && err != NULL)
        g_printerr("race: %s\n", err);
    a->fresh = res[0].is_new;
    a->own_fresh = res[1].is_new;
    for (guint i = 0; i < n; i++) {
        ingest_result_clear(&res[i]);
        ingest_plan_free(&plans[i]);
        message_free(&msgs[i]);
    }
    g_free(err);
    db_conn_free(&c);
    return NULL;
}

/* messages rows and capture events of Message-ID mid, as [rows, events]. */
static json_t *row_and_event_counts(const char *mid)
{
    const char *p[] = {mid};
    json_t *counts = NULL;
    char *err = NULL;
    g_assert_cmpint(
        records_query_json(db,
                           "SELECT jsonb_build_array((SELECT count(*) FROM "
                           "messages WHERE message_id = $1), (SELECT count(*) "
                           "FROM capture_events e JOIN messages m ON m.id = "
                           "e.message_id WHERE m.message_id = $1))",
                           1, p, &counts, &err),
        ==, CRM_OK);
    return counts;
}

static void concurrent_dedup(bool batch)
{
    enum { N = 8 };
    g_autofree char *mid = u(batch ? "race-batch-%s@test" : "race-%s@test");
    g_autofree char *text = g_strdup_printf(
        "Message-ID: <%s>\r\nFrom: someone@client.test\r\n"
        "To: alice@example.com\r\nSubject: race\r\n\r\nsame bytes\r\n",
        mid);
    char *own_mids[N], *own_texts[N];
    GCond go;
    GMutex lock;
    gboolean started = FALSE;
    g_cond_init(&go);
    g_mutex_init(&lock);
    race_arg args[N];
    GThread *threads[N];
    for (int i = 0; i < N; i++) {
        own_mids[i] = g_strdup_printf("race-own%d-%s@test", i, run);
        own_texts[i] = g_strdup_printf(
            "Message-ID: <%s>\r\nFrom: other%d@client.test\r\n"
            "To: alice@example.com\r\nSubject: own %d\r\n\r\nmine\r\n",
            own_mids[i], i, i);
        args[i] = (race_arg){.dsn = g_getenv("CRMGATE_TEST_DSN"),
                             .text = text,
                             .own_text = batch ? own_texts[i] : NULL,
                             .batch = batch,
                             .go = &go,
                             .lock = &lock,
                             .started = &started};
        threads[i] = g_thread_new("race", race_one, &args[i]);
    }
    g_usleep(200000); /* all connected and waiting */
    g_mutex_lock(&lock);
    started = TRUE;
    g_cond_broadcast(&go);
    g_mutex_unlock(&lock);
    for (int i = 0; i < N; i++)
        g_thread_join(threads[i]);
    int fresh = 0;
    for (int i = 0; i < N; i++) {
        g_assert_true(args[i].ok);
        fresh += args[i].fresh ? 1 : 0;
    }
    g_assert_cmpint(fresh, ==, 1); /* one capture stored it, N-1 met it */
    json_t *counts = row_and_event_counts(mid);
    g_assert_cmpint(json_integer_value(json_array_get(counts, 0)), ==, 1);
    g_assert_cmpint(json_integer_value(json_array_get(counts, 1)), ==, N);
    json_decref(counts);
    for (int i = 0; i < N; i++) {
        if (batch) {
            /* each writer's own message: stored once, one event, its own
               row */
            counts = row_and_event_counts(own_mids[i]);
            g_assert_cmpint(json_integer_value(json_array_get(counts, 0)), ==,
                            1);
            g_assert_cmpint(json_integer_value(json_array_get(counts, 1)), ==,
                            1);
            json_decref(counts);
            g_assert_true(args[i].own_fresh);
        }
        g_free(own_mids[i]);
        g_free(own_texts[i]);
    }
    g_cond_clear(&go);
    g_mutex_clear(&lock);
}

static void test_db_concurrent_dedup(void)
{
    if (!db) {
        g_test_skip("CRMGATE_TEST_DSN not set");
        return;
    }
    concurrent_dedup(false);
}

static void test_db_concurrent_dedup_batch(void)
{
    if (!db) {
        g_test_skip("CRMGATE_TEST_DSN not set");
        return;
    }
    concurrent_dedup(true);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    message_library_init();
    cfg = config_new_defaults();
    g_hash_table_add(cfg->internal_domains, g_strdup("example.com"));
    g_free(cfg->capture_domain);
    cfg->capture_domain = g_strdup("crm.example.com");
    g_hash_table_add(cfg->never_log_addresses, g_strdup("hr@example.com"));
    g_hash_table_add(cfg->never_log_domains, g_strdup("private.test"));
    g_hash_table_add(cfg->freemail_domains, g_strdup("gmail.com"));
    config_sales_inbox *si = g_new0(config_sales_inbox, 1);
    si->address = g_strdup("sales@example.com");
    si->lead_source = g_strdup("email");
    g_hash_table_replace(cfg->sales_inboxes, si->address, si);
    g_snprintf(run, sizeof(run), "%" G_GINT64_FORMAT "%u",
               g_get_real_time() % 100000000, g_random_int_range(0, 1000));
    const char *dsn = g_getenv("CRMGATE_TEST_DSN");
    if (dsn && *dsn) {
        db = db_conn_new(dsn);
        char *err = NULL;
        if (db_connect(db, 5000, &err))
            g_error("CRMGATE_TEST_DSN: %s", err);
    }
    g_test_add_func("/ingest/direction", test_direction);
    g_test_add_func("/ingest/policy", test_policy);
    g_test_add_func("/ingest/db-rules", test_db_rules);
    g_test_add_func("/ingest/db-token-trust", test_db_token_trust);
    g_test_add_func("/ingest/db-rethread", test_db_rethread);
    g_test_add_func("/ingest/db-concurrent-dedup", test_db_concurrent_dedup);
    g_test_add_func("/ingest/db-concurrent-dedup-batch",
                    test_db_concurrent_dedup_batch);
    int rc = g_test_run();
    db_conn_free(&db);
    config_free(&cfg);
    return rc;
}
