/*
 * test_smtp_send.c - core/smtp_send.c against Postfix's smtp-sink on
 * loopback (started here on a free port, with the reject options that
 * make it answer 4xx, 5xx or 421), a port nobody listens on and a listener
 * that never answers: the bytes the sink received, the connection count,
 * the classification of every outcome. The scripted relay's cases (queue
 * ids, huge and invalid replies, AUTH, dropped connections) are in
 * test_smtp_relay.c; shared helpers in smtp_test.h.
 */
#include "smtp_test.h"

static void test_classify(void)
{
    g_assert_cmpint(smtp_classify(250), ==, SMTP_SENT);
    g_assert_cmpint(smtp_classify(251), ==, SMTP_SENT);
    g_assert_cmpint(smtp_classify(421), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(450), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(451), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(454), ==, SMTP_THROTTLE);
    g_assert_cmpint(smtp_classify(452), ==, SMTP_TEMP);
    g_assert_cmpint(smtp_classify(499), ==, SMTP_TEMP);
    g_assert_cmpint(smtp_classify(550), ==, SMTP_PERM);
    g_assert_cmpint(smtp_classify(554), ==, SMTP_PERM);
    g_assert_cmpint(smtp_classify(0), ==, SMTP_CONN);
    g_assert_cmpint(smtp_classify(354), ==, SMTP_CONN);
    g_assert_cmpint(smtp_classify(-1), ==, SMTP_CONN);
    g_assert_cmpint(smtp_classify(600), ==, SMTP_CONN);
    g_assert_cmpstr(smtp_outcome_name(SMTP_SENT), ==, "sent");
    g_assert_cmpstr(smtp_outcome_name(SMTP_TEMP), ==, "temp");
    g_assert_cmpstr(smtp_outcome_name(SMTP_THROTTLE), ==, "throttle");
    g_assert_cmpstr(smtp_outcome_name(SMTP_PERM), ==, "perm");
    g_assert_cmpstr(smtp_outcome_name(SMTP_CONN), ==, "conn");
}

static void check_qid(const char *reply, const char *want)
{
    g_autofree char *q = smtp_parse_queue_id(reply);
    g_assert_cmpstr(q, ==, want);
}

static void test_queue_id(void)
{
    check_qid("250 2.0.0 Ok: queued as 4Fz1Xk2Jq9z3Y", "4Fz1Xk2Jq9z3Y");
    check_qid("250 OK id=1qZx9A-0003Ab-Cd", "1qZx9A-0003Ab-Cd");
    check_qid("250 2.0.0 OK (id=abc.def_1)", "abc.def_1");
    check_qid("250 2.0.0 Ok", NULL);
    check_qid("250 2.0.0 Ok: queued as ", NULL);
    check_qid("250 2.0.0 Ok: queued as <>", NULL);
    check_qid("250 valid=yes", NULL); /* "id=" inside a word */
    check_qid(NULL, NULL);
    /* longer than the bound: not an id at all */
    g_autofree char *longid = g_strnfill(SMTP_QUEUE_ID_MAX + 1, 'A');
    g_autofree char *r = g_strdup_printf("250 Ok: queued as %s", longid);
    check_qid(r, NULL);
    g_autofree char *okid = g_strnfill(SMTP_QUEUE_ID_MAX, 'B');
    g_autofree char *r2 = g_strdup_printf("250 Ok: queued as %s done", okid);
    check_qid(r2, okid);
}

