/*
 * spool.c - fsync'd spool of captures that could not be stored yet.
 *
 * File name: <unix-usec>-<pid>-<seq>.msg, so a sorted listing is oldest
 * first. Temporary files start with "tmp-" and are ignored by replay; a
 * crash can leave one behind, and replay removes those older than an hour.
 * The envelope line is bounded to 1 MiB.
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

#define ENVELOPE_MAX (1024 * 1024)
#define COPY_CHUNK 65536

static gint spool_seq;

static char *envelope_json(const ingest_envelope *env)
{
    json_t *o = json_pack(
        "{s:i,s:s?,s:s?,s:s?,s:s?,s:b,s:I}", "v", 1, "queue_id", env->queue_id,
        "envelope_from", env->envelope_from, "auth_authen", env->auth_authen,
        "daemon_name", env->daemon_name, "non_smtpd", env->non_smtpd,
        "spooled_at", (json_int_t)(g_get_real_time() / G_USEC_PER_SEC));
    json_t *rc = json_array();
    for (guint i = 0; env->envelope_rcpts && i < env->envelope_rcpts->len;
         i++) {
        g_autofree char *r =
            g_utf8_make_valid(g_ptr_array_index(env->envelope_rcpts, i), -1);
        json_array_append_new(rc, json_string(r));
    }
    json_object_set_new(o, "envelope_rcpts", rc);
    if (env->direction != INGEST_DIR_AUTO)
        json_object_set_new(
            o, "direction",
            json_string(env->direction == INGEST_DIR_IN ? "in" : "out"));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

crm_result spool_write(const char *dir, const ingest_envelope *env,
                       const char *data, gsize len, int fd, char **path_r,
                       char **error_r)
{
    *path_r = NULL;
    if (g_mkdir_with_parents(dir, 0750) != 0) {
        *error_r = g_strdup_printf("spool %s: %s", dir, g_strerror(errno));
        return CRM_ERR_IO;
    }
    g_autofree char *name =
        g_strdup_printf("%016" G_GINT64_FORMAT "-%d-%d.msg", g_get_real_time(),
                        (int)getpid(), g_atomic_int_add(&spool_seq, 1));
    g_autofree char *tmp = g_strdup_printf("%s/tmp-%s", dir, name);
    char *final = g_strdup_printf("%s/%s", dir, name);
    char *envline = envelope_json(env);
    int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    bool ok = out >= 0;
    if (ok)
        ok = io_write_all(out, envline, strlen(envline)) &&
             io_write_all(out, "\n", 1);
    free(envline);
    if (ok && data) {
        ok = io_write_all(out, data, len);
    } else if (ok) {
        char *buf = g_malloc(COPY_CHUNK);
        off_t off = 0;
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
    }
    if (ok)
        ok = fsync(out) == 0;
    int saved = errno;
    if (out >= 0 && close(out) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, final) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        *error_r =
            g_strdup_printf("spool write %s: %s", tmp, g_strerror(saved));
        g_free(final);
        return CRM_ERR_IO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    *path_r = final;
    return CRM_OK;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the waiting files of dir, sorted (oldest first). */
static GPtrArray *list_files(const char *dir, char **error_r)
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
        if (g_str_has_suffix(e->d_name, ".msg") &&
            !g_str_has_prefix(e->d_name, "tmp-"))
            g_ptr_array_add(names, g_strdup(e->d_name));
    }
    closedir(d);
    g_ptr_array_sort(names, compare_names);
    return names;
}

crm_result spool_status(const char *dir, spool_stats *st, char **error_r)
{
    memset(st, 0, sizeof(*st));
    GPtrArray *names = list_files(dir, error_r);
    if (!names)
        return CRM_ERR_IO;
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *p =
            g_build_filename(dir, g_ptr_array_index(names, i), NULL);
        struct stat sb;
        if (stat(p, &sb) != 0)
            continue;
        st->files++;
        st->bytes += (guint64)sb.st_size;
        if (!st->oldest || sb.st_mtime < st->oldest)
            st->oldest = sb.st_mtime;
    }
    g_ptr_array_unref(names);
    g_autofree char *bad = g_build_filename(dir, "bad", NULL);
    GPtrArray *badn = list_files(bad, error_r);
    if (badn) {
        st->bad = badn->len;
        g_ptr_array_unref(badn);
    }
    return CRM_OK;
}

