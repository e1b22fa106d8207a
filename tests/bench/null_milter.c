/*
 * null_milter.c - the benchmark's baseline: a libmilter program that
 * negotiates every step and every reply away and accepts everything. What
 * Postfix with this milter achieves is the floor the milter protocol
 * itself costs; crmgate-milter is measured against it.
 *
 * usage: null-milter SOCKET   (e.g. inet:8899@127.0.0.1)
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>

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
    *pf0 = 0;
    *pf1 = f1 & steps;
    *pf2 = 0;
    *pf3 = 0;
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
    if (argc != 2) {
        fprintf(stderr, "usage: null-milter SOCKET\n");
        return 64;
    }
    if (smfi_setconn(argv[1]) != MI_SUCCESS ||
        smfi_setbacklog(128) != MI_SUCCESS ||
        smfi_register(desc) != MI_SUCCESS || smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null-milter: cannot listen on %s\n", argv[1]);
        return 69;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 70;
}
