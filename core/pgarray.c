/*
 * pgarray.c - PostgreSQL binary array parameters (array_recv's format).
 *
 * Layout, all integers big-endian: ndim (int32: 0 for an empty array, else
 * 1), has-nulls flag (int32), element type OID (int32), then for the one
 * dimension its size and lower bound 1 (int32 each), then per element its
 * length (int32, -1 for NULL) and its bytes in the element's binary form
 * (text: the bytes; int8: 8 bytes big-endian). Elements are kept as they
 * come; the header is put in front when the value is asked for.
 */
#include "crmgate/pgarray.h"

#include <stdbool.h>
#include <string.h>

#define OID_TEXT 25
#define OID_INT8 20

struct pgarray {
    pgarray_type type;
    guint n;
    bool has_null;
    GByteArray *elems; /* length-prefixed elements */
    GByteArray *out;   /* header + elems, built by pgarray_bytes */
};

static void put_be32(GByteArray *b, guint32 v)
{
    guint32 be = GUINT32_TO_BE(v);
    g_byte_array_append(b, (const guint8 *)&be, sizeof(be));
}

pgarray *pgarray_new(pgarray_type type)
{
    pgarray *a = g_new0(pgarray, 1);
    a->type = type;
    a->elems = g_byte_array_new();
    a->out = g_byte_array_new();
    return a;
}

void pgarray_free(pgarray **ap)
{
    pgarray *a = *ap;
    if (!a)
        return;
    g_byte_array_unref(a->elems);
    g_byte_array_unref(a->out);
    g_free(a);
    *ap = NULL;
}

void pgarray_append_text(pgarray *a, const char *s)
{
    g_return_if_fail(a->type == PGARRAY_TEXT);
    if (s == NULL) {
        put_be32(a->elems, 0xFFFFFFFFu); /* -1: NULL */
        a->has_null = true;
    } else {
        gsize len = strlen(s);
        g_return_if_fail(len <= G_MAXINT32);
        put_be32(a->elems, (guint32)len);
        g_byte_array_append(a->elems, (const guint8 *)s, (guint)len);
    }
    a->n++;
}

void pgarray_append_int8(pgarray *a, gint64 v)
{
    g_return_if_fail(a->type == PGARRAY_INT8);
    put_be32(a->elems, 8);
    guint64 be = GUINT64_TO_BE((guint64)v);
    g_byte_array_append(a->elems, (const guint8 *)&be, sizeof(be));
    a->n++;
}

guint pgarray_len(const pgarray *a)
{
    return a->n;
}

const char *pgarray_bytes(pgarray *a, int *length_r)
{
    g_byte_array_set_size(a->out, 0);
    put_be32(a->out, a->n > 0 ? 1 : 0);
    put_be32(a->out, a->has_null ? 1 : 0);
    put_be32(a->out, a->type == PGARRAY_TEXT ? OID_TEXT : OID_INT8);
    if (a->n > 0) {
        put_be32(a->out, a->n);
        put_be32(a->out, 1); /* lower bound */
        g_byte_array_append(a->out, a->elems->data, a->elems->len);
    }
    *length_r = (int)a->out->len;
    return (const char *)a->out->data;
}
