/*
 * spool.c - the capture journal: write an entry, list, ingest in batches.
 *
 * File name: <unix-usec>-<pid>-<seq>.msg, so a sorted listing is oldest
 * first. Temporary files start with "tmp-" and are ignored by readers; a
 * crash can leave one behind, and replay removes those older than an hour.
 * The envelope line is bounded to SPOOL_ENVELOPE_MAX when written (by
 * dropping recipients, counted) and when read. Strings that are not UTF-8
 * (an envelope sender or SASL login with 8-bit bytes) are stored as
 * base64 under "<key>_b64", so they come back byte for byte.
 *
 * Ingest classifies failures: the database down, slow or answering with a
 * transient error leaves every entry in place (the caller backs off); a
 * missing capture function (an upgrade without `crmgate migrate`) does the
 * same and says what to run; an entry the database rejects alone is
 * retried up to max_attempts times and then set aside; only an entry that
 * can never be parsed goes to bad/ at once.
 */
#include "crmgate/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crmgate/io.h"
#include "crmgate/log.h"
#include "crmgate/message.h"

#define COPY_CHUNK 65536
#define ENVELOPE_RESERVE 4096 /* room for the fixed fields */
#define SPOOL_BATCH 64
#define ENVELOPE_VERSION 2
#define BOUNCE_READ_MAX (4 * 1024 * 1024) /* bytes of a bounce parsed */

static gint spool_seq;

/* Sets key to s: a JSON string when s is UTF-8, else key_b64 = base64 of
   its bytes. False when jansson fails (out of memory). */
static bool set_bytes(json_t *o, const char *key, const char *s)
{
    if (!s)
        return true;
    if (g_utf8_validate(s, -1, NULL))
        return json_object_set_new(o, key, json_string(s)) == 0;
    g_autofree char *b64 = g_base64_encode((const guchar *)s, strlen(s));
    g_autofree char *k = g_strconcat(key, "_b64", NULL);
    return json_object_set_new(o, k, json_string(b64)) == 0;
}

/* Decodes base64 text b into a string (cut at a NUL byte), or NULL. */
static char *from_b64(const char *b)
{
    if (!b)
        return NULL;
    gsize len = 0;
    guchar *raw = g_base64_decode(b, &len);
    char *out = g_strndup((const char *)raw, len); /* stops at a NUL */
    g_free(raw);
    return out;
}

/* The value of key (or key_b64 decoded), newly allocated, or NULL. */
static char *get_bytes(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s)
        return g_strdup(s);
    g_autofree char *k = g_strconcat(key, "_b64", NULL);
    return from_b64(json_string_value(json_object_get(o, k)));
}

/* The envelope line, bounded to SPOOL_ENVELOPE_MAX; NULL only when jansson
   fails. */
