/*
 * result.h - the typed result every core function returns.
 *
 * CRM_OK is zero so that "if (r) return r;" propagates failures. The
 * message for each value comes from crm_strerror(), a switch without a
 * default case so that -Wswitch-enum flags a value without a message.
 */
#ifndef CRMGATE_RESULT_H
#define CRMGATE_RESULT_H

typedef enum {
    CRM_OK = 0,
    CRM_ERR_PARSE,    /* input could not be parsed at all */
    CRM_ERR_TOOBIG,   /* input exceeded a configured bound */
    CRM_ERR_DB,       /* the database answered with an error */
    CRM_ERR_DB_DOWN,  /* the database could not be reached or timed out */
    CRM_ERR_IO,       /* a file or socket operation failed */
    CRM_ERR_CONFIG,   /* configuration is invalid */
    CRM_ERR_NOTFOUND, /* the named record does not exist */
    CRM_ERR_USAGE,    /* the caller passed invalid arguments */
    CRM_ERR_EXISTS,   /* the record exists already */
    CRM_ERR_INTERNAL, /* a bug or an impossible state */
    CRM_ERR_BUSY,     /* refused for now (a rate limit); try later */
    CRM_ERR_AUTH,     /* a signature or credential did not verify */
} crm_result;

/* Returns a static, human-readable description of r. */
const char *crm_strerror(crm_result r);

#endif
