/*
 * callbacks.c - the libmilter callbacks: collect envelope and bytes.
 *
 * We negotiate away every step we do not use (connect, HELO, DATA,
 * unknown) and ask for no-reply on headers, body and envelope where the MTA
 * offers it, so Postfix streams the message without waiting on us; the one
 * wait is at end of message. Macros come with MAIL FROM and end of message
 * through smfi_setsymlist. Memory per message is bounded: headers by
 * limits.header_bytes, body in memory by limits.body_memory_bytes (then an
 * unlinked temporary file), total by limits.message_bytes.
 *
 * Never rejects or tempfails: every callback answers continue (or
 * no-reply), and end of message accepts whatever happened in capture. At
 * end of message the bytes go to the journal (milter_journal); parsing and
 * the database come later, in the ingester process. Open connections are
 * counted, so a SIGTERM can let them finish (main.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crmgate/io.h"
#include "crmgate/log.h"
#include "crmgate/sockopt.h"
#include "milter.h"

/* Answer for a step whose no-reply flag is nr_flag. */
static sfsistat reply(const milter_conn *c, unsigned long nr_flag)
{
    return (c->negotiated & nr_flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

void milter_msg_free(milter_msg **msgp)
{
    milter_msg *m = *msgp;
    if (!m)
        return;
    g_free(m->envelope_from);
    g_ptr_array_unref(m->rcpts);
    g_free(m->auth_authen);
    g_free(m->daemon_name);
    if (m->mem)
        g_byte_array_unref(m->mem);
    if (m->spill_fd >= 0)
        close(m->spill_fd);
    g_free(m);
    *msgp = NULL;
}

static milter_conn *conn_get(SMFICTX *ctx)
{
    milter_conn *c = smfi_getpriv(ctx);
    if (!c) {
        c = g_new0(milter_conn, 1);
        smfi_setpriv(ctx, c);
        g_atomic_int_inc(&milter_g.sessions);
    }
    return c;
}

/* Moves the bytes kept in memory to an unlinked file in the spool dir. */
static bool spill(milter_msg *m)
{
    const crm_config *cfg = milter_g.cfg;
    g_autofree char *tmpl =
        g_build_filename(cfg->spool_dir, "tmp-body-XXXXXX", NULL);
    g_mkdir_with_parents(cfg->spool_dir, 0750);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        log_error("milter: cannot create spill file in %s: %s", cfg->spool_dir,
                  g_strerror(errno));
        return false;
    }
    unlink(tmpl);
    if (!io_write_all(fd, m->mem->data, m->mem->len)) {
        log_error("milter: spill write failed: %s", g_strerror(errno));
        close(fd);
        return false;
    }
    m->spill_fd = fd;
    g_byte_array_unref(m->mem);
    m->mem = NULL;
    return true;
}

/* Appends bytes, spilling to disk past the memory bound and cutting at the
   message bound. */
static void append(milter_msg *m, const void *p, gsize len)
{
    const crm_config *cfg = milter_g.cfg;
    if (m->cut.partial)
        return;
    if (m->size + len > cfg->message_bytes) {
        m->cut.body_cut = true;
        len = cfg->message_bytes > m->size ? cfg->message_bytes - m->size : 0;
        if (len == 0)
            return;
    }
    if (m->spill_fd < 0 && m->size + len > cfg->body_memory_bytes &&
        !spill(m)) {
        m->cut.partial = true;
        return;
    }
    if (m->spill_fd >= 0) {
        if (!io_write_all(m->spill_fd, p, len)) {
            log_error("milter: spill write failed: %s", g_strerror(errno));
            m->cut.partial = true;
            return;
        }
    } else {
        g_byte_array_append(m->mem, p, (guint)len);
    }
    m->size += len;
}

/* An envelope address without its angle brackets (and ESMTP spacing). */
static char *bare_address(const char *a)
{
    char *s = g_strstrip(g_strdup(a ? a : ""));
    gsize n = strlen(s);
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = '\0';
    }
    return s;
}

