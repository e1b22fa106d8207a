/*
 * message_test.h - helpers shared by the message parser's unit tests.
 */
#ifndef CRMGATE_MESSAGE_TEST_H
#define CRMGATE_MESSAGE_TEST_H

#include <glib.h>
#include <stdbool.h>
#include <string.h>

#include "crmgate/message.h"

/* Parses text (which must succeed) with lim, or the defaults when NULL. */
static inline crm_message *parse_lim(const char *text,
                                     const message_limits *lim)
{
    crm_message *msg = NULL;
    crm_result r = message_parse_bytes(text, strlen(text), lim, &msg);
    g_assert_cmpint(r, ==, CRM_OK);
    g_assert_nonnull(msg);
    return msg;
}

static inline crm_message *parse(const char *text)
{
    return parse_lim(text, NULL);
}

/* True when a warning of msg contains part. */
static inline bool has_warning(const crm_message *msg, const char *part)
{
    for (guint i = 0; i < msg->warnings->len; i++)
        if (strstr(g_ptr_array_index(msg->warnings, i), part) != NULL)
            return true;
    return false;
}

#endif
