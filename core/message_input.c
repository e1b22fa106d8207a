/*
 * message_input.c - reading the input of a parse (see message.c): the
 * input as a stream or a caller's buffer, the MIME guard pass that decides
 * whether GMime parses the input itself or the guard's bounded copy (kept
 * in memory up to MSG_GUARD_MEMORY, then in an unlinked temporary file),
 * and the digest pass over the original input. Calls mime_guard.c and
 * message_util.c, never message.c or message_mime.c.
 *
 * Digest: SHA-256 over the Message-ID (or ""), the raw From, Date and
 * Subject values (the first of each, CR and LF removed, trimmed), each
 * followed by "\n", then the raw body (after the first empty line) with
 * CRLF read as LF and trailing white space dropped. Received and all other
 * headers do not count, so copies altered by relays hash alike.
 */
#include "message_int.h"

#include "crmgate/io.h"
#include "crmgate/mime_guard.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* A guarded copy up to this size stays in memory, a larger one goes to an
   unlinked temporary file. */
#define MSG_GUARD_MEMORY (4 * 1024 * 1024)

/* ---- the input ---- */

typedef void (*chunk_fn)(const char *data, gsize len, gpointer user);

/* Calls fn for the whole input, in pieces of at most MSG_CHUNK bytes. */
static crm_result source_read(const msg_source *src, chunk_fn fn, gpointer user)
{
    if (src->buf != NULL) {
        for (gsize off = 0; off < src->len; off += MSG_CHUNK)
            fn(src->buf + off, MIN(MSG_CHUNK, src->len - off), user);
        return CRM_OK;
    }
    if (g_mime_stream_seek(src->stream, src->start, GMIME_STREAM_SEEK_SET) !=
        src->start)
        return CRM_ERR_IO;
    g_autofree char *buf = g_malloc(MSG_CHUNK);
    ssize_t n;
    while ((n = g_mime_stream_read(src->stream, buf, MSG_CHUNK)) > 0)
        fn(buf, (gsize)n, user);
    return n < 0 ? CRM_ERR_IO : CRM_OK;
}

/* ---- digest ---- */

typedef struct {
    crm_sha256 running;   /* everything fed so far */
    crm_sha256 committed; /* up to the last non-space byte */
    bool in_headers;
    gsize line_len; /* header line length, CRs not counted */
    bool pending_cr;
} digest_state;

static void digest_header(crm_sha256 *sum, GMimeObject *obj, const char *name)
{
    GMimeHeaderList *hl =
        obj != NULL ? g_mime_object_get_header_list(obj) : NULL;
    GMimeHeader *h =
        hl != NULL ? g_mime_header_list_get_header(hl, name) : NULL;
    const char *raw = h != NULL ? g_mime_header_get_raw_value(h) : NULL;
    if (raw != NULL) {
        /* unfolded and trimmed, so that CRLF and LF copies agree */
        GString *v = g_string_new(NULL);
        for (const char *p = raw; *p != '\0'; p++)
            if (*p != '\r' && *p != '\n')
                g_string_append_c(v, *p);
        g_strstrip(v->str);
        crm_sha256_update(sum, (const guchar *)v->str, strlen(v->str));
        g_string_free(v, TRUE);
    }
    crm_sha256_update(sum, (const guchar *)"\n", 1);
}

/* Feeds one chunk of raw input; body bytes go in with CRLF as LF. */
static void digest_feed(digest_state *d, const char *buf, gsize n, char *tmp)
{
    gsize i = 0, o = 0;
    for (; d->in_headers && i < n; i++) {
        if (buf[i] == '\r')
            continue;
        if (buf[i] != '\n') {
            d->line_len++;
            continue;
        }
        if (d->line_len == 0)
            d->in_headers = false;
        d->line_len = 0;
    }
    for (; i < n; i++) {
        if (d->pending_cr) {
            d->pending_cr = false;
            if (buf[i] != '\n')
                tmp[o++] = '\r';
        }
        if (buf[i] == '\r')
            d->pending_cr = true;
        else
            tmp[o++] = buf[i];
    }
    gsize last = o;
    while (last > 0 && g_ascii_isspace(tmp[last - 1]))
        last--;
    if (last > 0) {
        crm_sha256_update(&d->running, (const guchar *)tmp, last);
        d->committed = d->running;
    }
    if (o > last)
        crm_sha256_update(&d->running, (const guchar *)tmp + last, o - last);
}

/* Reads stream from start to its end for raw_size and the digest. */
typedef struct {
    crm_message *msg;
    digest_state d;
    char *tmp;
} digest_run;

static void digest_chunk(const char *data, gsize len, gpointer user)
{
    digest_run *run = user;
    run->msg->raw_size += len;
    digest_feed(&run->d, data, len, run->tmp);
}

