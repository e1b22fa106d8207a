/*
 * records.h - CRM records from the command line and scripts: staff,
 * companies, contacts, deals, contact import/export, and record timelines.
 *
 * Every function returns the new or found record as a JSON object built by
 * PostgreSQL (to_jsonb of the row), so the CLI prints exactly what is
 * stored. Addresses are normalised here, with addr_normalize().
 */
#ifndef CRMGATE_RECORDS_H
#define CRMGATE_RECORDS_H

#include <glib.h>
typedef struct json_t json_t; /* jansson's; only pointers here */
#include <stdio.h>

#include "crmgate/db.h"
#include "crmgate/result.h"

typedef struct {
    const char *email;
    const char *name;
    const char *role;      /* manager, operator, chief, admin */
    const char *extension; /* PBX extension; may be NULL */
} records_user;

typedef struct {
    const char *name;
    const char *const *domains; /* NULL-terminated; may be NULL */
    const char *website;
    const char *owner; /* user address; may be NULL */
} records_company;

typedef struct {
    const char *email;
    const char *first_name;
    const char *last_name;
    const char *title;
    const char *phone;
    const char *company;     /* company name: found or created; may be NULL */
    gint64 company_id;       /* or its id; 0 = none */
    const char *owner;       /* user address; may be NULL */
    const char *country;     /* two-letter code; may be NULL */
    const char *const *tags; /* NULL-terminated; may be NULL */
    /* phone's default country when country is not given
       (voip.default_country); may be NULL */
    const char *phone_country;
} records_contact;

typedef struct {
    const char *name;
    gint64 contact_id; /* 0 = none */
    gint64 company_id; /* 0 = the contact's company, if any */
    const char *amount;
    const char *currency;
    const char *stage;  /* stage name; NULL = the default stage */
    const char *ticket; /* NULL = generated */
    const char *owner;
} records_deal;

crm_result records_user_add(db_conn *db, const records_user *u, json_t **rec_r,
                            char **error_r);
crm_result records_company_add(db_conn *db, const records_company *c,
                               json_t **rec_r, char **error_r);
crm_result records_contact_add(db_conn *db, const records_contact *c,
                               json_t **rec_r, char **error_r);
crm_result records_deal_add(db_conn *db, const records_deal *d, json_t **rec_r,
                            char **error_r);

/* Imports contacts from CSV with a header row naming the columns (email,
   first_name, last_name, name, title, phone, company, owner; others are
   ignored). Rows without a usable email are reported and skipped; a row
   whose email is already a contact is skipped. Counts go to the _r values;
   problems per row are appended to problems (strings). Phones are stored
   as given and normalised (records_contact_add) with the row's country,
   else phone_country. */
crm_result records_import_contacts(db_conn *db, const char *phone_country,
                                   FILE *csv, guint *added_r, guint *skipped_r,
                                   GPtrArray *problems, char **error_r);

/* All contacts as a JSON array, oldest first. */
crm_result records_export_contacts(db_conn *db, json_t **arr_r, char **error_r);

/* The timeline of target: an address, or contact:ID, company:ID, deal:ID,
   lead:ID, request:ID. Returns {"target": ..., "messages": [...]} newest
   first, at most limit messages. CRM_ERR_USAGE for a malformed target. */
crm_result records_timeline(db_conn *db, const char *target, guint limit,
                            json_t **out_r, char **error_r);

/* Runs sql (parameters as for db_query) returning one JSON value in the
   first column of one row; *out_r is NULL when there was no row. */
crm_result records_query_json(db_conn *db, const char *sql, int n,
                              const char *const *values, json_t **out_r,
                              char **error_r);

#endif
