/*
 * smtp_send.c - sending mail to an SMTP relay with libcurl.
 *
 * A route owns one curl multi handle and a free list of N easy handles
 * (N = connections). Each submitted transfer takes one easy handle, sets
 * the envelope (CURLOPT_MAIL_FROM, CURLOPT_MAIL_RCPT) and streams the
 * caller's GBytes through a read callback (no copy of the message); when
 * it ends the handle goes back to the free list with its options intact,
 * and the multi handle's connection cache (at most N connections) keeps
 * the SMTP session open for the next message: a steady campaign opens N
 * connections, not one per message.
 *
 * Outcomes: libcurl reports a CURLcode, not the SMTP reply, so the reply
 * lines are read from the debug callback (CURLINFO_HEADER_IN, one call per
 * line or part of one), and the commands we sent (CURLINFO_HEADER_OUT,
 * only their first word: AUTH continuation lines carry credentials and are
 * never kept) tell which stage a reply answered. The deciding reply is the
 * last complete one before the transfer ended: the reply to the end of
 * DATA on success, else the failing MAIL, RCPT or DATA reply. Replies
 * after we sent QUIT are ignored. Classification (smtp_classify): 2xx
 * SENT; 421, 450, 451, 454 THROTTLE; other 4xx TEMP; 5xx PERM. A failure
 * with no 4xx/5xx reply (refused, reset, timeout, TLS) is SMTP_CONN with
 * code 0 and curl's error text. A 4xx/5xx reply to the greeting, EHLO,
 * STARTTLS or AUTH is a problem of the route, not of the recipient: it is
 * SMTP_CONN too (421 stays THROTTLE), with the code and text kept.
 *
 * Limits: reply text kept is at most SMTP_REPLY_MAX bytes (longer lines
 * and multi-line replies are cut, control characters become spaces,
 * invalid UTF-8 is replaced); queue id at most SMTP_QUEUE_ID_MAX bytes;
 * envelope addresses at most SMTP_ADDR_MAX bytes without control
 * characters, spaces or <> (they would let an address inject SMTP
 * commands). A route is not thread-safe; curl_global_init runs once per
 * process (pthread_once); no signals are used (CURLOPT_NOSIGNAL), so
 * routes may live in different threads. The password is handed to libcurl
 * only and never logged.
 */
#include "crmgate/smtp_send.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

/* Where a transfer's conversation stands (the last command sent). */
typedef enum {
    STAGE_CONNECT = 0, /* greeting */
    STAGE_SESSION,     /* EHLO, HELO, STARTTLS, AUTH */
    STAGE_MAIL,
    STAGE_RCPT,
    STAGE_DATA, /* DATA and the end of data */
    STAGE_QUIT,
} xfer_stage;

typedef struct smtp_xfer {
    CURL *easy;
    struct smtp_route *route; /* NULL for smtp_send_one */
    GBytes *msg;
    const guint8 *data;
    gsize len, off;
    struct curl_slist *rcpts;
    gpointer user_data;
    xfer_stage stage;
    bool retried; /* once, on a fresh connection (route_collect) */
    /* the line being received (first SMTP_REPLY_MAX bytes of it) */
    char line[SMTP_REPLY_MAX + 1];
    gsize line_len;
    /* the reply being assembled (multi-line) */
    char cur[SMTP_REPLY_MAX + 1];
    gsize cur_len;
    /* the last complete reply and the stage it answered */
    int last_code;
    xfer_stage last_stage;
    char last[SMTP_REPLY_MAX + 1];
    gsize last_len;
    char errbuf[CURL_ERROR_SIZE];
} smtp_xfer;

typedef struct {
    gpointer user_data;
    smtp_result res;
} smtp_done;

/* The settings every easy handle of a route (or a single send) shares. */
typedef struct {
    char *url;
    char *user, *password;
    bool starttls_required;
    guint connections;
    guint timeout_s;
} smtp_conf;

struct smtp_route {
    smtp_conf conf;
    CURLM *multi;
    smtp_xfer **all; /* conf.connections of them */
    GPtrArray *free_list;
    GQueue done; /* smtp_done * */
    guint in_flight;
    guint immediate; /* completed at submit, not yet counted by run */
    guint64 connects;
};

static pthread_once_t smtp_once = PTHREAD_ONCE_INIT;
static CURLcode smtp_global_rc = CURLE_OK;