static char *envelope_json(const ingest_envelope *env, const spool_flags *fl,
                           gint64 size)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok =
        json_object_set_new(o, "v", json_integer(ENVELOPE_VERSION)) == 0 &&
        set_bytes(o, "queue_id", env->queue_id) &&
        set_bytes(o, "envelope_from", env->envelope_from) &&
        set_bytes(o, "auth_authen", env->auth_authen) &&
        set_bytes(o, "daemon_name", env->daemon_name) &&
        json_object_set_new(o, "non_smtpd", json_boolean(env->non_smtpd)) ==
            0 &&
        json_object_set_new(o, "size", json_integer(size)) == 0 &&
        json_object_set_new(o, "spooled_us", json_integer(g_get_real_time())) ==
            0;
    if (ok && env->direction != INGEST_DIR_AUTO)
        ok = json_object_set_new(
                 o, "direction",
                 json_string(env->direction == INGEST_DIR_IN ? "in" : "out")) ==
             0;
    guint dropped = fl ? fl->rcpts_dropped : 0;
    json_t *rc = json_array();
    ok = ok && rc && json_object_set_new(o, "envelope_rcpts", rc) == 0;
    gsize room = SPOOL_ENVELOPE_MAX - ENVELOPE_RESERVE;
    for (guint i = 0; ok && env->envelope_rcpts && i < env->envelope_rcpts->len;
         i++) {
        const char *r = g_ptr_array_index(env->envelope_rcpts, i);
        gsize cost = strlen(r) * 2 + 8; /* base64 and quoting, at worst */
        if (cost > room) {
            dropped += env->envelope_rcpts->len - i;
            break;
        }
        room -= cost;
        if (g_utf8_validate(r, -1, NULL)) {
            ok = json_array_append_new(rc, json_string(r)) == 0;
        } else {
            /* Kept as an object so the reader can tell it from a name. */
            g_autofree char *b64 =
                g_base64_encode((const guchar *)r, strlen(r));
            json_t *e = json_pack("{s:s}", "b64", b64);
            ok = e && json_array_append_new(rc, e) == 0;
        }
    }
    const spool_flags none = {0};
    if (!fl)
        fl = &none;
    if (ok)
        ok = json_object_set_new(o, "cut",
                                 json_pack("{s:b,s:b,s:b,s:i}", "headers",
                                           fl->headers_cut, "body",
                                           fl->body_cut, "partial", fl->partial,
                                           "rcpts_dropped", (int)dropped)) == 0;
    char *s = ok ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s && strlen(s) >= SPOOL_ENVELOPE_MAX) {
        free(s);
        s = NULL;
    }
    return s;
}

static bool copy_fd(int out, int fd)
{
    char *buf = g_malloc(COPY_CHUNK);
    off_t off = 0;
    bool ok = true;
    for (;;) {
        ssize_t n = pread(fd, buf, COPY_CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        if (!io_write_all(out, buf, (gsize)n)) {
            ok = false;
            break;
        }
        off += n;
    }
    g_free(buf);
    return ok;
}

crm_result spool_write(const char *dir, const ingest_envelope *env,
                       const spool_flags *flags, const char *data, gsize len,
                       int fd, char **name_r, char **error_r)
{
    *name_r = NULL;
    if (g_mkdir_with_parents(dir, 0750) != 0) {
        *error_r = g_strdup_printf("spool %s: %s", dir, g_strerror(errno));
        return CRM_ERR_IO;
    }
    struct stat sb;
    if (!data && fstat(fd, &sb) != 0) {
        *error_r = g_strdup_printf("spool: %s", g_strerror(errno));
        return CRM_ERR_IO;
    }
    char *envline =
        envelope_json(env, flags, data ? (gint64)len : (gint64)sb.st_size);
    if (!envline) {
        *error_r = g_strdup("spool: cannot encode the envelope");
        return CRM_ERR_INTERNAL;
    }
    char *name =
        g_strdup_printf("%016" G_GINT64_FORMAT "-%d-%d.msg", g_get_real_time(),
                        (int)getpid(), g_atomic_int_add(&spool_seq, 1));
    g_autofree char *tmp = g_strdup_printf("%s/tmp-%s", dir, name);
    g_autofree char *final = g_strdup_printf("%s/%s", dir, name);
    /* Written under a temporary name and locked; renamed while still
       locked (readers skip a locked entry), then one fdatasync makes data,
       file and name durable together (the rename is in the same
       filesystem journal transaction on ext4 and XFS). A crash before the
       sync leaves at most an entry shorter than its "size", which was
       never acknowledged and which readers set aside. */
    int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    bool ok = out >= 0 && flock(out, LOCK_EX) == 0;
    bool renamed = false;
    if (ok)
        ok = io_write_all(out, envline, strlen(envline)) &&
             io_write_all(out, "\n", 1);
    free(envline);
    if (ok)
        ok = data ? io_write_all(out, data, len) : copy_fd(out, fd);
    if (ok)
        ok = renamed = rename(tmp, final) == 0;
    if (ok)
        ok = fdatasync(out) == 0;
    int saved = errno;
    if (out >= 0 && close(out) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink(renamed ? final : tmp);
        *error_r =
            g_strdup_printf("spool write %s: %s", tmp, g_strerror(saved));
        g_free(name);
        return CRM_ERR_IO;
    }
    *name_r = name;
    return CRM_OK;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_entry_name(const char *n)
{
    return g_str_has_suffix(n, ".msg") && !g_str_has_prefix(n, "tmp-") &&
           n[0] != '.';
}

GPtrArray *spool_list(const char *dir, char **error_r)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return g_ptr_array_new_with_free_func(g_free);
        *error_r = g_strdup_printf("spool %s: %s", dir, g_strerror(errno));
        return NULL;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (is_entry_name(e->d_name))
            g_ptr_array_add(names, g_strdup(e->d_name));
    }
    closedir(d);
    g_ptr_array_sort(names, compare_names);
    return names;
}

