/*
 * smtp_blast.c - the SMTP sending benchmark's client: prebuilds MESSAGES
 * distinct messages of about SIZE bytes (one recipient each, as a
 * campaign sends them), then pushes them through one smtp_route (core/
 * smtp_send.c) with CONNECTIONS parallel connections, resubmitting as soon
 * as a transfer completes, and reports the rate. Building the messages is
 * not timed; sending is, from the first submit to the last result.
 *
 * usage: smtp-blast URL MESSAGES CONNECTIONS [SIZE]
 *        (e.g. smtp://127.0.0.1:2590 20000 8 3000)
 *
 * Prints one line: "messages=N sent=N failed=N connects=N seconds=S
 * msgs_per_s=R". Exit status 1 when any transfer was not SMTP_SENT (the
 * first few failures are printed on stderr), 2 on usage errors.
 */
#include "crmgate/smtp_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GBytes *build_message(guint i, guint size)
{
    GString *g = g_string_sized_new(size + 256);
    g_string_append_printf(g,
                           "From: Campaigns <news@crm.test>\r\n"
                           "To: rcpt%u@example.test\r\n"
                           "Subject: Our news, issue %u\r\n"
                           "Message-ID: <blast.%u@crm.test>\r\n"
                           "MIME-Version: 1.0\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "\r\n"
                           "Hello recipient %u,\r\n\r\n",
                           i, i, i, i);
    while (g->len < size)
        g_string_append(g, "Lorem ipsum dolor sit amet, consectetur "
                           "adipiscing elit, sed do eiusmod tempor.\r\n");
    gsize len = g->len;
    return g_bytes_new_take(g_string_free(g, FALSE), len);
}

static guint parse_uint(const char *s, guint lo, guint hi)
{
    char *end = NULL;
    guint64 v = g_ascii_strtoull(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "smtp-blast: bad number %s (%u..%u)\n", s, lo, hi);
        exit(2);
    }
    return (guint)v;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: smtp-blast URL MESSAGES CONNECTIONS [SIZE]\n");
        return 2;
    }
    guint n = parse_uint(argv[2], 1, 10000000);
    guint conns = parse_uint(argv[3], 1, SMTP_MAX_CONNECTIONS);
    guint size = argc > 4 ? parse_uint(argv[4], 100, 100000000) : 3000;

    smtp_route_opts o = {.url = argv[1],
                         .connections = conns,
                         .timeout_s = 60,
                         .helo_name = "blast.crm.test"};
    smtp_route *r = smtp_route_new(&o);
    if (r == NULL) {
        fprintf(stderr, "smtp-blast: invalid URL %s\n", argv[1]);
        return 2;
    }
    GBytes **msgs = g_new(GBytes *, n);
    char **rcpts = g_new(char *, n);
    for (guint i = 0; i < n; i++) {
        msgs[i] = build_message(i, size);
        rcpts[i] = g_strdup_printf("rcpt%u@example.test", i);
    }

    guint next = 0, done = 0, sent = 0, failed = 0;
    gint64 t0 = g_get_monotonic_time();
    while (done < n) {
        while (next < n &&
               smtp_route_submit(r, "bounce+blast@crm.test", rcpts[next],
                                 msgs[next], GUINT_TO_POINTER(next)))
            next++;
        smtp_route_run(r, 1000);
        gpointer ud;
        smtp_result res;
        while (smtp_route_next_done(r, &ud, &res)) {
            done++;
            if (res.outcome == SMTP_SENT) {
                sent++;
            } else if (++failed <= 5) {
                fprintf(stderr, "smtp-blast: message %u: %s %d %s\n",
                        GPOINTER_TO_UINT(ud), smtp_outcome_name(res.outcome),
                        res.code, res.reply ? res.reply : "");
            }
            smtp_result_clear(&res);
        }
    }
    double secs = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    printf("messages=%u sent=%u failed=%u connects=%" G_GUINT64_FORMAT
           " seconds=%.3f msgs_per_s=%.0f\n",
           n, sent, failed, smtp_route_connects(r), secs,
           secs > 0 ? n / secs : 0.0);
    smtp_route_free(&r);
    for (guint i = 0; i < n; i++) {
        g_bytes_unref(msgs[i]);
        g_free(rcpts[i]);
    }
    g_free(msgs);
    g_free(rcpts);
    return failed ? 1 : 0;
}
