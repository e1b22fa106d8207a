/*
 * test_smtp_relay.c - core/smtp_send.c against a scripted SMTP relay in a
 * thread: queue ids from the final reply, huge, multi-line and invalid
 * UTF-8 replies bounded, an AUTH failure and a 421 greeting treated as the
 * route's problem, a connection dropped before any reply retried once, a
 * reply cut off before its line end.
 */
#include "smtp_test.h"

/* --- a scripted server ---------------------------------------------------- */

typedef struct {
    int lfd;
    unsigned port;
    const char *greeting; /* full reply with CRLF */
    const char *auth_reply;
    const char *rcpt_reply;
    const char *end_reply;
    int drop_at_mail; /* close, without a reply, at this MAIL of a session */
    bool close_after_rcpt; /* close the session after the RCPT reply */
    GThread *thread;
    volatile gint stop;
    guint rcpts_seen;
} fake;

static void fake_send(int fd, const char *s)
{
    gsize n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (gsize)w;
    }
}

/* Reads one line into buf (without CRLF); false at EOF. */
static bool fake_line(int fd, GString *in, GString *line)
{
    for (;;) {
        char *nl = memchr(in->str, '\n', in->len);
        if (nl != NULL) {
            gsize n = (gsize)(nl - in->str);
            g_string_truncate(line, 0);
            g_string_append_len(line, in->str,
                                n > 0 && in->str[n - 1] == '\r' ? n - 1 : n);
            g_string_erase(in, 0, (gssize)n + 1);
            return true;
        }
        char b[4096];
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r <= 0)
            return false;
        g_string_append_len(in, b, r);
    }
}

static void fake_session(fake *f, int fd)
{
    g_autoptr(GString) in = g_string_new(NULL);
    g_autoptr(GString) line = g_string_new(NULL);
    int mails = 0;
    fake_send(fd, f->greeting ? f->greeting : "220 fake ESMTP\r\n");
    while (fake_line(fd, in, line)) {
        char w[5] = {0};
        for (int i = 0; i < 4 && i < (int)line->len; i++)
            w[i] = g_ascii_toupper(line->str[i]);
        if (strcmp(w, "EHLO") == 0) {
            fake_send(fd, "250-fake\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n");
        } else if (strcmp(w, "AUTH") == 0) {
            fake_send(fd, f->auth_reply ? f->auth_reply : "235 ok\r\n");
        } else if (strcmp(w, "MAIL") == 0 && ++mails == f->drop_at_mail) {
            break;
        } else if (strcmp(w, "MAIL") == 0 || strcmp(w, "RSET") == 0) {
            fake_send(fd, "250 2.1.0 Ok\r\n");
        } else if (strcmp(w, "RCPT") == 0) {
            g_atomic_int_inc(&f->rcpts_seen);
            fake_send(fd, f->rcpt_reply ? f->rcpt_reply : "250 2.1.5 Ok\r\n");
            if (f->close_after_rcpt)
                break;
        } else if (strcmp(w, "DATA") == 0) {
            fake_send(fd, "354 go ahead\r\n");
            while (fake_line(fd, in, line) && strcmp(line->str, ".") != 0)
                ;
            fake_send(fd, f->end_reply ? f->end_reply : "250 2.0.0 Ok\r\n");
        } else if (strcmp(w, "QUIT") == 0) {
            fake_send(fd, "221 bye\r\n");
            break;
        } else {
            fake_send(fd, "502 what\r\n");
        }
    }
    close(fd);
}

static gpointer fake_main(gpointer p)
{
    fake *f = p;
    while (!g_atomic_int_get(&f->stop)) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        fake_session(f, fd);
    }
    return NULL;
}

static char *fake_start(fake *f)
{
    f->lfd = listen_any(&f->port, 16);
    f->thread = g_thread_new("fake-smtp", fake_main, f);
    return g_strdup_printf("smtp://127.0.0.1:%u", f->port);
}

static void fake_stop(fake *f)
{
    g_atomic_int_set(&f->stop, 1);
    shutdown(f->lfd, SHUT_RDWR);
    g_thread_join(f->thread);
    close(f->lfd);
}