/* Counts the entries of dir into *files, *bytes and *oldest. */
static crm_result count_dir(const char *dir, guint *files, guint64 *bytes,
                            gint64 *oldest, char **error_r)
{
    GPtrArray *names = spool_list(dir, error_r);
    if (!names)
        return CRM_ERR_IO;
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *p =
            g_build_filename(dir, g_ptr_array_index(names, i), NULL);
        struct stat sb;
        if (stat(p, &sb) != 0)
            continue;
        (*files)++;
        if (bytes)
            *bytes += (guint64)sb.st_size;
        if (!*oldest || sb.st_mtime < *oldest)
            *oldest = sb.st_mtime;
    }
    g_ptr_array_unref(names);
    return CRM_OK;
}

crm_result spool_status(const char *dir, spool_stats *st, char **error_r)
{
    memset(st, 0, sizeof(*st));
    crm_result r = count_dir(dir, &st->files, &st->bytes, &st->oldest, error_r);
    if (r)
        return r;
    g_autofree char *bad = g_build_filename(dir, "bad", NULL);
    return count_dir(bad, &st->bad, NULL, &st->oldest_bad, error_r);
}

void spool_set_aside(const char *dir, const char *name, const char *why)
{
    g_autofree char *bad = g_build_filename(dir, "bad", NULL);
    g_autofree char *from = g_build_filename(dir, name, NULL);
    g_autofree char *to = g_build_filename(bad, name, NULL);
    g_mkdir_with_parents(bad, 0750);
    if (rename(from, to) != 0)
        log_error("spool: cannot move file=%s to bad/: %s", name,
                  g_strerror(errno));
    else
        log_error("spool: set aside file=%s reason=\"%s\" (retry with "
                  "`crmgate spool replay --bad`)",
                  name, why);
}

crm_result spool_unbad(const char *dir, guint *moved_r, char **error_r)
{
    *moved_r = 0;
    g_autofree char *bad = g_build_filename(dir, "bad", NULL);
    GPtrArray *names = spool_list(bad, error_r);
    if (!names)
        return CRM_ERR_IO;
    crm_result r = CRM_OK;
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        g_autofree char *from = g_build_filename(bad, n, NULL);
        g_autofree char *to = g_build_filename(dir, n, NULL);
        if (rename(from, to) == 0) {
            (*moved_r)++;
        } else if (!r) {
            *error_r = g_strdup_printf("spool: cannot move %s back: %s", n,
                                       g_strerror(errno));
            r = CRM_ERR_IO;
        }
    }
    g_ptr_array_unref(names);
    return r;
}

spool_attempts *spool_attempts_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/* One entry being ingested. */
typedef struct {
    const char *name;
    int fd;
    gint64 msg_off;
    json_t *ej;
    char *queue_id, *envelope_from, *auth_authen, *daemon_name;
    GPtrArray *rcpts;
    ingest_envelope env;
    gint64 spooled_us;
    crm_message *msg;
    ingest_plan *plan;
} entry;

