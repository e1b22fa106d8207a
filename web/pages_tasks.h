/*
 * pages_tasks.h - what the task pages share (web/pages_tasks.c,
 * web/pages_tasks_done.c).
 */
#ifndef CRMGATE_WEB_PAGES_TASKS_H
#define CRMGATE_WEB_PAGES_TASKS_H

#include "crmgate/tasks.h"
#include "web.h"

/* The viewer of req as the acting user of core/tasks.c. */
tasks_actor web_tasks_actor(const web_req *req);
/* Answers a failed core call (and frees err): 404 says only "not found",
   409 for open subtasks, 400 with the reason, 5xx logged. */
void web_tasks_fail(web_req *req, web_resp *resp, crm_result r, char *err);

#endif
