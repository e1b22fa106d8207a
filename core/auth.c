/*
 * auth.c - passwords (argon2id), sessions and API tokens (stored as
 * SHA-256), failed-login limits, and HMAC-signed links. See auth.h.
 *
 * Every secret is compared in constant time; a login for an unknown
 * account still costs one argon2id verification, so timing does not tell
 * which accounts exist.
 */
#include "crmgate/auth.h"

#include <sodium.h>
#include <string.h>

#include "crmgate/addr.h"

#define TOKEN_BYTES 32

void auth_viewer_clear(auth_viewer *v)
{
    g_free(v->email);
    g_free(v->name);
    g_free(v->role);
    g_free(v->csrf);
    memset(v, 0, sizeof(*v));
}

bool auth_init(void)
{
    return sodium_init() >= 0;
}

char *auth_password_hash(const char *password)
{
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password, strlen(password),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return NULL;
    return g_strdup(out);
}

bool auth_password_verify(const char *hash, const char *password)
{
    if (!hash || !password || strlen(hash) >= crypto_pwhash_STRBYTES)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

char *auth_random_token(void)
{
    unsigned char raw[TOKEN_BYTES];
    randombytes_buf(raw, sizeof(raw));
    char out[sodium_base64_ENCODED_LEN(
        TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(out, sizeof(out), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    return g_strdup(out);
}

void auth_token_digest(const char *token, guint8 out[32])
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(c, (const guchar *)token, (gssize)strlen(token));
    gsize len = 32;
    g_checksum_get_digest(c, out, &len);
    g_checksum_free(c);
}

bool auth_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    gsize la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false;
    return sodium_memcmp(a, b, la) == 0;
}

char *auth_sign(const char *secret, const char *msg)
{
    return g_compute_hmac_for_string(G_CHECKSUM_SHA256, (const guchar *)secret,
                                     strlen(secret), msg, -1);
}

bool auth_sign_verify(const char *secret, const char *msg, const char *sig)
{
    if (!secret || !*secret || !sig)
        return false;
    g_autofree char *want = auth_sign(secret, msg);
    return auth_equal(want, sig);
}

/* A token's digest as a bytea parameter (binary format). */
typedef struct {
    guint8 d[32];
} digest;

crm_result auth_set_password(db_conn *db, const char *email,
                             const char *password, char **error_r)
{
    g_autofree char *norm = addr_normalize(email);
    if (!norm) {
        *error_r = g_strdup_printf("'%s' is not a valid address", email);
        return CRM_ERR_USAGE;
    }
    g_autofree char *hash = auth_password_hash(password);
    if (!hash) {
        *error_r = g_strdup("cannot hash the password (out of memory)");
        return CRM_ERR_INTERNAL;
    }
    const char *v[] = {norm, hash};
    PGresult *res = NULL;
    crm_result r = db_query(
        db, 0,
        "WITH u AS (UPDATE users SET password_hash = $2, "
        "password_changed_at = now() WHERE email_norm = $1 RETURNING id), "
        "d AS (DELETE FROM web_sessions WHERE user_id IN (SELECT id FROM u)) "
        "SELECT id FROM u",
        2, v, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) == 0) {
        *error_r = g_strdup_printf("no user %s", norm);
        r = CRM_ERR_NOTFOUND;
    }
    PQclear(res);
    return r;
}

crm_result auth_token_add(db_conn *db, const char *email, const char *name,
                          char **token_r, gint64 *user_id_r, char **error_r)
{
    *token_r = NULL;
    g_autofree char *norm = addr_normalize(email);
    if (!norm) {
        *error_r = g_strdup_printf("'%s' is not a valid address", email);
        return CRM_ERR_USAGE;
    }
    char *token = auth_random_token();
    digest d;
    auth_token_digest(token, d.d);
    const char *v[] = {norm, (const char *)d.d, name ? name : ""};
    int len[] = {0, 32, 0}, fmt[] = {0, 1, 0};
    PGresult *res = NULL;
    crm_result r =
        db_query(db, 0,
                 "INSERT INTO api_tokens (user_id, token_hash, name) "
                 "SELECT id, $2, $3 FROM users WHERE email_norm = $1 "
                 "AND active RETURNING user_id",
                 3, v, len, fmt, &res, error_r);
    if (r) {
        g_free(token);
        return r;
    }
    if (PQntuples(res) == 0) {
        *error_r = g_strdup_printf("no active user %s", norm);
        g_free(token);
        PQclear(res);
        return CRM_ERR_NOTFOUND;
    }
    if (user_id_r)
        *user_id_r = g_ascii_strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    *token_r = token;
    return CRM_OK;
}

static void viewer_from(PGresult *res, auth_viewer *v)
{
    v->id = g_ascii_strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    v->email = g_strdup(PQgetvalue(res, 0, 1));
    v->name = g_strdup(PQgetvalue(res, 0, 2));
    v->role = g_strdup(PQgetvalue(res, 0, 3));
    v->csrf = PQgetisnull(res, 0, 4) ? NULL : g_strdup(PQgetvalue(res, 0, 4));
}

/* A hash for unknown accounts, so they cost what known ones cost. */
static const char *dummy_hash(void)
{
    static gsize once;
    static char *hash;
    if (g_once_init_enter(&once)) {
        hash = auth_password_hash("crmgate: no such account");
        g_once_init_leave(&once, 1);
    }
    return hash;
}

static crm_result record_failure(db_conn *db, const char *norm,
                                 const char *addr, guint window_s,
                                 char **error_r)
{
    g_autofree char *win = g_strdup_printf("%u", window_s);
    const char *v[] = {norm, addr, win};
    return db_exec(
        db, 0,
        "WITH old AS (DELETE FROM login_failures WHERE at < now() - "
        "$3::int * interval '1 second') "
        "INSERT INTO login_failures (kind, key) VALUES ('account', $1), "
        "('addr', $2)",
        3, v, error_r);
}

crm_result auth_login(db_conn *db, const auth_login_policy *pol,
                      const char *email, const char *password, const char *addr,
                      char **session_r, auth_viewer *v_r, char **error_r)
{
    *session_r = NULL;
    memset(v_r, 0, sizeof(*v_r));
    g_autofree char *norm = email ? addr_normalize(email) : NULL;
    const char *key = norm ? norm : "";
    g_autofree char *win = g_strdup_printf("%u", pol->window_s);
    const char *v[] = {key, addr ? addr : "", win};
    PGresult *res = NULL;
    crm_result r = db_query(
        db, 0,
        "SELECT (SELECT count(*) FROM login_failures WHERE kind = 'account' "
        "AND key = $1 AND at > now() - $3::int * interval '1 second'), "
        "(SELECT count(*) FROM login_failures WHERE kind = 'addr' AND key = $2 "
        "AND at > now() - $3::int * interval '1 second'), "
        "(SELECT password_hash FROM users WHERE email_norm = $1 AND active)",
        3, v, NULL, NULL, &res, error_r);
    if (r)
        return r;
    guint64 by_account = g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    guint64 by_addr = g_ascii_strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    g_autofree char *hash =
        PQgetisnull(res, 0, 2) ? NULL : g_strdup(PQgetvalue(res, 0, 2));
    PQclear(res);
    if (by_account >= pol->max_account || by_addr >= pol->max_addr) {
        *error_r = g_strdup("too many failed logins; try again later");
        return CRM_ERR_BUSY;
    }
    bool good = auth_password_verify(hash ? hash : dummy_hash(),
                                     password ? password : "") &&
                hash && norm;
    if (!good) {
        r = record_failure(db, key, addr ? addr : "", pol->window_s, error_r);
        if (r)
            return r;
        *error_r = g_strdup("wrong address or password");
        return CRM_ERR_USAGE;
    }
    char *session = auth_random_token();
    g_autofree char *csrf = auth_random_token();
    digest d;
    auth_token_digest(session, d.d);
    g_autofree char *ttl = g_strdup_printf("%u", pol->ttl_s);
    const char *sv[] = {(const char *)d.d, norm, csrf, ttl, addr ? addr : ""};
    int len[] = {32, 0, 0, 0, 0}, fmt[] = {1, 0, 0, 0, 0};
    r = db_query(db, 0,
                 "WITH f AS (DELETE FROM login_failures WHERE kind = 'account' "
                 "AND key = $2), "
                 "x AS (DELETE FROM web_sessions WHERE expires_at < now()), "
                 "s AS (INSERT INTO web_sessions (id_hash, user_id, csrf, "
                 "expires_at, addr) SELECT $1, id, $3, now() + $4::int * "
                 "interval '1 second', $5 FROM users WHERE email_norm = $2 "
                 "RETURNING user_id, csrf) "
                 "SELECT u.id, u.email, u.name, u.role, s.csrf FROM s "
                 "JOIN users u ON u.id = s.user_id",
                 5, sv, len, fmt, &res, error_r);
    if (r) {
        g_free(session);
        return r;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        g_free(session);
        *error_r = g_strdup("the account went away during login");
        return CRM_ERR_USAGE;
    }
    viewer_from(res, v_r);
    PQclear(res);
    *session_r = session;
    return CRM_OK;
}

/* The viewer a token (a session id or an API token) names: sql takes its
   SHA-256 as $1 and returns id, email, name, role, csrf. */
static crm_result lookup_viewer(db_conn *db, const char *token, const char *sql,
                                auth_viewer *v_r, char **error_r)
{
    memset(v_r, 0, sizeof(*v_r));
    if (!token || strlen(token) != 43)
        return CRM_ERR_NOTFOUND;
    digest d;
    auth_token_digest(token, d.d);
    const char *v[] = {(const char *)d.d};
    int len[] = {32}, fmt[] = {1};
    PGresult *res = NULL;
    crm_result r = db_query(db, 0, sql, 1, v, len, fmt, &res, error_r);
    if (r)
        return r;
    if (PQntuples(res) == 1)
        viewer_from(res, v_r);
    else
        r = CRM_ERR_NOTFOUND;
    PQclear(res);
    return r;
}

crm_result auth_session(db_conn *db, const char *session, auth_viewer *v_r,
                        char **error_r)
{
    return lookup_viewer(
        db, session,
        "SELECT u.id, u.email, u.name, u.role, s.csrf FROM web_sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 "
        "AND s.expires_at > now() AND u.active",
        v_r, error_r);
}

crm_result auth_logout(db_conn *db, const char *session, char **error_r)
{
    if (!session)
        return CRM_OK;
    digest d;
    auth_token_digest(session, d.d);
    const char *v[] = {(const char *)d.d};
    int len[] = {32}, fmt[] = {1};
    PGresult *res = NULL;
    crm_result r =
        db_query(db, 0, "DELETE FROM web_sessions WHERE id_hash = $1", 1, v,
                 len, fmt, &res, error_r);
    if (!r)
        PQclear(res);
    return r;
}

crm_result auth_bearer(db_conn *db, const char *token, auth_viewer *v_r,
                       char **error_r)
{
    return lookup_viewer(
        db, token,
        "WITH t AS (UPDATE api_tokens SET used_at = now() WHERE token_hash = "
        "$1 AND revoked_at IS NULL AND (used_at IS NULL OR used_at < now() - "
        "interval '1 minute') RETURNING user_id) "
        "SELECT u.id, u.email, u.name, u.role, NULL FROM api_tokens a "
        "JOIN users u ON u.id = a.user_id WHERE a.token_hash = $1 "
        "AND a.revoked_at IS NULL AND u.active",
        v_r, error_r);
}