static void entry_clear(entry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    json_decref(e->ej);
    g_free(e->queue_id);
    g_free(e->envelope_from);
    g_free(e->auth_authen);
    g_free(e->daemon_name);
    if (e->rcpts)
        g_ptr_array_unref(e->rcpts);
    message_free(&e->msg);
    ingest_plan_free(&e->plan);
    memset(e, 0, sizeof(*e));
    e->fd = -1;
}

/* Reads the envelope line of an open entry; returns the offset of the
   message after it, or -1. */
static gint64 read_envelope(int fd, json_t **env_r)
{
    GString *line = g_string_new(NULL);
    char buf[4096];
    off_t off = 0;
    gint64 msg_off = -1;
    while (line->len < SPOOL_ENVELOPE_MAX && msg_off < 0) {
        ssize_t n = pread(fd, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        char *nl = memchr(buf, '\n', (size_t)n);
        if (nl) {
            g_string_append_len(line, buf, nl - buf);
            msg_off = off + (nl - buf) + 1;
        } else {
            g_string_append_len(line, buf, n);
        }
        off += n;
    }
    *env_r = msg_off >= 0 ? json_loads(line->str, 0, NULL) : NULL;
    g_string_free(line, TRUE);
    if (*env_r && !json_is_object(*env_r)) {
        json_decref(*env_r);
        *env_r = NULL;
    }
    return *env_r ? msg_off : -1;
}

static void add_cut_warnings(const crm_config *cfg, json_t *cut,
                             crm_message *msg)
{
    if (!json_is_object(cut))
        return;
    if (json_is_true(json_object_get(cut, "headers")))
        g_ptr_array_add(msg->warnings,
                        g_strdup_printf("headers past %" G_GSIZE_FORMAT
                                        " bytes were not captured",
                                        cfg->header_bytes));
    if (json_is_true(json_object_get(cut, "body")))
        g_ptr_array_add(msg->warnings,
                        g_strdup_printf("message past %" G_GSIZE_FORMAT
                                        " bytes was not captured",
                                        cfg->message_bytes));
    if (json_is_true(json_object_get(cut, "partial")))
        g_ptr_array_add(msg->warnings,
                        g_strdup("a local I/O error cut the message: only "
                                 "its first part was captured"));
    json_int_t dropped =
        json_integer_value(json_object_get(cut, "rcpts_dropped"));
    if (dropped > 0)
        g_ptr_array_add(msg->warnings,
                        g_strdup_printf("%" JSON_INTEGER_FORMAT
                                        " recipients past the limit were "
                                        "not recorded",
                                        dropped));
}

/* Opens, locks and parses one entry. CRM_OK: e is ready (plan set);
   CRM_ERR_NOTFOUND: gone or taken by another reader; CRM_ERR_PARSE: can
   never be read (*why_r set). */
static crm_result entry_load(const crm_config *cfg, const char *name,
                             const spool_ingest_opts *opts, entry *e,
                             char **why_r)
{
    g_autofree char *path = g_build_filename(cfg->spool_dir, name, NULL);
    e->name = name;
    e->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (e->fd < 0)
        return CRM_ERR_NOTFOUND;
    struct stat sb = {0};
    if (flock(e->fd, LOCK_EX | LOCK_NB) != 0 || fstat(e->fd, &sb) != 0 ||
        sb.st_nlink == 0)
        return CRM_ERR_NOTFOUND;
    e->msg_off = read_envelope(e->fd, &e->ej);
    if (e->msg_off < 0) {
        *why_r = g_strdup("unreadable envelope line");
        return CRM_ERR_PARSE;
    }
    json_t *ej = e->ej;
    json_t *want = json_object_get(ej, "size");
    if (json_is_integer(want) &&
        (gint64)sb.st_size < e->msg_off + json_integer_value(want)) {
        *why_r = g_strdup_printf(
            "incomplete: %" G_GINT64_FORMAT " of %" JSON_INTEGER_FORMAT
            " message bytes (the milter stopped while writing it, before "
            "it answered)",
            (gint64)sb.st_size - e->msg_off, json_integer_value(want));
        return CRM_ERR_PARSE;
    }
    e->rcpts = g_ptr_array_new_with_free_func(g_free);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ej, "envelope_rcpts"), i, v)
    {
        if (json_is_string(v)) {
            g_ptr_array_add(e->rcpts, g_strdup(json_string_value(v)));
        } else if (json_is_object(v)) {
            char *r = from_b64(json_string_value(json_object_get(v, "b64")));
            if (r)
                g_ptr_array_add(e->rcpts, r);
        }
    }
    e->queue_id = get_bytes(ej, "queue_id");
    e->envelope_from = get_bytes(ej, "envelope_from");
    e->auth_authen = get_bytes(ej, "auth_authen");
    e->daemon_name = get_bytes(ej, "daemon_name");
    e->spooled_us = json_integer_value(json_object_get(ej, "spooled_us"));
    if (!e->spooled_us) /* version 1 */
        e->spooled_us = json_integer_value(json_object_get(ej, "spooled_at")) *
                        G_USEC_PER_SEC;
    const char *dir = json_string_value(json_object_get(ej, "direction"));
    e->env = (ingest_envelope){
        .source = "milter",
        .queue_id = e->queue_id,
        .envelope_from = e->envelope_from,
        .envelope_rcpts = e->rcpts,
        .auth_authen = e->auth_authen,
        .daemon_name = e->daemon_name,
        .non_smtpd = json_is_true(json_object_get(ej, "non_smtpd")),
        .direction = !dir                      ? INGEST_DIR_AUTO
                     : strcmp(dir, "out") == 0 ? INGEST_DIR_OUT
                                               : INGEST_DIR_IN,
    };
    message_limits lim;
    ingest_message_limits(cfg, &lim);
    if (opts && opts->on_parse)
        opts->on_parse(name, opts->hook_data);
    crm_result r = message_parse_fd(e->fd, e->msg_off, &lim, &e->msg);
    if (opts && opts->on_parse)
        opts->on_parse(NULL, opts->hook_data);
    if (r) {
        *why_r = g_strdup_printf("message: %s", crm_strerror(r));
        return CRM_ERR_PARSE;
    }
    add_cut_warnings(cfg, json_object_get(ej, "cut"), e->msg);
    e->plan = ingest_plan_new(cfg, &e->env, e->msg);
    if (e->plan->parse_bounce) {
        /* the raw bytes, bounded: a bounce's report is near the top */
        gsize rawlen = MIN((gsize)(sb.st_size - e->msg_off), BOUNCE_READ_MAX);
        char *raw = g_malloc(rawlen + 1);
        ssize_t got = pread(e->fd, raw, rawlen, e->msg_off);
        if (got > 0)
            ingest_campaign_bounce(cfg, e->plan, raw, (gsize)got);
        g_free(raw);
    }
    return CRM_OK;
}

