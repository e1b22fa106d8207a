/*
 * message_json.c - the outputs of the message model: message_to_json (the
 * `crmgate parse --json` contract of message.h) and message_snippet.
 */
#include "crmgate/message.h"
#include "crmgate/rfc3339.h"
#include "message_int.h"

#include <jansson.h>
#include <string.h>

static json_t *json_str(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j == NULL) {
        g_autofree char *v = message_int_clean_text(s, -1, G_MAXSIZE, NULL);
        j = json_string(v);
    }
    return j != NULL ? j : json_null();
}

static json_t *json_addrs(const GPtrArray *list)
{
    json_t *a = json_array();
    for (guint i = 0; i < list->len; i++) {
        const message_addr *ad = g_ptr_array_index(list, i);
        json_array_append_new(a, json_pack("{s:o, s:o}", "name",
                                           json_str(ad->name), "address",
                                           json_str(ad->address)));
    }
    return a;
}

json_t *message_to_json(const crm_message *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "message_id", json_str(msg->message_id));
    json_object_set_new(o, "subject", json_str(msg->subject));
    if (msg->date != NULL) {
        g_autofree char *d = rfc3339_format(msg->date);
        json_object_set_new(o, "date", json_str(d));
    } else {
        json_object_set_new(o, "date", json_null());
    }
    json_object_set_new(o, "from", json_addrs(msg->from));
    json_object_set_new(o, "to", json_addrs(msg->to));
    json_object_set_new(o, "cc", json_addrs(msg->cc));
    json_object_set_new(o, "reply_to", json_addrs(msg->reply_to));
    json_object_set_new(o, "in_reply_to", json_str(msg->in_reply_to));
    json_t *refs = json_array();
    for (guint i = 0; i < msg->references->len; i++)
        json_array_append_new(refs,
                              json_str(g_ptr_array_index(msg->references, i)));
    json_object_set_new(o, "references", refs);
    json_object_set_new(o, "text", json_str(msg->text));
    json_t *atts = json_array();
    for (guint i = 0; i < msg->attachments->len; i++) {
        const message_attachment *a = g_ptr_array_index(msg->attachments, i);
        json_array_append_new(
            atts,
            json_pack("{s:o, s:o, s:I, s:s}", "filename", json_str(a->filename),
                      "content_type", json_str(a->content_type), "size",
                      (json_int_t)a->size, "sha256", a->sha256));
    }
    json_object_set_new(o, "attachments", atts);
    json_t *warns = json_array();
    for (guint i = 0; i < msg->warnings->len; i++)
        json_array_append_new(warns,
                              json_str(g_ptr_array_index(msg->warnings, i)));
    json_object_set_new(o, "warnings", warns);
    return o;
}

char *message_snippet(const crm_message *msg, guint max_chars)
{
    GString *s = g_string_new(NULL);
    bool space = false;
    guint chars = 0;
    for (const char *p = msg->text; *p != '\0' && chars < max_chars;
         p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isspace(c)) {
            space = s->len > 0;
            continue;
        }
        if (space) {
            if (chars + 1 >= max_chars)
                break; /* no trailing space */
            g_string_append_c(s, ' ');
            space = false;
            chars++;
        }
        g_string_append_unichar(s, c);
        chars++;
    }
    return g_string_free(s, FALSE);
}
