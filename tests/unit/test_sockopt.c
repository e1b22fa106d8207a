/*
 * test_sockopt.c - the milter's TCP tuning on real loopback sockets: the
 * listener found by its spec gets TCP_NODELAY and accepted connections
 * inherit it; a connection in the kernel's interactive (delayed-ACK) mode
 * is taken out of it through a libmilter-shaped context; descriptors that
 * are not our TCP connections are refused; specs are parsed as libmilter
 * does.
 */
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crmgate/sockopt.h"

/* what libmilter's struct smfi_str begins with */
struct fake_ctx {
    pthread_t id;
    int sd;
};

static int listen_any(unsigned *port_r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(fd, >=, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 8), ==, 0);
    socklen_t len = sizeof(sa);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
    *port_r = ntohs(sa.sin_port);
    return fd;
}

static int connect_to(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

static int tcp_opt(int fd, int opt)
{
    int v = -1;
    socklen_t len = sizeof(v);
    g_assert_cmpint(getsockopt(fd, IPPROTO_TCP, opt, &v, &len), ==, 0);
    return v;
}

static char *spec_for(unsigned port)
{
    return g_strdup_printf("inet:%u@127.0.0.1", port);
}

static void test_listener_nodelay(void)
{
    unsigned port;
    int lfd = listen_any(&port);
    g_assert_cmpint(tcp_opt(lfd, TCP_NODELAY), ==, 0);
    g_autofree char *spec = spec_for(port);
    g_assert_cmpint(sockopt_tune_listener(spec), ==, CRM_OK);
    g_assert_cmpint(tcp_opt(lfd, TCP_NODELAY), !=, 0);
    /* what matters: connections accepted afterwards have it too */
    int cfd = connect_to(port);
    int afd = accept(lfd, NULL, NULL);
    g_assert_cmpint(afd, >=, 0);
    g_assert_cmpint(tcp_opt(afd, TCP_NODELAY), !=, 0);
    /* the client side is not ours and stays as it was */
    g_assert_cmpint(tcp_opt(cfd, TCP_NODELAY), ==, 0);
    close(afd);
    close(cfd);
    close(lfd);
}

static void test_specs(void)
{
    g_assert_cmpint(sockopt_tune_listener("unix:/run/x.sock"), ==, CRM_OK);
    g_assert_cmpint(sockopt_tune_listener("local:/run/x.sock"), ==, CRM_OK);
    g_assert_cmpint(sockopt_tune_listener("/run/x.sock"), ==, CRM_OK);
    g_assert_cmpint(sockopt_tune_listener(""), ==, CRM_ERR_USAGE);
    g_assert_cmpint(sockopt_tune_listener("tcp:8891"), ==, CRM_ERR_USAGE);
    g_assert_cmpint(sockopt_tune_listener("inet:0@127.0.0.1"), ==,
                    CRM_ERR_USAGE);
    g_assert_cmpint(sockopt_tune_listener("inet:99999@127.0.0.1"), ==,
                    CRM_ERR_USAGE);
    g_assert_cmpint(sockopt_tune_listener("inet:no-such-service@127.0.0.1"), ==,
                    CRM_ERR_USAGE);
    /* a port nobody of ours listens on, with and without a host part */
    unsigned port;
    int lfd = listen_any(&port);
    close(lfd);
    g_autofree char *spec = spec_for(port);
    g_assert_cmpint(sockopt_tune_listener(spec), ==, CRM_ERR_NOTFOUND);
    g_autofree char *bare = g_strdup_printf("inet:%u", port);
    g_assert_cmpint(sockopt_tune_listener(bare), ==, CRM_ERR_NOTFOUND);
}

static void test_quickack_ctx(void)
{
    unsigned port;
    int lfd = listen_any(&port);
    g_autofree char *spec = spec_for(port);
    g_assert_cmpint(sockopt_tune_listener(spec), ==, CRM_OK);
    int cfd = connect_to(port);
    int afd = accept(lfd, NULL, NULL);
    g_assert_cmpint(afd, >=, 0);

    /* a request and an immediate answer, as with the milter's option
       negotiation: the kernel now treats the connection as interactive
       and delays its ACKs (TCP_QUICKACK reads 0) */
    char b;
    g_assert_cmpint(write(cfd, "O", 1), ==, 1);
    g_assert_cmpint(read(afd, &b, 1), ==, 1);
    g_assert_cmpint(write(afd, "o", 1), ==, 1);
    g_assert_cmpint(read(cfd, &b, 1), ==, 1);
    g_assert_cmpint(tcp_opt(afd, TCP_QUICKACK), ==, 0);

    struct fake_ctx ctx = {.id = pthread_self(), .sd = afd};
    g_assert_cmpint(sockopt_milter_fd(&ctx), ==, afd);
    g_assert_cmpint(sockopt_quickack_ctx(&ctx), ==, CRM_OK);
    g_assert_cmpint(tcp_opt(afd, TCP_QUICKACK), ==, 1);

    /* our next answer makes it interactive again: hence once per reply */
    g_assert_cmpint(write(cfd, "M", 1), ==, 1);
    g_assert_cmpint(read(afd, &b, 1), ==, 1);
    g_assert_cmpint(write(afd, "a", 1), ==, 1);
    g_assert_cmpint(tcp_opt(afd, TCP_QUICKACK), ==, 0);

    /* not ours: the peer's end (another port), the listener, a pipe, an
       impossible descriptor; none is touched */
    ctx.sd = cfd;
    g_assert_cmpint(sockopt_milter_fd(&ctx), ==, -1);
    g_assert_cmpint(sockopt_quickack_ctx(&ctx), ==, CRM_ERR_NOTFOUND);
    ctx.sd = lfd;
    g_assert_cmpint(sockopt_milter_fd(&ctx), ==, -1);
    int p[2];
    g_assert_cmpint(pipe(p), ==, 0);
    ctx.sd = p[0];
    g_assert_cmpint(sockopt_milter_fd(&ctx), ==, -1);
    ctx.sd = -1;
    g_assert_cmpint(sockopt_milter_fd(&ctx), ==, -1);
    g_assert_cmpint(sockopt_milter_fd(NULL), ==, -1);
    g_assert_cmpint(sockopt_quickack_fd(p[0]), ==, CRM_ERR_IO);
    close(p[0]);
    close(p[1]);
    close(afd);
    close(cfd);
    close(lfd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sockopt/listener-nodelay", test_listener_nodelay);
    g_test_add_func("/sockopt/specs", test_specs);
    g_test_add_func("/sockopt/quickack-ctx", test_quickack_ctx);
    return g_test_run();
}