/* The log line of one entry's outcome. */
static void log_outcome(const entry *e, const char *outcome)
{
    double age_ms = e->spooled_us
                        ? (double)(g_get_real_time() - e->spooled_us) / 1000.0
                        : 0.0;
    log_info(
        "capture queue_id=%s message_id=<%s> direction=%s size=%" G_GSIZE_FORMAT
        " %s file=%s age_ms=%.1f",
        e->queue_id ? e->queue_id : "-",
        e->msg && e->msg->message_id ? e->msg->message_id : "",
        e->plan ? e->plan->direction : "-", e->msg ? e->msg->raw_size : 0,
        outcome, e->name, age_ms);
}

static void remove_entry(const crm_config *cfg, const char *name)
{
    g_autofree char *path = g_build_filename(cfg->spool_dir, name, NULL);
    if (unlink(path) != 0 && errno != ENOENT)
        log_error("spool: cannot remove file=%s: %s", name, g_strerror(errno));
}

/* True for SQLSTATEs worth retrying as they are: serialization failure,
   deadlock, lock not available, insufficient resources, operator
   intervention (shutdown, crash recovery). */
static bool sqlstate_transient(const char *s)
{
    return strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 ||
           strcmp(s, "55P03") == 0 || strncmp(s, "53", 2) == 0 ||
           strncmp(s, "57", 2) == 0 || strncmp(s, "08", 2) == 0;
}

