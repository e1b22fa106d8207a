/*
 * auth.h - who is asking: passwords, web sessions, API tokens, CSRF
 * tokens and signed links.
 *
 * Passwords are libsodium argon2id strings. Session ids and API tokens
 * are 32 random bytes (base64url, 43 characters) that only the browser or
 * script holds; the database stores their SHA-256. Every comparison of a
 * secret is constant-time (sodium_memcmp). Signed links carry an
 * HMAC-SHA256 (GHmac) of their fields under web.secret.
 */
#ifndef CRMGATE_AUTH_H
#define CRMGATE_AUTH_H

#include <glib.h>
#include <stdbool.h>

#include "crmgate/db.h"
#include "crmgate/result.h"

/* The user a request acts as: id 0 = nobody. */
typedef struct {
    gint64 id;
    char *email;
    char *name;
    char *role; /* manager, operator, chief, admin */
    char *csrf; /* the session's form token (NULL for API tokens) */
} auth_viewer;

/* Frees the strings of v and zeroes it. */
void auth_viewer_clear(auth_viewer *v);

/* Initialises libsodium; false if it cannot be (the process must stop). */
bool auth_init(void);

/* An argon2id hash string of password, newly allocated; NULL when out of
   memory for the hash (libsodium's limit). */
char *auth_password_hash(const char *password);
/* True when password matches hash (constant time in the password). */
bool auth_password_verify(const char *hash, const char *password);

/* A new random token: 32 bytes, base64url without padding. */
char *auth_random_token(void);
/* SHA-256 of token into out. */
void auth_token_digest(const char *token, guint8 out[32]);
/* Constant-time equality of two strings (false if either is NULL). */
bool auth_equal(const char *a, const char *b);

/* HMAC-SHA256 of msg under secret, lowercase hex, newly allocated. */
char *auth_sign(const char *secret, const char *msg);
/* True when sig is auth_sign(secret, msg) (constant time). */
bool auth_sign_verify(const char *secret, const char *msg, const char *sig);

/* Sets the password of the user with the normalised address email_norm and
   deletes all their sessions, in one transaction. CRM_ERR_NOTFOUND when
   there is no such user. */
crm_result auth_set_password(db_conn *db, const char *email,
                             const char *password, char **error_r);

/* Creates an API token for the user; *token_r is the token (shown once). */
crm_result auth_token_add(db_conn *db, const char *email, const char *name,
                          char **token_r, gint64 *user_id_r, char **error_r);

typedef struct {
    guint ttl_s;       /* session lifetime */
    guint max_account; /* failures per account per window */
    guint max_addr;    /* failures per client address per window */
    guint window_s;
} auth_login_policy;

/* Checks email and password from client address addr. On success creates
   a session: *session_r is the cookie value, *v_r the user. CRM_ERR_USAGE
   for wrong credentials (the failure is recorded), CRM_ERR_BUSY when the
   account or the address is over its failure limit (nothing is checked
   then), CRM_ERR_DB* for the database. */
crm_result auth_login(db_conn *db, const auth_login_policy *pol,
                      const char *email, const char *password, const char *addr,
                      char **session_r, auth_viewer *v_r, char **error_r);
/* The viewer of a session cookie value; CRM_ERR_NOTFOUND when it is
   unknown, expired or its user inactive. */
crm_result auth_session(db_conn *db, const char *session, auth_viewer *v_r,
                        char **error_r);
/* Deletes the session. */
crm_result auth_logout(db_conn *db, const char *session, char **error_r);
/* The viewer of an API token; CRM_ERR_NOTFOUND when unknown or revoked. */
crm_result auth_bearer(db_conn *db, const char *token, auth_viewer *v_r,
                       char **error_r);

#endif