static void set_aside(const char *dir, const char *name, const char *why)
{
    g_autofree char *bad = g_build_filename(dir, "bad", NULL);
    g_autofree char *from = g_build_filename(dir, name, NULL);
    g_autofree char *to = g_build_filename(bad, name, NULL);
    g_mkdir_with_parents(bad, 0750);
    if (rename(from, to) != 0)
        log_error("spool: cannot move file=%s to bad/: %s", name,
                  g_strerror(errno));
    else
        log_error("spool: set aside file=%s reason=\"%s\"", name, why);
}

/* Reads the envelope line of an open spool file; returns the offset of the
   message after it, or -1. */
static gint64 read_envelope(int fd, json_t **env_r)
{
    GString *line = g_string_new(NULL);
    char buf[4096];
    off_t off = 0;
    gint64 msg_off = -1;
    while (line->len < ENVELOPE_MAX && msg_off < 0) {
        ssize_t n = pread(fd, buf, sizeof(buf), off);
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
    return *env_r ? msg_off : -1;
}

/* Replays one locked file. CRM_OK: stored or skipped, remove it. */
static crm_result replay_one(const crm_config *cfg, db_conn *db, int fd,
                             const char *name, spool_replay_stats *st,
                             char **error_r)
{
    json_t *ej = NULL;
    gint64 off = read_envelope(fd, &ej);
    if (off < 0) {
        *error_r = g_strdup("unreadable envelope line");
        return CRM_ERR_PARSE;
    }
    g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ej, "envelope_rcpts"), i, v)
    {
        if (json_is_string(v))
            g_ptr_array_add(rcpts, (gpointer)json_string_value(v));
    }
    const char *dir = json_string_value(json_object_get(ej, "direction"));
    ingest_envelope env = {
        .source = "replay",
        .queue_id = json_string_value(json_object_get(ej, "queue_id")),
        .envelope_from =
            json_string_value(json_object_get(ej, "envelope_from")),
        .envelope_rcpts = rcpts,
        .auth_authen = json_string_value(json_object_get(ej, "auth_authen")),
        .daemon_name = json_string_value(json_object_get(ej, "daemon_name")),
        .non_smtpd = json_is_true(json_object_get(ej, "non_smtpd")),
        .direction = !dir                      ? INGEST_DIR_AUTO
                     : strcmp(dir, "out") == 0 ? INGEST_DIR_OUT
                                               : INGEST_DIR_IN,
    };
    message_limits lim;
    ingest_message_limits(cfg, &lim);
    crm_message *msg = NULL;
    crm_result r = message_parse_fd(fd, off, &lim, &msg);
    if (r) {
        json_decref(ej);
        *error_r = g_strdup_printf("message: %s", crm_strerror(r));
        return CRM_ERR_PARSE;
    }
    ingest_plan *plan = ingest_plan_new(cfg, &env, msg);
    ingest_result res;
    r = ingest_store(db, cfg->db_time_budget_ms * 5, plan, msg, &res, error_r);
    if (!r) {
        if (plan->verdict == INGEST_LOG) {
            st->replayed++;
            log_info("spool: replayed file=%s queue_id=%s message_id=<%s> "
                     "row=%" G_GINT64_FORMAT " links=%s",
                     name, env.queue_id ? env.queue_id : "-",
                     msg->message_id ? msg->message_id : "", res.message_row,
                     res.links && *res.links ? res.links : "none");
        } else {
            st->skipped++;
        }
        ingest_result_clear(&res);
    } else if (r == CRM_ERR_DB) {
        /* The database rejected this document: keep it aside, go on. */
        r = CRM_ERR_PARSE;
    }
    ingest_plan_free(&plan);
    message_free(&msg);
    json_decref(ej);
    return r;
}

/* Removes temporary files a crash left behind (older than an hour: a
   spool write in progress is never that old). */
static void remove_stale_tmp(const char *dir)
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
    const char *dir = cfg->spool_dir;
    remove_stale_tmp(dir);
    GPtrArray *names = list_files(dir, error_r);
    if (!names)
        return CRM_ERR_IO;
    crm_result result = CRM_OK;
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (result) {
            st->left++;
            continue;
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* taken by another replayer */
        struct stat sb = {0};
        if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &sb) != 0 ||
            sb.st_nlink == 0) {
            close(fd);
            st->left += sb.st_nlink ? 1 : 0;
            continue;
        }
        char *err = NULL;
        crm_result r = replay_one(cfg, db, fd, name, st, &err);
        if (r == CRM_OK) {
            unlink(path);
        } else if (r == CRM_ERR_PARSE) {
            set_aside(dir, name, err ? err : "unreadable");
            st->bad++;
        } else {
            st->left++;
            result = r;
            *error_r = err;
            err = NULL;
        }
        g_free(err);
        close(fd);
    }
    g_ptr_array_unref(names);
    return result;
}
