/*
 * db.c - libpq with deadlines.
 *
 * Connection and queries use libpq's non-blocking interface with poll(), so
 * a database that hangs costs at most the caller's budget. On a timeout the
 * query is cancelled (from a detached thread: a frozen server never answers
 * a cancel request) and the connection closed: its state is unknown, and a
 * fresh connection is cheaper than reasoning about it.
 */
#include "crmgate/db.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>

#include "crmgate/log.h"

struct db_conn {
    char *dsn;
    PGconn *pg;
    char sqlstate[6];
};

db_conn *db_conn_new(const char *dsn)
{
    db_conn *c = g_new0(db_conn, 1);
    c->dsn = g_strdup(dsn);
    return c;
}

static void db_disconnect(db_conn *c)
{
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
}

void db_conn_free(db_conn **connp)
{
    db_conn *c = *connp;
    if (!c)
        return;
    db_disconnect(c);
    g_free(c->dsn);
    g_free(c);
    *connp = NULL;
}

const char *db_last_sqlstate(const db_conn *conn)
{
    return conn->sqlstate;
}

static gint64 deadline_of(guint timeout_ms)
{
    return timeout_ms ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : 0;
}

/* Waits until the socket is ready; false on timeout or error. */
static bool wait_socket(PGconn *pg, bool for_write, gint64 deadline)
{
    struct pollfd p = {.fd = PQsocket(pg),
                       .events = for_write ? POLLOUT : POLLIN};
    if (p.fd < 0)
        return false;
    for (;;) {
        int ms = -1;
        if (deadline) {
            gint64 left = deadline - g_get_monotonic_time();
            if (left <= 0)
                return false;
            ms = (int)((left + 999) / 1000);
        }
        int n = poll(&p, 1, ms);
        if (n > 0)
            return true;
        if (n == 0)
            return false;
        if (errno != EINTR)
            return false;
    }
}

/* Server notices ("relation exists, skipping") are for the debug log. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    g_autofree char *m = g_strchomp(g_strdup(message));
    log_debug("db: %s", m);
}

crm_result db_connect(db_conn *c, guint timeout_ms, char **error_r)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK) {
        /* A pooled connection may have been cut while idle (a server
           restart): reading notices that. The first read may return the
           server's FATAL message, the second sees the end of the stream. */
        for (int i = 0; i < 2 && PQstatus(c->pg) == CONNECTION_OK; i++) {
            if (!PQconsumeInput(c->pg))
                break;
        }
        if (PQstatus(c->pg) == CONNECTION_OK)
            return CRM_OK;
    }
    db_disconnect(c);
    gint64 deadline = deadline_of(timeout_ms);
    c->pg = PQconnectStart(c->dsn);
    if (!c->pg) {
        *error_r = g_strdup("out of memory connecting to the database");
        return CRM_ERR_DB_DOWN;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD)
        goto fail;
    for (;;) {
        PostgresPollingStatusType st = PQconnectPoll(c->pg);
        if (st == PGRES_POLLING_OK)
            break;
        if (st == PGRES_POLLING_FAILED)
            goto fail;
        if (!wait_socket(c->pg, st == PGRES_POLLING_WRITING, deadline)) {
            *error_r = g_strdup_printf("database connection timed out after "
                                       "%u ms",
                                       timeout_ms);
            db_disconnect(c);
            return CRM_ERR_DB_DOWN;
        }
    }
    if (PQsetnonblocking(c->pg, 1) != 0)
        goto fail;
    PQsetNoticeProcessor(c->pg, notice_to_log, NULL);
    return CRM_OK;
fail:
    *error_r = g_strdup_printf("cannot connect to the database: %s",
                               PQerrorMessage(c->pg));
    g_strchomp(*error_r);
    db_disconnect(c);
    return CRM_ERR_DB_DOWN;
}

/* A cancel request waits for the server to close its connection, and a
   frozen server (SIGSTOPped, a hung host) never does: PQcancel() would
   block the caller past its budget for as long as the freeze lasts. So
   it is sent from a detached thread, at most DB_CANCELS_MAX at a time
   (past that the connection is only closed; the server drops the query
   when it finds the client gone). */
#define DB_CANCELS_MAX 8
static gint cancels_running;

static gpointer cancel_thread(gpointer data)
{
    PGcancel *cancel = data;
    char buf[256];
    PQcancel(cancel, buf, sizeof(buf));
    PQfreeCancel(cancel);
    g_atomic_int_add(&cancels_running, -1);
    return NULL;
}

static void cancel_query(db_conn *c)
{
    PGcancel *cancel = PQgetCancel(c->pg);
    if (cancel && g_atomic_int_add(&cancels_running, 1) < DB_CANCELS_MAX) {
        GThread *t = g_thread_try_new("db-cancel", cancel_thread, cancel, NULL);
        if (t) {
            g_thread_unref(t);
            cancel = NULL;
        } else {
            g_atomic_int_add(&cancels_running, -1);
        }
    } else if (cancel) {
        g_atomic_int_add(&cancels_running, -1);
    }
    if (cancel)
        PQfreeCancel(cancel);
    db_disconnect(c);
}

