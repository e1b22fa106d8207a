/*
 * test_pgarray.c - binary array parameters as the real PostgreSQL reads
 * them (CRMGATE_TEST_DSN): elements with every character an array literal
 * would need quoted, NULLs, the empty array and bigints.
 */
#include <glib.h>
#include <string.h>

#include "crmgate/db.h"
#include "crmgate/pgarray.h"

static db_conn *db;

/* Runs sql with a as $1 (binary) and returns the first value (g_free). */
static char *one(const char *sql, pgarray *a)
{
    int len = 0;
    const int fmt = 1;
    const char *v = pgarray_bytes(a, &len);
    PGresult *res = NULL;
    char *err = NULL;
    crm_result r = db_query(db, 5000, sql, 1, &v, &len, &fmt, &res, &err);
    if (r)
        g_error("%s: %s", sql, err);
    char *out = g_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

static void test_text(void)
{
    if (!db) {
        g_test_skip("no CRMGATE_TEST_DSN");
        return;
    }
    static const char *const elems[] = {
        "plain", "a,b",  "{braces}", "quote \" inside", "back\\slash",
        "",      "NULL", " spaced ", "new\nline",       "ünï"};
    pgarray *a = pgarray_new(PGARRAY_TEXT);
    for (size_t i = 0; i < G_N_ELEMENTS(elems); i++)
        pgarray_append_text(a, elems[i]);
    pgarray_append_text(a, NULL);
    g_assert_cmpuint(pgarray_len(a), ==, G_N_ELEMENTS(elems) + 1);
    g_autofree char *n = one("SELECT cardinality($1::text[])", a);
    g_assert_cmpstr(n, ==, "11");
    for (size_t i = 0; i < G_N_ELEMENTS(elems); i++) {
        g_autofree char *sql =
            g_strdup_printf("SELECT ($1::text[])[%zu]", i + 1);
        g_autofree char *got = one(sql, a);
        g_assert_cmpstr(got, ==, elems[i]);
    }
    g_autofree char *null = one("SELECT ($1::text[])[11] IS NULL", a);
    g_assert_cmpstr(null, ==, "t");
    /* the same array can be sent again */
    g_autofree char *again = one("SELECT cardinality($1::text[])", a);
    g_assert_cmpstr(again, ==, "11");
    pgarray_free(&a);
    g_assert_null(a);
}

static void test_empty_and_int8(void)
{
    if (!db) {
        g_test_skip("no CRMGATE_TEST_DSN");
        return;
    }
    pgarray *e = pgarray_new(PGARRAY_TEXT);
    g_autofree char *n = one("SELECT cardinality($1::text[])", e);
    g_assert_cmpstr(n, ==, "0");
    pgarray *i = pgarray_new(PGARRAY_INT8);
    pgarray_append_int8(i, 1);
    pgarray_append_int8(i, -42);
    pgarray_append_int8(i, G_MAXINT64);
    g_autofree char *s = one("SELECT array_to_string($1::bigint[], ' ')", i);
    g_assert_cmpstr(s, ==, "1 -42 9223372036854775807");
    pgarray_free(&e);
    pgarray_free(&i);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *dsn = g_getenv("CRMGATE_TEST_DSN");
    if (dsn && *dsn) {
        db = db_conn_new(dsn);
        char *err = NULL;
        if (db_connect(db, 5000, &err))
            g_error("CRMGATE_TEST_DSN: %s", err);
    }
    g_test_add_func("/pgarray/text", test_text);
    g_test_add_func("/pgarray/empty-and-int8", test_empty_and_int8);
    int rc = g_test_run();
    db_conn_free(&db);
    return rc;
}
