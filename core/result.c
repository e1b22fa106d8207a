/*
 * result.c - messages for crm_result values.
 */
#include "crmgate/result.h"

const char *crm_strerror(crm_result r)
{
    switch (r) {
    case CRM_OK:
        return "success";
    case CRM_ERR_PARSE:
        return "parse error";
    case CRM_ERR_TOOBIG:
        return "input exceeds a configured limit";
    case CRM_ERR_DB:
        return "database error";
    case CRM_ERR_DB_DOWN:
        return "database unavailable";
    case CRM_ERR_IO:
        return "input/output error";
    case CRM_ERR_CONFIG:
        return "configuration error";
    case CRM_ERR_NOTFOUND:
        return "not found";
    case CRM_ERR_USAGE:
        return "invalid arguments";
    case CRM_ERR_EXISTS:
        return "already exists";
    case CRM_ERR_INTERNAL:
        return "internal error";
    case CRM_ERR_BUSY:
        return "refused for now, try again later";
    case CRM_ERR_AUTH:
        return "signature or credentials did not verify";
    }
    return "unknown error";
}
