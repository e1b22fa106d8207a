/*
 * api_records.c - the record API (WEB_API routes, Bearer token or
 * session): GET /api/contacts/ID, /api/deals/ID (the record's fields and
 * related records), /api/timeline/TYPE/ID ({"record": "TYPE:ID", "items":
 * [...], "truncated": bool}), /api/search?q= ({"query", "results": [{type,
 * id, label, detail}]}). The same JSON as the pages (core/views.c); a
 * record the viewer may not see is 404 {"error": ...}.
 */
#include <string.h>

#include "crmgate/views.h"
#include "web.h"

#define API_TIMELINE_MAX 200
#define API_SEARCH_PER_KIND 20

/* Answers r/out: 200 with out, or the error. */
static void answer(web_req *req, web_resp *resp, crm_result r, json_t *out,
                   char *err)
{
    if (r)
        web_views_error(req, resp, r, err);
    else
        web_json(resp, 200, out);
    g_free(err);
}

static void record(web_req *req, web_resp *resp, const char *type)
{
    views_viewer v = web_views_viewer(req);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r = views_record(&v, type, req->id, &out, &err);
    /* the edit form's choices are for the page */
    if (r == CRM_OK)
        json_object_del(out, "choices");
    answer(req, resp, r, out, err);
}

void web_api_contact(web_req *req, web_resp *resp)
{
    record(req, resp, "contact");
}

void web_api_deal(web_req *req, web_resp *resp)
{
    record(req, resp, "deal");
}

void web_api_timeline(web_req *req, web_resp *resp)
{
    const char *type = req->args[0];
    if (!views_record_type(type)) {
        web_error(req, resp, 404, "unknown record type");
        return;
    }
    views_viewer v = web_views_viewer(req);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r =
        views_timeline(&v, type, req->id, API_TIMELINE_MAX, &out, &err);
    answer(req, resp, r, out, err);
}

void web_api_search(web_req *req, web_resp *resp)
{
    const char *q = webform_get(req->query, "q");
    views_viewer v = web_views_viewer(req);
    json_t *out = NULL;
    char *err = NULL;
    crm_result r =
        views_search(&v, q ? q : "", API_SEARCH_PER_KIND, &out, &err);
    answer(req, resp, r, out, err);
}