static void smtp_global_init(void)
{
    smtp_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool smtp_curl_ready(void)
{
    pthread_once(&smtp_once, smtp_global_init);
    return smtp_global_rc == CURLE_OK;
}

smtp_outcome smtp_classify(int code)
{
    if (code >= 200 && code < 300)
        return SMTP_SENT;
    if (code == 421 || code == 450 || code == 451 || code == 454)
        return SMTP_THROTTLE;
    if (code >= 400 && code < 500)
        return SMTP_TEMP;
    if (code >= 500 && code < 600)
        return SMTP_PERM;
    return SMTP_CONN;
}

const char *smtp_outcome_name(smtp_outcome o)
{
    switch (o) {
    case SMTP_SENT:
        return "sent";
    case SMTP_TEMP:
        return "temp";
    case SMTP_THROTTLE:
        return "throttle";
    case SMTP_PERM:
        return "perm";
    case SMTP_CONN:
        return "conn";
    }
    return "unknown";
}

void smtp_result_clear(smtp_result *res)
{
    if (res == NULL)
        return;
    g_free(res->reply);
    g_free(res->queue_id);
    memset(res, 0, sizeof(*res));
}

static bool qid_char(char c)
{
    return g_ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
}

/* The token of queue id characters at p, or NULL when empty. */
static char *qid_token(const char *p)
{
    gsize n = 0;
    while (p[n] != '\0' && qid_char(p[n]) && n < SMTP_QUEUE_ID_MAX)
        n++;
    if (n == 0 || qid_char(p[n]))
        return NULL; /* empty, or longer than the bound: not an id */
    return g_strndup(p, n);
}

char *smtp_parse_queue_id(const char *reply)
{
    if (reply == NULL)
        return NULL;
    const char *p = strstr(reply, "queued as ");
    if (p != NULL)
        return qid_token(p + strlen("queued as "));
    for (p = reply; (p = strstr(p, "id=")) != NULL; p += 3) {
        if (p == reply || p[-1] == ' ' || p[-1] == '(')
            return qid_token(p + 3);
    }
    return NULL;
}

/* --- reply lines from the debug callback ------------------------------ */

static void buf_append(char *buf, gsize *len, const char *s, gsize n)
{
    gsize room = SMTP_REPLY_MAX - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* One complete line of a server reply (without its CRLF). */
static void xfer_line(smtp_xfer *x, const char *l, gsize n)
{
    if (x->stage == STAGE_QUIT)
        return;
    if (n < 3 || !g_ascii_isdigit(l[0]) || !g_ascii_isdigit(l[1]) ||
        !g_ascii_isdigit(l[2]))
        return; /* not a reply line */
    bool more = n > 3 && l[3] == '-';
    if (x->cur_len == 0) {
        buf_append(x->cur, &x->cur_len, l, 3);
        if (n > 4) {
            buf_append(x->cur, &x->cur_len, " ", 1);
            buf_append(x->cur, &x->cur_len, l + 4, n - 4);
        }
    } else if (n > 4) {
        buf_append(x->cur, &x->cur_len, " ", 1);
        buf_append(x->cur, &x->cur_len, l + 4, n - 4);
    }
    if (more)
        return;
    x->last_code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    x->last_stage = x->stage;
    memcpy(x->last, x->cur, x->cur_len + 1);
    x->last_len = x->cur_len;
    x->cur_len = 0;
    x->cur[0] = '\0';
}

static void xfer_flush_line(smtp_xfer *x)
{
    gsize n = x->line_len;
    while (n > 0 && (x->line[n - 1] == '\r' || x->line[n - 1] == '\n'))
        n--;
    if (x->line_len > 0)
        xfer_line(x, x->line, n);
    x->line_len = 0;
}

static void xfer_header_in(smtp_xfer *x, const char *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (x->line_len < SMTP_REPLY_MAX)
            x->line[x->line_len++] = data[i];
        if (data[i] == '\n')
            xfer_flush_line(x);
    }
}

static void xfer_header_out(smtp_xfer *x, const char *data, size_t size)
{
    /* Only the command word, followed by a space or the line end: an AUTH
       continuation (base64, the credentials) is never looked at further
       and never kept. */
    char w[5] = {0};
    if (size >= 9 && g_ascii_strncasecmp(data, "STARTTLS\r", 9) == 0) {
        x->stage = STAGE_SESSION;
        return;
    }
    if (size < 5 || (data[4] != ' ' && data[4] != '\r'))
        return;
    for (size_t i = 0; i < 4; i++)
        w[i] = g_ascii_toupper(data[i]);
    if (strcmp(w, "MAIL") == 0)
        x->stage = STAGE_MAIL;
    else if (strcmp(w, "RCPT") == 0)
        x->stage = STAGE_RCPT;
    else if (strcmp(w, "DATA") == 0)
        x->stage = STAGE_DATA;
    else if (strcmp(w, "QUIT") == 0)
        x->stage = STAGE_QUIT;
    else if (strcmp(w, "EHLO") == 0 || strcmp(w, "HELO") == 0 ||
             strcmp(w, "AUTH") == 0)
        x->stage = STAGE_SESSION;
}

static int xfer_debug(CURL *easy, curl_infotype type, char *data, size_t size,
                      void *userp)
{
    (void)easy;
    smtp_xfer *x = userp;
    switch (type) {
    case CURLINFO_HEADER_IN:
        xfer_header_in(x, data, size);
        break;
    case CURLINFO_HEADER_OUT:
        xfer_header_out(x, data, size);
        break;
    case CURLINFO_TEXT:
    case CURLINFO_DATA_IN:
    case CURLINFO_DATA_OUT:
    case CURLINFO_SSL_DATA_IN:
    case CURLINFO_SSL_DATA_OUT:
    case CURLINFO_END:
        break;
    }
    return 0;
}

static size_t xfer_read(char *buf, size_t size, size_t nitems, void *userp)
{
    smtp_xfer *x = userp;
    size_t want = size * nitems;
    size_t left = x->len - x->off;
    if (want > left)
        want = left;
    memcpy(buf, x->data + x->off, want);
    x->off += want;
    return want;
}

/* Reply text made safe: control characters become spaces, invalid UTF-8
   is replaced, and the result is cut at a character boundary to
   SMTP_REPLY_MAX bytes. */
static char *reply_text(const char *s, gsize n)
{
    g_autofree char *raw = g_strndup(s, n);
    for (char *p = raw; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    }
    char *v = g_utf8_make_valid(raw, -1);
    gsize len = strlen(v);
    if (len > SMTP_REPLY_MAX) {
        const char *end = v + SMTP_REPLY_MAX;
        /* back to the start of the character that crosses the bound */
        while (end > v && ((unsigned char)*end & 0xc0) == 0x80)
            end--;
        v[end - v] = '\0';
    }
    return v;
}

/* Fills *res from a finished transfer. */
static void xfer_result(smtp_xfer *x, CURLcode rc, smtp_result *res)
{
    memset(res, 0, sizeof(*res));
    /* a last line without its line end (the relay went away mid-reply)
       is no reply: it is dropped, and the outcome decided without it */
    x->line_len = 0;
    int code = x->last_code;
    if (rc == CURLE_OK) {
        res->outcome = SMTP_SENT;
        res->code = code;
        res->reply = reply_text(x->last, x->last_len);
        res->queue_id = smtp_parse_queue_id(res->reply);
        return;
    }
    if (code >= 400 && code < 600) {
        res->outcome = smtp_classify(code);
        bool session =
            x->last_stage == STAGE_CONNECT || x->last_stage == STAGE_SESSION;
        if (session && code != 421)
            res->outcome = SMTP_CONN;
        res->code = code;
        res->reply = reply_text(x->last, x->last_len);
        return;
    }
    res->outcome = SMTP_CONN;
    res->code = 0;
    g_autofree char *e = g_strdup_printf(
        "curl: %s", x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc));
    res->reply = reply_text(e, strlen(e));
}