static void test_queue_id_from_relay(void)
{
    fake f = {.end_reply = "250 2.0.0 Ok: queued as 4XyZ12AbC\r\n"};
    g_autofree char *url = fake_start(&f);
    smtp_route_opts o = opts_for(url, 1, 10);
    const char *rc[] = {"a@example.test", "b@example.test", "c@example.test",
                        NULL};
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, NULL), ==,
                    CRM_OK);
    g_assert_cmpint(res.outcome, ==, SMTP_SENT);
    g_assert_cmpint(res.code, ==, 250);
    g_assert_cmpstr(res.queue_id, ==, "4XyZ12AbC");
    g_assert_cmpstr(res.reply, ==, "250 2.0.0 Ok: queued as 4XyZ12AbC");
    g_assert_cmpuint(g_atomic_int_get(&f.rcpts_seen), ==, 3);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_huge_reply(void)
{
    /* 3,000 bytes of text with invalid UTF-8, a NUL-free control
       character and a multi-byte character across the bound */
    GString *g = g_string_new("550-5.7.1 ");
    for (int i = 0; i < 300; i++)
        g_string_append(g, "\xc3\xa9\xff\x01"
                           "bad\tbyte");
    g_string_append(g, "\r\n550 5.7.1 second line\r\n");
    g_autofree char *reply = g_string_free(g, FALSE);
    fake f = {.rcpt_reply = reply};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_PERM);
    g_assert_cmpint(res.code, ==, 550);
    assert_reply_bounded(&res);
    g_assert_true(g_str_has_prefix(res.reply, "550 5.7.1 \xc3\xa9"));
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_enormous_reply_line(void)
{
    /* 200 KB in one reply line: libcurl gives up on it; whatever the
       outcome, it is not SENT and the text kept is bounded */
    GString *g = g_string_new("550 ");
    while (g->len < 200 * 1024)
        g_string_append(g, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    g_string_append(g, "\r\n");
    g_autofree char *reply = g_string_free(g, FALSE);
    fake f = {.rcpt_reply = reply};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_test_message("200 KB reply: %s %d", smtp_outcome_name(res.outcome),
                   res.code);
    g_assert_cmpint(res.outcome, !=, SMTP_SENT);
    assert_reply_bounded(&res);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_auth_failure_is_route_problem(void)
{
    fake f = {.auth_reply = "535 5.7.8 authentication failed\r\n"};
    g_autofree char *url = fake_start(&f);
    smtp_route_opts o = opts_for(url, 1, 10);
    o.user = "campaigns";
    o.password = "s3cret-pw";
    const char *rc[] = {"a@example.test", NULL};
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    char *err = NULL;
    g_assert_cmpint(smtp_send_one(&o, "s@crm.test", rc, m, &res, &err), ==,
                    CRM_ERR_IO);
    /* not the recipient's fault: CONN, with the relay's words */
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 535);
    g_assert_cmpstr(res.reply, ==, "535 5.7.8 authentication failed");
    g_assert_null(strstr(err, "s3cret-pw"));
    g_assert_cmpuint(g_atomic_int_get(&f.rcpts_seen), ==, 0);
    g_free(err);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_greeting_421(void)
{
    fake f = {.greeting = "421 4.3.2 too busy, come back later\r\n"};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_THROTTLE);
    g_assert_cmpint(res.code, ==, 421);
    smtp_result_clear(&res);
    fake_stop(&f);
}

static void test_reused_connection_dies(void)
{
    /* the relay closes the kept-alive connection at the second MAIL, with
       no reply: nothing was accepted, the route sends again on a new
       connection, once */
    fake f = {.drop_at_mail = 2};
    g_autofree char *url = fake_start(&f);
    smtp_route_opts o = opts_for(url, 1, 10);
    smtp_route *r = smtp_route_new(&o);
    g_autoptr(GBytes) m = small_message();
    for (int i = 0; i < 3; i++) {
        g_assert_true(
            smtp_route_submit(r, "s@crm.test", "a@example.test", m, NULL));
        drain(r, 10);
        smtp_result res;
        g_assert_true(smtp_route_next_done(r, NULL, &res));
        g_assert_cmpint(res.outcome, ==, SMTP_SENT);
        smtp_result_clear(&res);
    }
    g_assert_false(smtp_route_next_done(r, NULL, &(smtp_result){0}));
    /* sessions: {1, drop}, {2, drop}, {3} */
    g_assert_cmpuint(smtp_route_connects(r), ==, 3);
    g_assert_cmpuint(g_atomic_int_get(&f.rcpts_seen), ==, 3);
    smtp_route_free(&r);
    fake_stop(&f);
}

static void test_truncated_reply(void)
{
    /* "550 ..." without its line end, then the connection closes: not a
       complete reply, so not a permanent failure of the recipient */
    fake f = {.rcpt_reply = "550 5.1.1 no such us", .close_after_rcpt = true};
    g_autofree char *url = fake_start(&f);
    g_autoptr(GBytes) m = small_message();
    smtp_result res;
    send_route(url, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_CONN);
    g_assert_cmpint(res.code, ==, 0);
    assert_reply_bounded(&res);
    smtp_result_clear(&res);
    /* the same reply complete: PERM */
    fake f2 = {.rcpt_reply = "550 5.1.1 no such user\r\n",
               .close_after_rcpt = true};
    g_autofree char *url2 = fake_start(&f2);
    send_route(url2, "x@example.test", m, 10, &res);
    g_assert_cmpint(res.outcome, ==, SMTP_PERM);
    g_assert_cmpint(res.code, ==, 550);
    g_assert_cmpstr(res.reply, ==, "550 5.1.1 no such user");
    smtp_result_clear(&res);
    fake_stop(&f);
    fake_stop(&f2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/smtp/fake/queue_id", test_queue_id_from_relay);
    g_test_add_func("/smtp/fake/huge_reply", test_huge_reply);
    g_test_add_func("/smtp/fake/enormous_reply_line", test_enormous_reply_line);
    g_test_add_func("/smtp/fake/auth_failure",
                    test_auth_failure_is_route_problem);
    g_test_add_func("/smtp/fake/reused_connection_dies",
                    test_reused_connection_dies);
    g_test_add_func("/smtp/fake/truncated_reply", test_truncated_reply);
    g_test_add_func("/smtp/fake/greeting_421", test_greeting_421);
    return g_test_run();
}