/* True for SQLSTATEs that mean the schema is older than this binary:
   undefined function, table, column or object. */
static bool sqlstate_schema(const char *s)
{
    return strcmp(s, "42883") == 0 || strcmp(s, "42P01") == 0 ||
           strcmp(s, "42703") == 0 || strcmp(s, "42704") == 0 ||
           strcmp(s, "3F000") == 0;
}

crm_result spool_ingest(const crm_config *cfg, db_conn *db,
                        const char *const *names, guint n,
                        const spool_ingest_opts *opts, spool_replay_stats *st,
                        char **error_r)
{
    entry *es = g_new0(entry, n);
    ingest_plan **plans = g_new0(ingest_plan *, n);
    const crm_message **msgs = g_new0(const crm_message *, n);
    entry **batch = g_new0(entry *, n);
    guint k = 0;
    crm_result result = CRM_OK;
    for (guint i = 0; i < n; i++) {
        entry *e = &es[i];
        e->fd = -1;
        char *why = NULL;
        crm_result r = entry_load(cfg, names[i], opts, e, &why);
        if (r == CRM_ERR_NOTFOUND) {
            entry_clear(e);
            continue;
        }
        if (r) {
            spool_set_aside(cfg->spool_dir, names[i], why);
            st->bad++;
            g_free(why);
            entry_clear(e);
            continue;
        }
        if (e->plan->verdict == INGEST_SKIP_CAMPAIGN && e->plan->feedback) {
            g_autofree char *sum = NULL;
            char *ferr = NULL;
            crm_result fr = ingest_feedback_store(
                db, opts ? opts->timeout_ms : 0, e->plan, &sum, &ferr);
            if (fr) {
                /* kept in the journal: the next pass records it */
                log_warn("spool: file=%s campaign feedback not recorded: %s",
                         e->name, ferr ? ferr : crm_strerror(fr));
                g_free(ferr);
                st->left++;
                entry_clear(e);
                continue;
            }
            g_autofree char *o =
                g_strdup_printf("campaign %s feedback=%s",
                                e->plan->campaign_why, sum ? sum : "");
            log_outcome(e, o);
            remove_entry(cfg, e->name);
            st->skipped++;
            entry_clear(e);
            continue;
        }
        if (e->plan->verdict != INGEST_LOG) {
            g_autofree char *o = g_strdup_printf(
                "skipped reason=%s%s%s", ingest_verdict_name(e->plan->verdict),
                e->plan->campaign_why ? "/" : "",
                e->plan->campaign_why ? e->plan->campaign_why : "");
            log_outcome(e, o);
            remove_entry(cfg, e->name);
            st->skipped++;
            entry_clear(e);
            continue;
        }
        plans[k] = e->plan;
        msgs[k] = e->msg;
        batch[k++] = e;
    }
    if (k > 0) {
        ingest_result *res = g_new0(ingest_result, k);
        char **errs = g_new0(char *, k);
        char *err = NULL;
        crm_result r =
            ingest_store_batch(db, opts ? opts->timeout_ms : 0, plans, msgs, k,
                               true, res, errs, &err);
        if (r == CRM_ERR_DB && sqlstate_schema(db_last_sqlstate(db))) {
            result = CRM_ERR_CONFIG;
            *error_r = g_strdup_printf(
                "the database schema is older than this program (%s): run "
                "`crmgate migrate`",
                err ? err : "");
        } else if (r == CRM_ERR_DB &&
                   !sqlstate_transient(db_last_sqlstate(db))) {
            result = CRM_ERR_DB;
            *error_r = g_strdup(err ? err : crm_strerror(r));
        } else if (r) {
            result = CRM_ERR_DB_DOWN;
            *error_r = g_strdup(err ? err : crm_strerror(r));
        }
        g_free(err);
        for (guint i = 0; i < k; i++) {
            entry *e = batch[i];
            if (result) {
                st->left++;
            } else if (errs[i]) {
                guint tries = 1;
                if (opts && opts->attempts) {
                    tries = GPOINTER_TO_UINT(
                                g_hash_table_lookup(opts->attempts, e->name)) +
                            1;
                    g_hash_table_insert(opts->attempts, g_strdup(e->name),
                                        GUINT_TO_POINTER(tries));
                }
                guint max = opts && opts->max_attempts ? opts->max_attempts : 3;
                if (opts && opts->attempts && tries >= max) {
                    g_autofree char *why =
                        g_strdup_printf("the database rejected it %u times: %s",
                                        tries, errs[i]);
                    spool_set_aside(cfg->spool_dir, e->name, why);
                    g_hash_table_remove(opts->attempts, e->name);
                    st->bad++;
                } else {
                    log_warn("spool: file=%s not stored (attempt %u): %s",
                             e->name, tries, errs[i]);
                    st->left++;
                }
                g_free(errs[i]);
            } else {
                g_autofree char *fsum = NULL;
                if (e->plan->feedback) {
                    char *ferr = NULL;
                    if (ingest_feedback_store(db, opts ? opts->timeout_ms : 0,
                                              e->plan, &fsum, &ferr)) {
                        log_warn("spool: file=%s campaign feedback not "
                                 "recorded: %s",
                                 e->name, ferr ? ferr : "database error");
                        g_free(fsum);
                        fsum = NULL;
                    }
                    g_free(ferr);
                }
                g_autofree char *o = g_strdup_printf(
                    "stored new=%s%s%s links=%s%s%s",
                    res[i].is_new ? "yes" : "no", fsum ? " campaign=" : "",
                    fsum ? fsum : "",
                    res[i].links && *res[i].links ? res[i].links : "none",
                    res[i].tokens_ignored ? " tokens=ignored-" : "",
                    res[i].tokens_ignored ? res[i].tokens_ignored : "");
                log_outcome(e, o);
                remove_entry(cfg, e->name);
                if (opts && opts->attempts)
                    g_hash_table_remove(opts->attempts, e->name);
                st->replayed++;
            }
            ingest_result_clear(&res[i]);
        }
        g_free(res);
        g_free(errs);
    }
    for (guint i = 0; i < n; i++)
        if (es[i].name)
            entry_clear(&es[i]);
    g_free(es);
    g_free(plans);
    g_free(msgs);
    g_free(batch);
    return result;
}