/* --- configuration ------------------------------------------------------ */

static bool url_ok(const char *url)
{
    if (url == NULL || strlen(url) > 2048)
        return false;
    if (g_ascii_strncasecmp(url, "smtp://", 7) != 0 &&
        g_ascii_strncasecmp(url, "smtps://", 8) != 0)
        return false;
    for (const char *p = url; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

static bool helo_ok(const char *h)
{
    if (h == NULL || *h == '\0' || strlen(h) > 255)
        return false;
    for (const char *p = h; *p != '\0'; p++) {
        if (!g_ascii_isalnum(*p) && strchr(".-:[]", *p) == NULL)
            return false;
    }
    return true;
}

static bool addr_ok(const char *a, bool empty_ok)
{
    if (a == NULL)
        return false;
    gsize n = strlen(a);
    if (n > SMTP_ADDR_MAX || (n == 0 && !empty_ok))
        return false;
    for (const char *p = a; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
            return false;
    }
    return true;
}

static void conf_clear(smtp_conf *c)
{
    g_free(c->url);
    g_free(c->user);
    if (c->password != NULL) {
        memset(c->password, 0, strlen(c->password));
        g_free(c->password);
    }
    memset(c, 0, sizeof(*c));
}

/* Copies and checks the options; false when they are invalid. */
static bool conf_init(smtp_conf *c, const smtp_route_opts *o)
{
    memset(c, 0, sizeof(*c));
    if (o == NULL || !url_ok(o->url))
        return false;
    if (o->helo_name != NULL && !helo_ok(o->helo_name))
        return false;
    if (o->helo_name != NULL) {
        /* libcurl takes the EHLO name from the URL's path */
        const char *host = strstr(o->url, "://") + 3;
        const char *slash = strchr(host, '/');
        gsize n = slash ? (gsize)(slash - o->url) : strlen(o->url);
        c->url = g_strdup_printf("%.*s/%s", (int)n, o->url, o->helo_name);
    } else {
        c->url = g_strdup(o->url);
    }
    if (o->user != NULL) {
        c->user = g_strdup(o->user);
        c->password = g_strdup(o->password ? o->password : "");
    }
    c->starttls_required = o->starttls_required;
    c->connections = CLAMP(o->connections, 1, SMTP_MAX_CONNECTIONS);
    c->timeout_s = o->timeout_s ? MIN(o->timeout_s, 3600) : 60;
    return true;
}

static CURL *easy_new(const smtp_conf *c, smtp_xfer *x)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    long t = (long)c->timeout_s;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, xfer_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, xfer_debug);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, t);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, t);
    curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, t);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     c->starttls_required ? (long)CURLUSESSL_ALL
                                          : (long)CURLUSESSL_NONE);
    if (c->user != NULL) {
        curl_easy_setopt(e, CURLOPT_USERNAME, c->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, c->password);
    }
    return e;
}

