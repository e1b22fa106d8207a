/*
 * null_milter.c - the benchmark's baseline: a libmilter program that
 * negotiates every step and every reply away and accepts everything. What
 * Postfix with this milter achieves is the floor the milter protocol
 * itself costs; crmgate-milter is measured against it.
 *
 * usage: null-milter [--nodelay] [--quickack] [--collect] [--fsync DIR]
 *        SOCKET   (e.g. inet:8899@127.0.0.1)
 *
 * --nodelay   after smfi_opensocket(), sockopt_tune_listener(SOCKET) (core/
 *             sockopt.c): TCP_NODELAY on the listener, inherited by every
 *             accepted connection.
 * --quickack  also asks for MAIL FROM (no reply, SMFIP_NR_MAIL) and calls
 *             sockopt_quickack_ctx() there: our ACKs of what Postfix sends
 *             after our negotiation reply go out at once instead of after
 *             the kernel's delayed-ACK timer. With both, the null milter
 *             does exactly what crmgate-milter does about the TCP stall, so
 *             the bench can show the stall and its fix on the floor itself.
 * --collect   the floor of any milter that captures: asks for the envelope,
 *             the headers and the body (all without replies, as
 *             crmgate-milter does) and copies them into a per-connection
 *             buffer, which end of message drops.
 * --fsync DIR with --collect: end of message also writes the buffer to a
 *             new file in DIR, fdatasyncs and unlinks it (the floor of a
 *             durable journal on this disk), and logs the time it took
 *             as crmgate-milter does ("journal ... eom_ms=T" on stderr).
 */
#include "crmgate/sockopt.h"

#include <fcntl.h>
#include <glib.h>
#include <libmilter/mfapi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool opt_quickack, opt_collect;
static const char *opt_fsync_dir;
static gint file_seq;

static sfsistat nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3,
                             unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    (void)ctx;
    (void)f0;
    (void)f2;
    (void)f3;
    unsigned long steps = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL |
                          SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS |
                          SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA |
                          SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |
                          SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN |
                          SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NR_HDR;
    if (opt_quickack)
        steps &= ~(unsigned long)SMFIP_NOMAIL; /* MAIL FROM, still no reply */
    if (opt_collect)
        steps &= ~(unsigned long)(SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOHDRS |
                                  SMFIP_NOEOH | SMFIP_NOBODY);
    *pf0 = 0;
    *pf1 = f1 & steps;
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat nm_envfrom(SMFICTX *ctx, char **argv)
{
    (void)argv;
    /* the first callback after our negotiation reply */
    (void)sockopt_quickack_ctx(ctx);
    return SMFIS_CONTINUE;
}

static GByteArray *buf_of(SMFICTX *ctx)
{
    GByteArray *b = smfi_getpriv(ctx);
    if (!b) {
        b = g_byte_array_new();
        smfi_setpriv(ctx, b);
    }
    return b;
}

static void append(SMFICTX *ctx, const char *s)
{
    g_byte_array_append(buf_of(ctx), (const guint8 *)s, (guint)strlen(s));
}

static sfsistat nm_envfrom_collect(SMFICTX *ctx, char **argv)
{
    if (opt_quickack)
        (void)sockopt_quickack_ctx(ctx);
    GByteArray *b = buf_of(ctx);
    g_byte_array_set_size(b, 0);
    append(ctx, argv[0]);
    return SMFIS_NOREPLY; /* every reply was negotiated away */
}

static sfsistat nm_envrcpt(SMFICTX *ctx, char **argv)
{
    append(ctx, argv[0]);
    return SMFIS_NOREPLY; /* every reply was negotiated away */
}

static sfsistat nm_header(SMFICTX *ctx, char *name, char *value)
{
    append(ctx, name);
    append(ctx, ": ");
    append(ctx, value);
    append(ctx, "\r\n");
    return SMFIS_NOREPLY; /* every reply was negotiated away */
}

static sfsistat nm_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
    g_byte_array_append(buf_of(ctx), data, (guint)len);
    return SMFIS_NOREPLY; /* every reply was negotiated away */
}

static bool write_sync(const GByteArray *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/null-%d-%d", opt_fsync_dir, (int)getpid(),
             g_atomic_int_add(&file_seq, 1));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok =
        write(fd, b->data, b->len) == (ssize_t)b->len && fdatasync(fd) == 0;
    close(fd);
    unlink(path);
    return ok;
}

static sfsistat nm_eom(SMFICTX *ctx)
{
    GByteArray *b = smfi_getpriv(ctx);
    if (b && opt_fsync_dir) {
        gint64 t0 = g_get_monotonic_time();
        if (!write_sync(b))
            fprintf(stderr, "null-milter: cannot write to %s\n", opt_fsync_dir);
        /* the line crmgate-milter logs, so the bench reads both alike */
        fprintf(stderr, "journal queue_id=- null eom_ms=%.2f\n",
                (double)(g_get_monotonic_time() - t0) / 1000.0);
    }
    if (b)
        g_byte_array_set_size(b, 0);
    return SMFIS_ACCEPT;
}

static sfsistat nm_close(SMFICTX *ctx)
{
    GByteArray *b = smfi_getpriv(ctx);
    if (b) {
        g_byte_array_unref(b);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
    struct smfiDesc desc = {
        .xxfi_name = "null-milter",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = 0,
        .xxfi_eom = nm_eom,
        .xxfi_negotiate = nm_negotiate,
    };
    bool nodelay = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--nodelay") == 0)
            nodelay = true;
        else if (strcmp(argv[i], "--quickack") == 0)
            opt_quickack = true;
        else if (strcmp(argv[i], "--collect") == 0)
            opt_collect = true;
        else if (strcmp(argv[i], "--fsync") == 0 && i + 1 < argc)
            opt_fsync_dir = argv[++i];
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: null-milter [--nodelay] [--quickack] "
                        "[--collect] [--fsync DIR] SOCKET\n");
        return 64;
    }
    const char *sock = argv[i];
    if (opt_quickack)
        desc.xxfi_envfrom = nm_envfrom;
    if (opt_collect) {
        desc.xxfi_envfrom = nm_envfrom_collect;
        desc.xxfi_envrcpt = nm_envrcpt;
        desc.xxfi_header = nm_header;
        desc.xxfi_body = nm_body;
        desc.xxfi_close = nm_close;
    }
    if (smfi_setconn((char *)sock) != MI_SUCCESS ||
        smfi_setbacklog(128) != MI_SUCCESS ||
        smfi_register(desc) != MI_SUCCESS || smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null-milter: cannot listen on %s\n", sock);
        return 69;
    }
    /* --quickack needs the listener's port, which the tuning records */
    if (nodelay || opt_quickack) {
        crm_result r = sockopt_tune_listener(sock);
        if (r) {
            fprintf(stderr, "null-milter: tuning %s: %s\n", sock,
                    crm_strerror(r));
            return 69;
        }
    }
    return smfi_main() == MI_SUCCESS ? 0 : 70;
}