static void test_bad_options(void)
{
    smtp_route_opts o = opts_for(NULL, 2, 5);
    g_assert_null(smtp_route_new(&o));
    g_assert_null(smtp_route_new(NULL));
    o.url = "http://127.0.0.1:25";
    g_assert_null(smtp_route_new(&o));
    o.url = "smtp://127.0.0.1:25 \r\nRSET";
    g_assert_null(smtp_route_new(&o));
    o.url = "smtp://127.0.0.1:25";
    o.helo_name = "x\r\nMAIL FROM:<a@b>";
    g_assert_null(smtp_route_new(&o));
    o.helo_name = NULL;
    o.connections = 100000; /* clamped, not refused */
    smtp_route *r = smtp_route_new(&o);
    g_assert_nonnull(r);
    smtp_route_free(&r);
    smtp_route_free(&r); /* NULL: nothing */
    smtp_result res = {0};
    const char *rc[] = {"a@b.test", NULL};
    g_autoptr(GBytes) m = small_message();
    o.url = "ftp://x";
    g_assert_cmpint(smtp_send_one(&o, "s@b.test", rc, m, &res, NULL), ==,
                    CRM_ERR_USAGE);
    o.url = "smtp://127.0.0.1:25";
    const char *none[] = {NULL};
    g_assert_cmpint(smtp_send_one(&o, "s@b.test", none, m, &res, NULL), ==,
                    CRM_ERR_USAGE);
    const char *inj[] = {"a@b.test>\r\nRSET", NULL};
    char *err = NULL;
    g_assert_cmpint(smtp_send_one(&o, "s@b.test", inj, m, &res, &err), ==,
                    CRM_ERR_USAGE);
    g_assert_nonnull(err);
    g_free(err);
}

/* --- against smtp-sink -------------------------------------------------- */

static void test_many_messages(void)
{
    enum { N = 200, CONNS = 4 };
    sink s;
    sink_start(&s, true, NULL);
    smtp_route_opts o = opts_for(s.url, CONNS, 20);
    smtp_route *r = smtp_route_new(&o);
    g_assert_nonnull(r);
    GBytes *msgs[N];
    char *dumped[N];
    for (guint i = 0; i < N; i++) {
        char *m = test_message(i);
        dumped[i] = as_dumped(m);
        msgs[i] = g_bytes_new_take(m, strlen(m));
    }
    guint next = 0, done = 0, sent = 0, busy = 0;
    gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (done < N && g_get_monotonic_time() < end) {
        while (next < N) {
            g_autofree char *rcpt =
                g_strdup_printf("rcpt%u@example.test", next);
            if (!smtp_route_submit(r, "bounce+x@crm.test", rcpt, msgs[next],
                                   GUINT_TO_POINTER(next + 1))) {
                busy++;
                break;
            }
            next++;
        }
        g_assert_cmpuint(smtp_route_in_flight(r), <=, CONNS);
        smtp_route_run(r, 500);
        gpointer ud;
        smtp_result res;
        while (smtp_route_next_done(r, &ud, &res)) {
            guint idx = GPOINTER_TO_UINT(ud);
            g_assert_cmpuint(idx, >=, 1);
            g_assert_cmpuint(idx, <=, N);
            if (res.outcome == SMTP_SENT) {
                g_assert_cmpint(res.code, ==, 250);
                g_assert_nonnull(strstr(res.reply, "250"));
                sent++;
            } else {
                g_test_message("transfer %u: %s %d %s", idx,
                               smtp_outcome_name(res.outcome), res.code,
                               res.reply);
            }
            smtp_result_clear(&res);
            done++;
        }
    }
    g_assert_cmpuint(done, ==, N);
    g_assert_cmpuint(sent, ==, N);
    g_assert_cmpuint(busy, >, 0); /* the free list did fill up */
    guint64 connects = smtp_route_connects(r);
    g_test_message("%u messages over %u connections: %" G_GUINT64_FORMAT
                   " connects",
                   N, CONNS, connects);
    g_assert_cmpuint(connects, >=, 1);
    g_assert_cmpuint(connects, <=, CONNS + 2);
    smtp_route_free(&r);

    GPtrArray *files = sink_dumps(&s, N);
    g_assert_cmpuint(files->len, ==, N);
    /* every dump holds exactly one of our messages, unstuffed */
    gboolean seen[N] = {0};
    for (guint i = 0; i < files->len; i++) {
        g_autofree char *body = NULL;
        g_assert_true(g_file_get_contents(files->pdata[i], &body, NULL, NULL));
        const char *x = strstr(body, "\nX-Seq: ");
        g_assert_nonnull(x);
        guint seq = (guint)g_ascii_strtoull(x + 8, NULL, 10);
        g_assert_cmpuint(seq, <, N);
        g_assert_false(seen[seq]);
        seen[seq] = TRUE;
        g_assert_true(g_str_has_suffix(body, dumped[seq]));
        g_autofree char *rcpt =
            g_strdup_printf("X-Rcpt-Args: <rcpt%u@example.test>", seq);
        g_assert_nonnull(strstr(body, rcpt));
        g_assert_nonnull(strstr(body, "X-Mail-Args: <bounce+x@crm.test>"));
        g_assert_nonnull(strstr(body, "X-Helo-Args: crmgate.test"));
    }
    g_ptr_array_free(files, TRUE);
    for (guint i = 0; i < N; i++) {
        g_bytes_unref(msgs[i]);
        g_free(dumped[i]);
    }
    sink_stop(&s);
}