/* Rewinds a transfer: the message from its start, no reply seen. */
static void xfer_rearm(smtp_xfer *x)
{
    x->off = 0;
    x->stage = STAGE_CONNECT;
    x->line_len = 0;
    x->cur_len = 0;
    x->cur[0] = '\0';
    x->last_code = 0;
    x->last_stage = STAGE_CONNECT;
    x->last_len = 0;
    x->last[0] = '\0';
    x->errbuf[0] = '\0';
}

/* Resets a transfer's per-message state and sets its envelope. */
static bool xfer_start(smtp_xfer *x, const char *env_from,
                       const char *const *rcpts, gsize n_rcpts, GBytes *message,
                       gpointer user_data)
{
    x->msg = g_bytes_ref(message);
    x->data = g_bytes_get_data(message, &x->len);
    x->user_data = user_data;
    x->retried = false;
    xfer_rearm(x);
    x->rcpts = NULL;
    for (gsize i = 0; i < n_rcpts; i++) {
        g_autofree char *a = g_strdup_printf("<%s>", rcpts[i]);
        struct curl_slist *l = curl_slist_append(x->rcpts, a);
        if (l == NULL)
            return false;
        x->rcpts = l;
    }
    g_autofree char *from = g_strdup_printf("<%s>", env_from);
    curl_easy_setopt(x->easy, CURLOPT_MAIL_FROM, from); /* copied */
    curl_easy_setopt(x->easy, CURLOPT_MAIL_RCPT, x->rcpts);
    curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
    curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 0L);
    return true;
}

static void xfer_end(smtp_xfer *x)
{
    curl_slist_free_all(x->rcpts);
    x->rcpts = NULL;
    if (x->msg != NULL)
        g_bytes_unref(x->msg);
    x->msg = NULL;
    x->data = NULL;
    x->len = x->off = 0;
    x->user_data = NULL;
}

/* --- routes ------------------------------------------------------------- */

