/*
 * worker.h - crmgate-worker's private pieces: the handler table
 * (handlers.c), the periodic jobs it keeps queued, and the pool of job
 * threads with its LISTEN and heartbeat threads (pool.c).
 */
#ifndef CRMGATE_WORKER_H
#define CRMGATE_WORKER_H

#include <stdbool.h>

#include "crmgate/config.h"
#include "crmgate/jobs.h"

/* One entry of the handler table: a job kind and what runs it. */
typedef struct {
    const char *kind;
    jobs_handler fn;
} worker_handler;

/* A job the worker keeps queued (unique key "periodic:KIND"); its handler
   returns JOBS_SNOOZE with interval_s. */
typedef struct {
    const char *kind;
    guint interval_s;
} worker_periodic;

/* The handler of kind, or NULL when no handler is registered for it. */
jobs_handler worker_handler_find(const char *kind);

/* The periodic jobs, ended by an entry whose kind is NULL. */
extern const worker_periodic worker_periodics[];

/* Runs the pool until SIGTERM/SIGINT (blocked in every thread, taken by
   this one), then drains for cfg->worker_drain_timeout_s. Returns a
   sysexits.h code (0 after a clean drain). */
int worker_pool_run(const crm_config *cfg);

#endif