void spool_remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    while ((e = readdir(d))) {
        if (!g_str_has_prefix(e->d_name, "tmp-"))
            continue;
        g_autofree char *p = g_build_filename(dir, e->d_name, NULL);
        struct stat sb;
        if (stat(p, &sb) == 0 && now - sb.st_mtime > 3600 && unlink(p) == 0)
            log_warn("spool: removed stale temporary file=%s", e->d_name);
    }
    closedir(d);
}

crm_result spool_replay(const crm_config *cfg, db_conn *db,
                        spool_replay_stats *st, char **error_r)
{
    memset(st, 0, sizeof(*st));
    spool_remove_stale(cfg->spool_dir);
    GPtrArray *names = spool_list(cfg->spool_dir, error_r);
    if (!names)
        return CRM_ERR_IO;
    crm_result r = CRM_OK;
    spool_ingest_opts opts = {.timeout_ms = 0};
    for (guint i = 0; i < names->len; i += SPOOL_BATCH) {
        guint n = MIN(SPOOL_BATCH, names->len - i);
        if (r) {
            st->left += n;
            continue;
        }
        r = spool_ingest(cfg, db, (const char *const *)names->pdata + i, n,
                         &opts, st, error_r);
    }
    g_ptr_array_unref(names);
    return r;
}
