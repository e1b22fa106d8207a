/*
 * pgarray.h - one-dimensional text[] and int8[] query parameters in
 * PostgreSQL's binary array format, so no array literal ("{a,b}") is ever
 * built from data: elements need no quoting and may hold any byte but NUL.
 *
 * Usage: a = pgarray_new(PGARRAY_TEXT); pgarray_append_text(a, s) ...;
 * then pass values[i] = pgarray_bytes(a, &lengths[i]), formats[i] = 1 to
 * db_query() with the parameter cast in SQL ($1::text[] / $1::bigint[]).
 */
#ifndef CRMGATE_PGARRAY_H
#define CRMGATE_PGARRAY_H

#include <glib.h>

typedef enum {
    PGARRAY_TEXT, /* text[] (element OID 25) */
    PGARRAY_INT8, /* bigint[] (element OID 20) */
} pgarray_type;

typedef struct pgarray pgarray;

/* Returns a new empty array of type. */
pgarray *pgarray_new(pgarray_type type);
/* Frees *ap and clears the pointer. */
void pgarray_free(pgarray **ap);
/* Appends a text element (copied); NULL appends an SQL NULL. For a
   PGARRAY_TEXT array only. */
void pgarray_append_text(pgarray *a, const char *s);
/* Appends a bigint element. For a PGARRAY_INT8 array only. */
void pgarray_append_int8(pgarray *a, gint64 v);
/* How many elements were appended. */
guint pgarray_len(const pgarray *a);
/* The parameter value in binary format (format 1) and its length; borrowed,
   valid until the next append or pgarray_free. */
const char *pgarray_bytes(pgarray *a, int *length_r);

#endif
