/*
 * journal.c - end of message: write the message and its envelope to the
 * journal, fsync'd, and tell the ingester; nothing else happens on the
 * MTA's path. The process that holds Postfix's connections parses no MIME
 * and talks to no database.
 *
 * The ingester learns of new entries through a pipe (one name a line,
 * written without blocking: a full pipe or a missing child only means the
 * ingester finds the entry on its next rescan of the journal).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "crmgate/log.h"
#include "milter.h"

milter_state milter_g;

int milter_notify_fd = -1;

static void notify(const char *name)
{
    if (milter_notify_fd < 0)
        return;
    g_autofree char *line = g_strconcat(name, "\n", NULL);
    gsize len = strlen(line);
    /* Lines are far below PIPE_BUF, so each write is atomic. */
    ssize_t n;
    do
        n = write(milter_notify_fd, line, len);
    while (n < 0 && errno == EINTR);
}

char *milter_journal(milter_msg *m, const char *queue_id)
{
    const crm_config *cfg = milter_g.cfg;
    gint64 eom_us = g_get_monotonic_time();
    ingest_envelope env = {
        .source = "milter",
        .queue_id = queue_id,
        .envelope_from = m->envelope_from,
        .envelope_rcpts = m->rcpts,
        .auth_authen = m->auth_authen,
        .daemon_name = m->daemon_name,
        .non_smtpd = m->non_smtpd,
        .direction = INGEST_DIR_AUTO,
    };
    char *name = NULL, *err = NULL;
    crm_result r = spool_write(
        cfg->spool_dir, &env, &m->cut,
        m->spill_fd < 0 ? (const char *)m->mem->data : NULL,
        m->spill_fd < 0 ? m->mem->len : 0, m->spill_fd, &name, &err);
    gint64 end_us = g_get_monotonic_time();
    char *line;
    if (r) {
        /* Nothing more we can do: the mail itself still goes through. */
        line = g_strdup_printf("capture LOST queue_id=%s size=%" G_GSIZE_FORMAT
                               " reason=\"%s\"",
                               queue_id ? queue_id : "-", m->size, err);
    } else {
        notify(name);
        line = g_strdup_printf("journal queue_id=%s size=%" G_GSIZE_FORMAT
                               " file=%s eom_ms=%.2f session_ms=%.1f",
                               queue_id ? queue_id : "-", m->size, name,
                               (double)(end_us - eom_us) / 1000.0,
                               (double)(end_us - m->started_us) / 1000.0);
    }
    g_free(name);
    g_free(err);
    return line;
}