static char *macro(SMFICTX *ctx, const char *name)
{
    const char *v = smfi_getsymval(ctx, (char *)name);
    return v && *v ? g_strdup(v) : NULL;
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3,
                             unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    (void)f2;
    (void)f3;
    unsigned long want =
        SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NODATA | SMFIP_NOUNKNOWN;
    unsigned long nr = SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR |
                       SMFIP_NR_EOH | SMFIP_NR_BODY;
    *pf0 = f0 & (SMFIF_DELRCPT | SMFIF_SETSYMLIST);
    *pf1 = (f1 & want) | (f1 & nr) | (f1 & SMFIP_HDR_LEADSPC);
    *pf2 = 0;
    *pf3 = 0;
    conn_get(ctx)->negotiated = *pf1;
    smfi_setsymlist(ctx, SMFIM_ENVFROM,
                    "{auth_authen} {daemon_name} {client_port}");
    smfi_setsymlist(ctx, SMFIM_EOM, "i");
    return SMFIS_CONTINUE;
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    /* the first callback after each of our replies: ACK at once again */
    (void)sockopt_quickack_ctx(ctx);
    milter_conn *c = conn_get(ctx);
    milter_msg_free(&c->msg);
    milter_msg *m = g_new0(milter_msg, 1);
    m->spill_fd = -1;
    m->mem = g_byte_array_sized_new(16384);
    m->rcpts = g_ptr_array_new_with_free_func(g_free);
    m->started_us = g_get_monotonic_time();
    m->envelope_from = bare_address(argv ? argv[0] : NULL);
    m->auth_authen = macro(ctx, "{auth_authen}");
    m->daemon_name = macro(ctx, "{daemon_name}");
    /* Postfix's cleanup emulates a client at port 0 for sendmail(1) mail. */
    g_autofree char *port = macro(ctx, "{client_port}");
    m->non_smtpd = port && strcmp(port, "0") == 0;
    c->msg = m;
    return reply(c, SMFIP_NR_MAIL);
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    milter_conn *c = conn_get(ctx);
    if (c->msg && argv && argv[0]) {
        if (c->msg->rcpts->len < milter_g.cfg->max_recipients)
            g_ptr_array_add(c->msg->rcpts, bare_address(argv[0]));
        else
            c->msg->cut.rcpts_dropped++;
    }
    return reply(c, SMFIP_NR_RCPT);
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    milter_conn *c = conn_get(ctx);
    milter_msg *m = c->msg;
    if (!m || !name || !value)
        return reply(c, SMFIP_NR_HDR);
    gsize nlen = strlen(name), vlen = strlen(value);
    if (m->header_bytes + nlen + vlen + 4 > milter_g.cfg->header_bytes) {
        m->cut.headers_cut = true;
        return reply(c, SMFIP_NR_HDR);
    }
    bool leadspc = c->negotiated & SMFIP_HDR_LEADSPC;
    GString *line = g_string_sized_new(nlen + vlen + 4);
    g_string_append_len(line, name, (gssize)nlen);
    g_string_append(line, leadspc ? ":" : ": ");
    /* Folded lines arrive with bare LF; keep CRLF like the body. */
    for (const char *p = value; *p; p++) {
        if (*p == '\n' && (p == value || p[-1] != '\r'))
            g_string_append_c(line, '\r');
        g_string_append_c(line, *p);
    }
    g_string_append(line, "\r\n");
    m->header_bytes += line->len;
    append(m, line->str, line->len);
    g_string_free(line, TRUE);
    return reply(c, SMFIP_NR_HDR);
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    milter_conn *c = conn_get(ctx);
    if (c->msg && !c->msg->eoh_seen) {
        c->msg->eoh_seen = true;
        append(c->msg, "\r\n", 2);
    }
    return reply(c, SMFIP_NR_EOH);
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    milter_conn *c = conn_get(ctx);
    if (c->msg) {
        if (!c->msg->eoh_seen)
            cb_eoh(ctx);
        append(c->msg, chunk, len);
    }
    return reply(c, SMFIP_NR_BODY);
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    milter_conn *c = conn_get(ctx);
    milter_msg *m = c->msg;
    if (!m)
        return SMFIS_ACCEPT;
    if (!m->eoh_seen)
        cb_eoh(ctx);
    /* Capture recipients must not be delivered to or bounce. */
    for (guint i = 0; i < m->rcpts->len; i++) {
        char *r = g_ptr_array_index(m->rcpts, i);
        if (ingest_is_capture_rcpt(milter_g.cfg, r) &&
            smfi_delrcpt(ctx, r) != MI_SUCCESS)
            log_warn("milter: cannot remove capture recipient %s", r);
    }
    g_autofree char *qid = macro(ctx, "i");
    g_autofree char *line = milter_journal(m, qid);
    log_info("%s", line);
    milter_msg_free(&c->msg);
    return SMFIS_ACCEPT;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    milter_conn *c = smfi_getpriv(ctx);
    if (c)
        milter_msg_free(&c->msg);
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    milter_conn *c = smfi_getpriv(ctx);
    if (c) {
        milter_msg_free(&c->msg);
        g_free(c);
        smfi_setpriv(ctx, NULL);
        g_atomic_int_add(&milter_g.sessions, -1);
    }
    return SMFIS_CONTINUE;
}

struct smfiDesc milter_desc = {
    .xxfi_name = "crmgate",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_DELRCPT,
    .xxfi_connect = NULL,
    .xxfi_helo = NULL,
    .xxfi_envfrom = cb_envfrom,
    .xxfi_envrcpt = cb_envrcpt,
    .xxfi_header = cb_header,
    .xxfi_eoh = cb_eoh,
    .xxfi_body = cb_body,
    .xxfi_eom = cb_eom,
    .xxfi_abort = cb_abort,
    .xxfi_close = cb_close,
    .xxfi_unknown = NULL,
    .xxfi_data = NULL,
    .xxfi_negotiate = cb_negotiate,
};