smtp_route *smtp_route_new(const smtp_route_opts *o)
{
    if (!smtp_curl_ready())
        return NULL;
    smtp_route *r = g_new0(smtp_route, 1);
    if (!conf_init(&r->conf, o)) {
        g_free(r);
        return NULL;
    }
    g_queue_init(&r->done);
    r->multi = curl_multi_init();
    if (r->multi == NULL) {
        conf_clear(&r->conf);
        g_free(r);
        return NULL;
    }
    long n = (long)r->conf.connections;
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
    curl_multi_setopt(r->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n);
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, n);
    r->all = g_new0(smtp_xfer *, r->conf.connections);
    r->free_list = g_ptr_array_sized_new(r->conf.connections);
    for (guint i = 0; i < r->conf.connections; i++) {
        smtp_xfer *x = g_new0(smtp_xfer, 1);
        x->route = r;
        r->all[i] = x;
        x->easy = easy_new(&r->conf, x);
        if (x->easy == NULL) {
            smtp_route_free(&r);
            return NULL;
        }
        g_ptr_array_add(r->free_list, x);
    }
    return r;
}

static void done_free(gpointer p)
{
    smtp_done *d = p;
    smtp_result_clear(&d->res);
    g_free(d);
}

void smtp_route_free(smtp_route **rp)
{
    smtp_route *r = rp ? *rp : NULL;
    if (r == NULL)
        return;
    for (guint i = 0; i < r->conf.connections; i++) {
        smtp_xfer *x = r->all[i];
        if (x == NULL)
            continue;
        if (x->msg != NULL) /* in flight */
            curl_multi_remove_handle(r->multi, x->easy);
        xfer_end(x);
    }
    /* closing cached connections (QUIT) needs the handles alive */
    curl_multi_cleanup(r->multi);
    for (guint i = 0; i < r->conf.connections; i++) {
        if (r->all[i] != NULL && r->all[i]->easy != NULL)
            curl_easy_cleanup(r->all[i]->easy);
        g_free(r->all[i]);
    }
    g_free(r->all);
    g_ptr_array_free(r->free_list, TRUE);
    g_queue_clear_full(&r->done, done_free);
    conf_clear(&r->conf);
    g_free(r);
    *rp = NULL;
}

static void push_done(smtp_route *r, gpointer user_data, smtp_result *res)
{
    smtp_done *d = g_new0(smtp_done, 1);
    d->user_data = user_data;
    d->res = *res;
    g_queue_push_tail(&r->done, d);
}

bool smtp_route_submit(smtp_route *r, const char *env_from, const char *rcpt,
                       GBytes *message, gpointer user_data)
{
    g_return_val_if_fail(r != NULL && message != NULL, false);
    if (!addr_ok(env_from, true) || !addr_ok(rcpt, false)) {
        smtp_result res = {.outcome = SMTP_PERM, .code = 0};
        res.reply = g_strdup("crmgate: invalid envelope address");
        push_done(r, user_data, &res);
        r->immediate++;
        return true;
    }
    if (r->free_list->len == 0)
        return false;
    smtp_xfer *x = g_ptr_array_steal_index(r->free_list, r->free_list->len - 1);
    const char *rcpts[1] = {rcpt};
    if (!xfer_start(x, env_from, rcpts, 1, message, user_data) ||
        curl_multi_add_handle(r->multi, x->easy) != CURLM_OK) {
        xfer_end(x);
        g_ptr_array_add(r->free_list, x);
        smtp_result res = {.outcome = SMTP_CONN, .code = 0};
        res.reply = g_strdup("crmgate: could not start the transfer");
        push_done(r, user_data, &res);
        r->immediate++;
        return true;
    }
    r->in_flight++;
    return true;
}

guint smtp_route_in_flight(const smtp_route *r)
{
    return r ? r->in_flight : 0;
}

guint64 smtp_route_connects(const smtp_route *r)
{
    return r ? r->connects : 0;
}

/* A kept-alive connection the relay closed as we reused it (its idle
   timeout racing our next message) fails with no reply at all: nothing
   was accepted, so the transfer is started again once, on a new
   connection. True when it was. */
static bool route_retry(smtp_route *r, smtp_xfer *x, CURLcode rc, long conns)
{
    if (rc == CURLE_OK || conns != 0 || x->last_code != 0 || x->retried)
        return false;
    x->retried = true;
    xfer_rearm(x);
    /* read when the transfer connects; xfer_start clears it */
    curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 1L);
    return curl_multi_add_handle(r->multi, x->easy) == CURLM_OK;
}