static crm_result db_run(db_conn *c, guint timeout_ms, const char *sql, int n,
                         const char *const *values, const int *lengths,
                         const int *formats, bool simple, int result_format,
                         PGresult **res_r, char **error_r)
{
    gint64 deadline = deadline_of(timeout_ms);
    crm_result r;
    PGresult *last = NULL;

    *res_r = NULL;
    c->sqlstate[0] = '\0';
    r = db_connect(c, timeout_ms, error_r);
    if (r)
        return r;
    if (simple ? !PQsendQuery(c->pg, sql)
               : !PQsendQueryParams(c->pg, sql, n, NULL, values, lengths,
                                    formats, result_format))
        goto lost;
    for (;;) {
        int fl = PQflush(c->pg);
        if (fl < 0)
            goto lost;
        if (fl == 0)
            break;
        if (!wait_socket(c->pg, true, deadline))
            goto timeout;
    }
    for (;;) {
        while (PQisBusy(c->pg)) {
            if (!wait_socket(c->pg, false, deadline))
                goto timeout;
            if (!PQconsumeInput(c->pg))
                goto lost;
        }
        PGresult *res = PQgetResult(c->pg);
        if (!res)
            break;
        if (last)
            PQclear(last);
        last = res;
    }
    if (!last)
        goto lost;
    ExecStatusType st = PQresultStatus(last);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *res_r = last;
        return CRM_OK;
    }
    const char *state = PQresultErrorField(last, PG_DIAG_SQLSTATE);
    g_strlcpy(c->sqlstate, state ? state : "", sizeof(c->sqlstate));
    *error_r = g_strchomp(g_strdup(PQresultErrorMessage(last)));
    PQclear(last);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        db_disconnect(c);
        return CRM_ERR_DB_DOWN;
    }
    /* Class 08 (connection) and 57P (shutdown) mean the server went away. */
    if (strncmp(c->sqlstate, "08", 2) == 0 ||
        strncmp(c->sqlstate, "57P", 3) == 0) {
        db_disconnect(c);
        return CRM_ERR_DB_DOWN;
    }
    return CRM_ERR_DB;
timeout:
    if (last)
        PQclear(last);
    cancel_query(c);
    *error_r =
        g_strdup_printf("database query timed out after %u ms", timeout_ms);
    return CRM_ERR_DB_DOWN;
lost:
    if (last)
        PQclear(last);
    *error_r = g_strdup_printf("database connection lost: %s",
                               c->pg ? PQerrorMessage(c->pg) : "");
    g_strchomp(*error_r);
    db_disconnect(c);
    return CRM_ERR_DB_DOWN;
}

crm_result db_query(db_conn *c, guint timeout_ms, const char *sql, int n,
                    const char *const *values, const int *lengths,
                    const int *formats, PGresult **res_r, char **error_r)
{
    return db_run(c, timeout_ms, sql, n, values, lengths, formats, false, 0,
                  res_r, error_r);
}

crm_result db_query_blob(db_conn *c, guint timeout_ms, const char *sql, int n,
                         const char *const *values, const char *what,
                         char **text_r, GBytes **bytes_r, char **error_r)
{
    PGresult *res = NULL;
    *text_r = NULL;
    *bytes_r = NULL;
    /* binary results: the bytes as they are, not bytea's hex text (twice
       their size, then a decoded copy) */
    crm_result r = db_run(c, timeout_ms, sql, n, values, NULL, NULL, false, 1,
                          &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) == 0 || PQnfields(res) < 2 || PQgetisnull(res, 0, 1)) {
        PQclear(res);
        *error_r = g_strdup_printf("no such %s", what);
        return CRM_ERR_NOTFOUND;
    }
    *text_r = g_strndup(PQgetvalue(res, 0, 0), (gsize)PQgetlength(res, 0, 0));
    *bytes_r =
        g_bytes_new(PQgetvalue(res, 0, 1), (gsize)PQgetlength(res, 0, 1));
    PQclear(res);
    return CRM_OK;
}

crm_result db_exec_script(db_conn *c, const char *sql, char **error_r)
{
    PGresult *res = NULL;
    crm_result r =
        db_run(c, 0, sql, 0, NULL, NULL, NULL, true, 0, &res, error_r);
    if (res)
        PQclear(res);
    return r;
}

crm_result db_query_json(db_conn *conn, guint timeout_ms, const char *sql,
                         int n, const char *const *values, const int *lengths,
                         const int *formats, json_t **out_r, char **error_r)
{
    PGresult *res = NULL;
    *out_r = NULL;
    crm_result r = db_query(conn, timeout_ms, sql, n, values, lengths, formats,
                            &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        json_error_t jerr;
        *out_r = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
        if (!*out_r) {
            *error_r =
                g_strdup_printf("bad JSON from the database: %s", jerr.text);
            r = CRM_ERR_DB;
        }
    }
    PQclear(res);
    return r;
}

crm_result db_exec(db_conn *c, guint timeout_ms, const char *sql, int n,
                   const char *const *values, char **error_r)
{
    PGresult *res = NULL;
    crm_result r =
        db_query(c, timeout_ms, sql, n, values, NULL, NULL, &res, error_r);
    if (res)
        PQclear(res);
    return r;
}