static void test_rcpt_soft_reject(void)
{
    sink s;
    const char *args[] = {"-r", "rcpt", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_cmpint(res.code, ==, 450);
    g_assert_cmpstr(res.reply, ==, "450 4.3.0 Error: command failed");
    g_assert_null(res.queue_id);
    smtp_result_clear(&res);
    /* the blocking form: CRM_ERR_BUSY with the reply in the error */
    smtp_route_opts o = opts_for(s.url, 1, 10);
    const char *rc[] = {"a@example.test", "b@example.test", NULL};
    char *err = NULL;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, &err), ==,
                    CRM_ERR_BUSY);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_nonnull(strstr(err, "throttle"));
    g_assert_nonnull(strstr(err, "450 4.3.0"));
    g_free(err);
    smtp_result_clear(&res);
    g_assert_null(res.reply);
    sink_stop(&s);
}

static void test_rcpt_hard_reject(void)
{
    sink s;
    const char *args[] = {"-f", "rcpt", "-B",
                          "550 5.1.1 <x@example.test>: user unknown", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_PERM);
    g_assert_cmpint(res.code, ==, 550);
    g_assert_cmpstr(res.reply, ==, "550 5.1.1 <x@example.test>: user unknown");
    smtp_result_clear(&res);
    sink_stop(&s);
}

