/*
 * null_milter.c - the benchmark's baseline: a libmilter program that
 * negotiates every step and every reply away and accepts everything. What
 * Postfix with this milter achieves is the floor the milter protocol
 * itself costs; crmgate-milter is measured against it.
 *
 * usage: null-milter [--nodelay] [--quickack] SOCKET   (e.g.
 * inet:8899@127.0.0.1)
 *
 * --nodelay   after smfi_opensocket(), sockopt_tune_listener(SOCKET) (core/
 *             sockopt.c): TCP_NODELAY on the listener, inherited by every
 *             accepted connection.
 * --quickack  also asks for MAIL FROM (no reply, SMFIP_NR_MAIL) and calls
 *             sockopt_quickack_ctx() there: our ACKs of what Postfix sends
 *             after our negotiation reply go out at once instead of after
 *             the kernel's delayed-ACK timer. With both, the null milter
 *             does exactly what crmgate-milter does about the TCP stall, so
 *             the bench can show the stall and its fix on the floor itself.
 */
#include "crmgate/sockopt.h"

#include <libmilter/mfapi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool opt_quickack;

static sfsistat nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3,
                             unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    (void)ctx;
    (void)f0;
    (void)f2;
    (void)f3;
    unsigned long steps = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL |
                          SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS |
                          SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA |
                          SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |
                          SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN |
                          SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NR_HDR;
    if (opt_quickack)
        steps &= ~(unsigned long)SMFIP_NOMAIL; /* MAIL FROM, still no reply */
    *pf0 = 0;
    *pf1 = f1 & steps;
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat nm_envfrom(SMFICTX *ctx, char **argv)
{
    (void)argv;
    /* the first callback after our negotiation reply */
    (void)sockopt_quickack_ctx(ctx);
    return SMFIS_CONTINUE;
}

static sfsistat nm_eom(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_ACCEPT;
}

int main(int argc, char **argv)
{
    struct smfiDesc desc = {
        .xxfi_name = "null-milter",
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = 0,
        .xxfi_eom = nm_eom,
        .xxfi_negotiate = nm_negotiate,
    };
    bool nodelay = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--nodelay") == 0)
            nodelay = true;
        else if (strcmp(argv[i], "--quickack") == 0)
            opt_quickack = true;
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: null-milter [--nodelay] [--quickack] SOCKET\n");
        return 64;
    }
    const char *sock = argv[i];
    if (opt_quickack)
        desc.xxfi_envfrom = nm_envfrom;
    if (smfi_setconn((char *)sock) != MI_SUCCESS ||
        smfi_setbacklog(128) != MI_SUCCESS ||
        smfi_register(desc) != MI_SUCCESS || smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null-milter: cannot listen on %s\n", sock);
        return 69;
    }
    /* --quickack needs the listener's port, which the tuning records */
    if (nodelay || opt_quickack) {
        crm_result r = sockopt_tune_listener(sock);
        if (r) {
            fprintf(stderr, "null-milter: tuning %s: %s\n", sock,
                    crm_strerror(r));
            return 69;
        }
    }
    return smfi_main() == MI_SUCCESS ? 0 : 70;
}
