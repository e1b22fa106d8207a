/*
 * sockopt.c - TCP options for the milter's connections with the MTA.
 *
 * Why: measured on Linux with Postfix 3.7 and libmilter 8.17 over loopback
 * TCP (tcpdump, strace; README, Benchmarks), every message waited ~40 ms
 * before end of message. Postfix's smtpd buffers the macros of the steps a
 * milter negotiated away and flushes them in one segment when it hands
 * the session to cleanup; cleanup then writes the macros and the
 * end-of-message command (a second small segment) and reads the reply.
 * Postfix does not set TCP_NODELAY on milter sockets, so Nagle holds the
 * second segment until the first is ACKed, and our kernel delays that ACK
 * (up to its 40 ms minimum) because after our reply to option negotiation
 * the connection counts as interactive and libmilter has nothing to send
 * back for macros. We cannot change Postfix's socket; we can ACK at once:
 * TCP_QUICKACK takes the connection out of the kernel's interactive mode
 * (and sends a pending ACK now) until we next send, so it is re-armed in
 * the first callback after each reply (sockopt_quickack_ctx from
 * xxfi_envfrom). TCP_NODELAY on the listener (inherited by accepted
 * sockets) covers the opposite case, ours: modification requests at end
 * of message (smfi_delrcpt ...) followed by the final reply, which Nagle
 * would otherwise hold until Postfix ACKs the first.
 *
 * Limits: Linux only in effect (TCP_QUICKACK; elsewhere the calls fail
 * with CRM_ERR_IO and change nothing). libmilter does not expose its
 * descriptors: the listener is found among our open descriptors by its
 * port, and a context's connection is read from the second member of
 * libmilter's struct smfi_str (thread id, then socket; unchanged since
 * sendmail 8.12) and used only after checking that it is a connected TCP
 * socket on the listener's port, so another layout disables the
 * re-arming instead of touching a stranger's descriptor.
 */
#include "crmgate/sockopt.h"

#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

/* The port of the TCP listener sockopt_tune_listener() tuned; 0: none. */
static gint tuned_port;

/* The head of libmilter's struct smfi_str (libmilter/libmilter.h). */
struct milter_ctx_head {
    pthread_t ctx_id;
    int ctx_sd;
};

/* Parses "inet:PORT[@HOST]" / "inet6:PORT[@HOST]" into the port;
 *is_unix_r for UNIX-domain specs. */
static crm_result parse_spec(const char *spec, bool *is_unix_r,
                             unsigned *port_r)
{
    *is_unix_r = false;
    *port_r = 0;
    if (spec == NULL || *spec == '\0')
        return CRM_ERR_USAGE;
    if (g_str_has_prefix(spec, "unix:") || g_str_has_prefix(spec, "local:") ||
        spec[0] == '/') {
        *is_unix_r = true;
        return CRM_OK;
    }
    const char *p;
    if (g_str_has_prefix(spec, "inet:"))
        p = spec + strlen("inet:");
    else if (g_str_has_prefix(spec, "inet6:"))
        p = spec + strlen("inet6:");
    else
        return CRM_ERR_USAGE;
    const char *at = strchr(p, '@');
    g_autofree char *name = at ? g_strndup(p, (gsize)(at - p)) : g_strdup(p);
    guint64 n = 0;
    if (g_ascii_string_to_unsigned(name, 10, 1, 65535, &n, NULL)) {
        *port_r = (unsigned)n;
        return CRM_OK;
    }
    /* libmilter also takes a service name */
    const struct servent *se = *name ? getservbyname(name, "tcp") : NULL;
    if (se == NULL)
        return CRM_ERR_USAGE;
    *port_r = ntohs((uint16_t)se->s_port);
    return CRM_OK;
}

/* The local TCP port of socket fd, 0 when fd is no IPv4/IPv6 socket. */
static unsigned local_port(int fd)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* Whether fd is a TCP stream socket, listening or not as asked. */
static bool is_tcp_socket(int fd, bool listening)
{
    int type = 0, acc = 0, proto = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM)
        return false;
    len = sizeof(proto);
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0 ||
        proto != IPPROTO_TCP)
        return false;
    len = sizeof(acc);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0)
        return false;
    return (acc != 0) == listening;
}

crm_result sockopt_tune_listener(const char *milter_conn_spec)
{
    bool is_unix;
    unsigned port;
    crm_result r = parse_spec(milter_conn_spec, &is_unix, &port);
    if (r)
        return r;
    if (is_unix)
        return CRM_OK;
    GDir *dir = g_dir_open("/proc/self/fd", 0, NULL);
    if (dir == NULL)
        return CRM_ERR_IO;
    /* collect first: setsockopt while reading the directory is fine, but
       the directory's own descriptor is in the listing */
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    const char *entry;
    while ((entry = g_dir_read_name(dir)) != NULL) {
        guint64 n;
        if (g_ascii_string_to_unsigned(entry, 10, 0, G_MAXINT, &n, NULL)) {
            int fd = (int)n;
            g_array_append_val(fds, fd);
        }
    }
    g_dir_close(dir);
    r = CRM_ERR_NOTFOUND;
    for (guint i = 0; i < fds->len; i++) {
        int fd = g_array_index(fds, int, i);
        if (!is_tcp_socket(fd, true) || local_port(fd) != port)
            continue;
        int on = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
            r = CRM_ERR_IO;
            break;
        }
        r = CRM_OK;
    }
    g_array_free(fds, TRUE);
    if (r == CRM_OK)
        g_atomic_int_set(&tuned_port, (gint)port);
    return r;
}

crm_result sockopt_quickack_fd(int fd)
{
    int on = 1;
    if (fd < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on)) != 0)
        return CRM_ERR_IO;
    return CRM_OK;
}

int sockopt_milter_fd(const void *smfictx)
{
    unsigned port = (unsigned)g_atomic_int_get(&tuned_port);
    if (smfictx == NULL || port == 0)
        return -1;
    struct milter_ctx_head head;
    memcpy(&head, smfictx, sizeof(head));
    int fd = head.ctx_sd;
    if (fd < 0 || !is_tcp_socket(fd, false) || local_port(fd) != port)
        return -1;
    return fd;
}

crm_result sockopt_quickack_ctx(const void *smfictx)
{
    if (g_atomic_int_get(&tuned_port) == 0)
        return CRM_OK;
    int fd = sockopt_milter_fd(smfictx);
    if (fd < 0)
        return CRM_ERR_NOTFOUND;
    return sockopt_quickack_fd(fd);
}