/* Reads the input for raw_size and the digest. */
crm_result message_int_digest(crm_message *msg, const msg_source *src,
                              GMimeMessage *m)
{
    digest_run run = {.msg = msg, .d = {.in_headers = true}};
    digest_state *d = &run.d;
    crm_sha256_init(&d->running);
    const char *id = msg->message_id != NULL ? msg->message_id : "";
    crm_sha256_update(&d->running, (const guchar *)id, strlen(id));
    crm_sha256_update(&d->running, (const guchar *)"\n", 1);
    static const char *const names[] = {"From", "Date", "Subject"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        digest_header(&d->running, m != NULL ? GMIME_OBJECT(m) : NULL,
                      names[i]);
    d->committed = d->running;
    run.tmp = g_malloc(MSG_CHUNK + 1);
    msg->raw_size = 0;
    crm_result r = source_read(src, digest_chunk, &run);
    crm_sha256_peek_hex(&d->committed, msg->digest);
    g_free(run.tmp);
    return r;
}

/* ---- the MIME guard ---- */

/* Where the guarded copy goes: memory, then a temporary file. */
typedef struct {
    GByteArray *mem;
    int fd;
    bool failed;
} guard_sink;

static void sink_write(const char *data, gsize len, gpointer user)
{
    guard_sink *k = user;
    if (k->failed)
        return;
    if (k->fd < 0 && k->mem->len + len > MSG_GUARD_MEMORY) {
        g_autofree char *path = NULL;
        k->fd = g_file_open_tmp("crmgate-parse-XXXXXX", &path, NULL);
        if (k->fd < 0 || g_unlink(path) != 0 ||
            !io_write_all(k->fd, k->mem->data, k->mem->len)) {
            k->failed = true;
            return;
        }
        g_byte_array_set_size(k->mem, 0);
    }
    if (k->fd >= 0)
        k->failed = !io_write_all(k->fd, data, len);
    else
        g_byte_array_append(k->mem, (const guint8 *)data, (guint)len);
}

static void guard_limits(const message_limits *lim, mime_guard_limits *g)
{
    g->max_parts = lim->max_parts;
    g->max_depth = lim->max_depth;
    g->part_header_bytes = lim->part_header_bytes;
    g->part_headers = lim->part_headers;
    g->total_header_bytes = lim->total_header_bytes;
    g->total_headers = lim->total_headers;
    g->line_bytes = lim->line_bytes;
}

static void guard_chunk(const char *data, gsize len, gpointer user)
{
    mime_guard_feed(user, data, len);
}

/* Feeds the whole input through g. */
static crm_result guard_pass(const msg_source *src, mime_guard *g)
{
    crm_result r = source_read(src, guard_chunk, g);
    mime_guard_finish(g);
    return r;
}

/* Scans the input through the guard. Sets *guarded_r to NULL when the
   message is within every bound (parse the input itself), else to a new
   stream over the bounded copy; the guard's warnings go to msg. */
crm_result message_int_guard(const msg_source *src, const message_limits *lim,
                             crm_message *msg, GMimeStream **guarded_r)
{
    *guarded_r = NULL;
    mime_guard_limits gl;
    guard_limits(lim, &gl);
    mime_guard *g = mime_guard_new(&gl, NULL, NULL);
    crm_result r = guard_pass(src, g);
    bool changed = mime_guard_changed(g);
    mime_guard_free(&g);
    if (r != CRM_OK || !changed)
        return r;

    guard_sink k = {.mem = g_byte_array_new(), .fd = -1};
    g = mime_guard_new(&gl, sink_write, &k);
    r = guard_pass(src, g);
    GPtrArray *w = mime_guard_warnings(g);
    for (guint i = 0; i < w->len; i++)
        message_int_add_warning(msg, "%s",
                                (const char *)g_ptr_array_index(w, i));
    g_ptr_array_unref(w);
    mime_guard_free(&g);
    if (r == CRM_OK && k.failed)
        r = CRM_ERR_IO;
    if (r != CRM_OK) {
        g_byte_array_unref(k.mem);
        if (k.fd >= 0)
            close(k.fd);
        return r;
    }
    if (k.fd >= 0) {
        g_byte_array_unref(k.mem);
        /* owns the fd; bounds from 0, as the fd's offset is at its end */
        *guarded_r = g_mime_stream_fs_new_with_bounds(k.fd, 0, -1);
    } else {
        *guarded_r = g_mime_stream_mem_new_with_byte_array(k.mem); /* owns */
    }
    g_mime_stream_seek(*guarded_r, 0, GMIME_STREAM_SEEK_SET);
    return CRM_OK;
}
