/*
 * sockopt.h - TCP options for the milter's connections with the MTA.
 *
 * Over loopback or LAN TCP the milter protocol meets Nagle's algorithm on
 * the MTA's side and delayed ACKs on ours: Postfix flushes the macros it
 * buffered for steps we negotiated away, then writes the end-of-message
 * command and waits; its kernel holds that second write until ours ACKs
 * the first, and ours delays the ACK (~40 ms) because the connection looks
 * interactive and the milter has nothing to answer. These helpers take
 * that stall away from our side (see core/sockopt.c and README,
 * Benchmarks). UNIX sockets have neither mechanism and need none of this.
 */
#ifndef CRMGATE_SOCKOPT_H
#define CRMGATE_SOCKOPT_H

#include "crmgate/result.h"

/* Finds the listening socket libmilter opened for milter_conn_spec
   ("inet:PORT@HOST", "inet6:PORT@HOST"; call after smfi_opensocket()),
   sets TCP_NODELAY on it (accepted connections inherit it on Linux) and
   remembers its port for sockopt_quickack_ctx(). UNIX specs ("unix:",
   "local:", a path): CRM_OK, nothing to do. CRM_ERR_USAGE for a spec it
   cannot parse, CRM_ERR_NOTFOUND when no such listener is open,
   CRM_ERR_IO when setsockopt fails. */
crm_result sockopt_tune_listener(const char *milter_conn_spec);

/* Asks the kernel to ACK what arrives on fd at once (TCP_QUICKACK) until
   we next send; fd must be a connected TCP socket. CRM_ERR_IO otherwise. */
crm_result sockopt_quickack_fd(int fd);

/* The MTA connection's descriptor of a libmilter context (an SMFICTX *,
   passed as an opaque pointer), checked to be a connected TCP socket on
   the port sockopt_tune_listener() found; -1 when it is not (a UNIX
   socket, no TCP listener tuned, or a libmilter whose context has another
   layout). */
int sockopt_milter_fd(const void *smfictx);

/* Re-arms immediate ACKs on the MTA connection of a libmilter context:
   sockopt_quickack_fd(sockopt_milter_fd(ctx)). Call it from the first
   callback after each reply the milter sends (xxfi_envfrom, negotiated
   with SMFIP_NR_MAIL). CRM_OK also when there is nothing to do (UNIX
   socket or no TCP listener tuned); CRM_ERR_NOTFOUND when the context's
   descriptor did not pass the checks. */
crm_result sockopt_quickack_ctx(const void *smfictx);

#endif