static void test_data_421(void)
{
    sink s;
    const char *args[] = {"-Q", "data", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_cmpint(res.code, ==, 421);
    g_assert_true(g_str_has_prefix(res.reply, "421 "));
    smtp_result_clear(&res);
    sink_stop(&s);
}

static void test_disconnect_without_reply(void)
{
    sink s;
    const char *args[] = {"-q", "rcpt", NULL};
    sink_start(&s, false, args);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(s.url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    g_assert_true(g_str_has_prefix(res.reply, "curl: "));
    smtp_result_clear(&res);
    sink_stop(&s);
}

static void test_big_message(void)
{
    enum { BIG = 10 * 1024 * 1024 };
    sink s;
    sink_start(&s, true, NULL);
    GString *g = g_string_sized_new(BIG + 1024);
    g_string_append(g, "From: a@crm.test\r\nTo: b@example.test\r\n"
                       "Subject: big\r\n\r\n");
    guint line = 0;
    while (g->len < BIG) {
        /* every 100th line starts with a dot */
        g_string_append_printf(g,
                               "%sline %08u "
                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                               "QRSTUVWXYZ0123456789\r\n",
                               line % 100 == 0 ? "." : "", line);
        line++;
    }
    g_autofree char *want = as_dumped(g->str);
    gsize len = g->len;
    g_autoptr(GBytes) m = g_bytes_new_take(g_string_free(g, FALSE), len);
    smtp_route_opts o = opts_for(s.url, 1, 60);
    const char *rc[] = {"b@example.test", NULL};
    smtp_result res;
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(smtp_send_one(&o, "a@crm.test", rc, m, &res, NULL), ==,
                    CRM_OK);
    g_test_message("10 MB sent in %.2f s",
                   (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    g_assert_cmpint(res.outcome, ==, SMTP_SENT);
    g_assert_cmpint(res.code, ==, 250);
    smtp_result_clear(&res);
    GPtrArray *files = sink_dumps(&s, 1);
    g_assert_cmpuint(files->len, ==, 1);
    g_autofree char *body = NULL;
    gsize blen = 0;
    g_assert_true(g_file_get_contents(files->pdata[0], &body, &blen, NULL));
    g_assert_cmpuint(blen, >, strlen(want));
    g_assert_true(g_str_has_suffix(body, want));
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

/* --- no server, a mute server ------------------------------------------ */

static void test_nothing_listening(void)
{
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%u", free_port());
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    gint64 t0 = g_get_monotonic_time();
    send_route(url, "x@example.test", m, 5, &res);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    assert_reply_bounded(&res);
    g_assert_true(g_str_has_prefix(res.reply, "curl: "));
    smtp_result_clear(&res);
}

static void test_mute_server(void)
{
    unsigned port;
    int fd = listen_any(&port, 16); /* the kernel accepts; nobody answers */
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%u", port);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    gint64 t0 = g_get_monotonic_time();
    send_route(url, "x@example.test", m, 2, &res);
    gint64 took = g_get_monotonic_time() - t0;
    g_test_message("mute server: %s after %.2f s", res.reply,
                   (double)took / G_USEC_PER_SEC);
    g_assert_cmpint(took, >=, 1 * G_USEC_PER_SEC);
    g_assert_cmpint(took, <, 4 * G_USEC_PER_SEC);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    smtp_result_clear(&res);
    close(fd);
}

typedef struct {
    const char *url;
    guint id;
    guint sent;
    guint64 connects;
} thread_job;

static gpointer route_thread(gpointer p)
{
    thread_job *j = p;
    smtp_route_opts o = opts_for(j->url, 2, 20);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    guint next = 0, done = 0;
    gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (done < 50 && g_get_monotonic_time() < end) {
        while (next < 50) {
            g_autofree char *rcpt =
                g_strdup_printf("t%u-%u@example.test", j->id, next);
            if (!smtp_route_submit(r, "s@crm.test", rcpt, m, NULL))
                break;
            next++;
        }
        smtp_route_run(r, 200);
        smtp_result res;
        while (smtp_route_next_done(r, NULL, &res)) {
            if (res.outcome == SMTP_SENT)
                j->sent++;
            smtp_result_clear(&res);
            done++;
        }
    }
    j->connects = smtp_route_connects(r);
    smtp_route_free(&r);
    return NULL;
}

static void test_busy_and_invalid_address(void)
{
    unsigned port;
    int fd = listen_any(&port, 16); /* transfers stay in flight */
    g_autofree char *url = g_strdup_printf("smtp://127.0.0.1:%u", port);
    smtp_route_opts o = opts_for(url, 2, 2);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    g_assert_true(smtp_route_submit(r, "", "a@example.test", m, NULL));
    g_assert_true(
        smtp_route_submit(r, "s@crm.test", "b@example.test", m, NULL));
    g_assert_cmpuint(smtp_route_in_flight(r), ==, 2);
    g_assert_false(
        smtp_route_submit(r, "s@crm.test", "c@example.test", m, NULL));
    /* an address that would inject a command completes at once, even when
       every connection is busy */
    g_assert_true(smtp_route_submit(r, "s@crm.test",
                                    "d@example.test>\r\nRSET\r\nRCPT TO:<e", m,
                                    GINT_TO_POINTER(4)));
    g_autofree char *longaddr = g_strnfill(SMTP_ADDR_MAX + 1, 'a');
    g_assert_true(
        smtp_route_submit(r, "s@crm.test", longaddr, m, GINT_TO_POINTER(5)));
    g_assert_true(
        smtp_route_submit(r, "s@crm.test", "", m, GINT_TO_POINTER(6)));
    g_assert_cmpuint(smtp_route_in_flight(r), ==, 2);
    g_assert_cmpuint(smtp_route_run(r, 0), ==, 3);
    for (int want = 4; want <= 6; want++) {
        gpointer ud;
        smtp_result res;
        g_assert_true(smtp_route_next_done(r, &ud, &res));
        g_assert_cmpint(GPOINTER_TO_INT(ud), ==, want);
        g_assert_cmpint(res.outcome, ==, SMTP_PERM);
        g_assert_cmpint(res.code, ==, 0);
        smtp_result_clear(&res);
    }
    /* freeing with transfers in flight aborts them */
    smtp_route_free(&r);
    close(fd);
}

static void test_starttls_required_not_offered(void)
{
    sink s;
    sink_start(&s, true, NULL);
    smtp_route_opts o = opts_for(s.url, 1, 10);
    o.starttls_required = true; /* smtp-sink offers no STARTTLS */
    const char *rc[] = {"a@example.test", NULL};
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, NULL), ==,
                    CRM_ERR_IO);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    smtp_result_clear(&res);
    /* nothing went out in clear text */
    g_usleep(200000);
    GPtrArray *files = sink_dumps(&s, 0);
    g_assert_cmpuint(files->len, ==, 0);
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

static void test_idle_connection_closed_by_relay(void)
{
    /* the sink drops a session idle for 1 s; the route's cached connection
       is dead when the next message comes and a new one is opened */
    sink s;
    const char *args[] = {"-t", "1", NULL};
    sink_start(&s, true, args);
    smtp_route_opts o = opts_for(s.url, 1, 10);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    for (int i = 0; i < 3; i++) {
        g_assert_true(
            smtp_route_submit(r, "s@crm.test", "a@example.test", m, NULL));
        drain(r, 10);
        smtp_result res;
        g_assert_true(smtp_route_next_done(r, NULL, &res));
        g_test_message("message %d: %s %d %s", i,
                       smtp_outcome_name(res.outcome), res.code, res.reply);
        g_assert_cmpint(res.outcome, ==, SMTP_SENT);
        smtp_result_clear(&res);
        if (i < 2)
            g_usleep(i == 0 ? 2000000 : 100000);
    }
    /* two connections: the first died idle, the second carried two (three
       when the sink's timer raced the last message: see the next test) */
    g_assert_cmpuint(smtp_route_connects(r), >=, 2);
    g_assert_cmpuint(smtp_route_connects(r), <=, 3);
    smtp_route_free(&r);
    GPtrArray *files = sink_dumps(&s, 3);
    g_assert_cmpuint(files->len, ==, 3);
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

static void test_routes_in_threads(void)
{
    enum { T = 4 };
    sink s;
    sink_start(&s, true, NULL);
    thread_job jobs[T];
    GThread *th[T];
    for (guint i = 0; i < T; i++) {
        jobs[i] = (thread_job){.url = s.url, .id = i};
        th[i] = g_thread_new("route", route_thread, &jobs[i]);
    }
    for (guint i = 0; i < T; i++) {
        g_thread_join(th[i]);
        g_assert_cmpuint(jobs[i].sent, ==, 50);
        g_assert_cmpuint(jobs[i].connects, ==, 2);
    }
    GPtrArray *files = sink_dumps(&s, T * 50);
    g_assert_cmpuint(files->len, ==, T * 50);
    g_ptr_array_free(files, TRUE);
    sink_stop(&s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGABRT, kill_sinks_on_abort);
    g_test_add_func("/smtp/classify", test_classify);
    g_test_add_func("/smtp/queue_id", test_queue_id);
    g_test_add_func("/smtp/bad_options", test_bad_options);
    g_test_add_func("/smtp/busy_and_invalid_address",
                    test_busy_and_invalid_address);
    g_test_add_func("/smtp/sink/200_messages_4_connections",
                    test_many_messages);
    g_test_add_func("/smtp/sink/rcpt_soft_reject", test_rcpt_soft_reject);
    g_test_add_func("/smtp/sink/rcpt_hard_reject", test_rcpt_hard_reject);
    g_test_add_func("/smtp/sink/data_421", test_data_421);
    g_test_add_func("/smtp/sink/disconnect_without_reply",
                    test_disconnect_without_reply);
    g_test_add_func("/smtp/sink/10mb_message", test_big_message);
    g_test_add_func("/smtp/sink/starttls_required_not_offered",
                    test_starttls_required_not_offered);
    g_test_add_func("/smtp/sink/idle_connection_closed_by_relay",
                    test_idle_connection_closed_by_relay);
    g_test_add_func("/smtp/sink/routes_in_threads", test_routes_in_threads);
    g_test_add_func("/smtp/nothing_listening", test_nothing_listening);
    g_test_add_func("/smtp/mute_server_timeout", test_mute_server);
    return g_test_run();
}
