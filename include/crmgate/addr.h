/*
 * addr.h - address normalisation, capture tokens and subject tickets.
 *
 * A normalised address is "local@domain" in lower case with the domain in
 * its ASCII (IDNA) form, at most 254 bytes: the one form stored in every
 * *_norm column and compared everywhere.
 */
#ifndef CRMGATE_ADDR_H
#define CRMGATE_ADDR_H

#include <glib.h>
#include <stdbool.h>

/* Returns the normalised form of an address (angle brackets and spaces
   around it are dropped), newly allocated; NULL when it is not a usable
   address (no '@', an empty part, too long, bad domain). */
char *addr_normalize(const char *address);

/* Returns the domain of a normalised address (borrowed), or "". */
const char *addr_domain(const char *norm);

/* Returns a normalised domain (IDNA to ASCII, lower case), or NULL. */
char *addr_normalize_domain(const char *domain);

typedef enum {
    TOKEN_NONE = 0, /* the plain capture address: log, link nothing */
    TOKEN_DEAL,
    TOKEN_CONTACT,
    TOKEN_LEAD,
    TOKEN_COMPANY,
    TOKEN_REQUEST,
} capture_token_type;

typedef struct {
    capture_token_type type;
    gint64 id;
} capture_token;

/* True when norm is the capture address (local[+token]@capture_domain);
   fills *tok_r with the token ("crm+deal-42" -> deal 42; "crm" -> NONE).
   An unknown or malformed token still counts as a capture address (it is
   removed from delivery) with type TOKEN_NONE. */
bool addr_capture_token(const char *norm, const char *capture_local,
                        const char *capture_domain, capture_token *tok_r);

/* The record type name of a token type ("deal", ...), NULL for NONE. */
const char *addr_token_type_name(capture_token_type type);

/* Finds "[ticket:XXXX]" (case-insensitive keyword, 1-32 letters and digits)
   in subject; returns the ticket newly allocated, or NULL. */
char *addr_subject_ticket(const char *subject);

/* Splits a display name into first and last name (newly allocated). */
void addr_split_name(const char *name, char **first_r, char **last_r);

#endif