/* Moves finished transfers to the done queue; returns how many. */
static guint route_collect(smtp_route *r)
{
    guint n = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        smtp_xfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        long conns = 0;
        if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK &&
            conns > 0)
            r->connects += (guint64)conns;
        curl_multi_remove_handle(r->multi, e);
        if (route_retry(r, x, rc, conns))
            continue;
        smtp_result res;
        xfer_result(x, rc, &res);
        push_done(r, x->user_data, &res);
        xfer_end(x);
        g_ptr_array_add(r->free_list, x);
        r->in_flight--;
        n++;
    }
    return n;
}

guint smtp_route_run(smtp_route *r, int timeout_ms)
{
    g_return_val_if_fail(r != NULL, 0);
    gint64 deadline =
        g_get_monotonic_time() + (gint64)MAX(timeout_ms, 0) * 1000;
    guint n = r->immediate;
    r->immediate = 0;
    for (;;) {
        int running = 0;
        curl_multi_perform(r->multi, &running);
        n += route_collect(r);
        if (n > 0 || r->in_flight == 0)
            break;
        gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
        if (left_ms <= 0)
            break;
        curl_multi_poll(r->multi, NULL, 0, (int)MIN(left_ms, 1000), NULL);
    }
    return n;
}

bool smtp_route_next_done(smtp_route *r, gpointer *user_data_r,
                          smtp_result *res_r)
{
    g_return_val_if_fail(r != NULL && res_r != NULL, false);
    smtp_done *d = g_queue_pop_head(&r->done);
    if (d == NULL)
        return false;
    if (user_data_r != NULL)
        *user_data_r = d->user_data;
    *res_r = d->res;
    g_free(d);
    return true;
}

/* --- the blocking single send ----------------------------------------- */

#define SMTP_SEND_ONE_MAX_RCPTS 100

crm_result smtp_send_one(const smtp_route_opts *o, const char *env_from,
                         const char *const *rcpts, GBytes *message,
                         smtp_result *res_r, char **error_r)
{
    g_return_val_if_fail(res_r != NULL, CRM_ERR_USAGE);
    memset(res_r, 0, sizeof(*res_r));
    gsize n = 0;
    while (rcpts != NULL && rcpts[n] != NULL) {
        if (!addr_ok(rcpts[n], false) || ++n > SMTP_SEND_ONE_MAX_RCPTS) {
            if (error_r != NULL)
                *error_r = g_strdup("invalid or too many recipients");
            return CRM_ERR_USAGE;
        }
    }
    if (n == 0 || message == NULL || !addr_ok(env_from, true)) {
        if (error_r != NULL)
            *error_r = g_strdup("no recipient, no message or invalid sender");
        return CRM_ERR_USAGE;
    }
    if (!smtp_curl_ready()) {
        if (error_r != NULL)
            *error_r = g_strdup("libcurl could not be initialised");
        return CRM_ERR_INTERNAL;
    }
    smtp_conf c;
    if (!conf_init(&c, o)) {
        if (error_r != NULL)
            *error_r = g_strdup("invalid relay URL or HELO name");
        return CRM_ERR_USAGE;
    }
    smtp_xfer *x = g_new0(smtp_xfer, 1);
    x->easy = easy_new(&c, x);
    crm_result rc = CRM_OK;
    if (x->easy == NULL || !xfer_start(x, env_from, (const char *const *)rcpts,
                                       n, message, NULL)) {
        res_r->outcome = SMTP_CONN;
        res_r->reply = g_strdup("crmgate: could not start the transfer");
        rc = CRM_ERR_INTERNAL;
    } else {
        CURLcode cc = curl_easy_perform(x->easy);
        xfer_result(x, cc, res_r);
        switch (res_r->outcome) {
        case SMTP_SENT:
            rc = CRM_OK;
            break;
        case SMTP_TEMP:
        case SMTP_THROTTLE:
            rc = CRM_ERR_BUSY;
            break;
        case SMTP_PERM:
        case SMTP_CONN:
            rc = CRM_ERR_IO;
            break;
        }
    }
    if (rc != CRM_OK && error_r != NULL)
        *error_r =
            g_strdup_printf("smtp %s: %s", smtp_outcome_name(res_r->outcome),
                            res_r->reply ? res_r->reply : "");
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    xfer_end(x);
    g_free(x);
    conf_clear(&c);
    return rc;
}
