-- 0011_jobs: the job queue crmgate-worker runs (core/jobs.c).
--
-- jobs is the hot table: only jobs waiting (available), being run
-- (running, under a lease) or given up (discarded). A worker claims a batch
-- with FOR UPDATE SKIP LOCKED and a lease; a lease that expires (the worker
-- died) makes the job claimable again, so a crash loses nothing. A finished
-- job leaves jobs in the same statement that records it in jobs_done,
-- which is partitioned by month of finished_at: retention is DROP TABLE of
-- an old partition, never a DELETE. crm_jobs_partitions() makes next
-- months' partitions ahead (the worker calls it daily); a DEFAULT partition
-- catches the rest.
--
-- max_attempts NULL means "the worker's worker.max_attempts". A unique_key
-- holds while the job is available or running (and until it is done): a
-- second enqueue with the same key returns the first job's id.
--
-- Everyone enqueues through crm_job_enqueue() (SECURITY DEFINER), which
-- also wakes the workers with NOTIFY crmgate_jobs (payload: the kind).

CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    payload          jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'available'
                     CHECK (state IN ('available', 'running', 'discarded')),
    priority         smallint NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempts         int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     int CHECK (max_attempts BETWEEN 1 AND 1000),
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text CHECK (length(last_error) <= 2000),
    unique_key       text CHECK (length(unique_key) BETWEEN 1 AND 200),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- Claiming: the next available jobs in order, and the expired leases.
CREATE INDEX jobs_available_idx ON jobs (priority DESC, run_at)
    WHERE state = 'available';
CREATE INDEX jobs_running_idx ON jobs (lease_expires_at)
    WHERE state = 'running';
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state <> 'discarded';
CREATE INDEX jobs_kind_idx ON jobs (kind);

CREATE TABLE jobs_done (
    id           bigint NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    attempts     int NOT NULL,
    unique_key   text,
    worker       text,
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (finished_at);
CREATE TABLE jobs_done_default PARTITION OF jobs_done DEFAULT;
CREATE INDEX jobs_done_finished_idx ON jobs_done (finished_at);
CREATE INDEX jobs_done_id_idx ON jobs_done (id);

-- Creates the monthly partitions of jobs_done from this month to
-- p_months ahead (jobs_done_YYYYMM) that do not exist yet; returns how
-- many it made. A month whose rows already sit in the DEFAULT partition is
-- left there (a notice), never an error: the worker calls this daily.
CREATE FUNCTION crm_jobs_partitions(p_months int DEFAULT 3)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    m     date := date_trunc('month', now())::date;
    made  int := 0;
    name  text;
BEGIN
    IF p_months < 0 OR p_months > 120 THEN
        RAISE EXCEPTION 'p_months must be between 0 and 120';
    END IF;
    FOR i IN 0 .. p_months LOOP
        name := 'jobs_done_' || to_char(m, 'YYYYMM');
        IF to_regclass(name) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF jobs_done '
                               'FOR VALUES FROM (%L) TO (%L)', name, m,
                               (m + interval '1 month')::date);
                made := made + 1;
            EXCEPTION WHEN check_violation THEN
                RAISE NOTICE 'jobs_done: rows of % are in the default '
                             'partition; % not made', m, name;
            END;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN made;
END
$$;
SELECT crm_jobs_partitions(3);

-- Enqueues one job and wakes the workers; returns its id, or with a
-- unique key that a live job holds already, that job's id (nothing new).
CREATE FUNCTION crm_job_enqueue(p_kind text, p_payload jsonb DEFAULT '{}',
                                p_run_at timestamptz DEFAULT now(),
                                p_unique_key text DEFAULT NULL,
                                p_max_attempts int DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    -- The holder of the key may finish between the insert and the look-up:
    -- then try again (a few times; two races in a row are rare enough).
    FOR i IN 1 .. 3 LOOP
        INSERT INTO jobs (kind, payload, run_at, unique_key, max_attempts)
        VALUES (p_kind, coalesce(p_payload, '{}'), coalesce(p_run_at, now()),
                p_unique_key, p_max_attempts)
        ON CONFLICT (unique_key)
            WHERE unique_key IS NOT NULL AND state <> 'discarded'
            DO NOTHING
        RETURNING id INTO new_id;
        IF new_id IS NOT NULL THEN
            PERFORM pg_notify('crmgate_jobs', p_kind);
            RETURN new_id;
        END IF;
        SELECT id INTO new_id FROM jobs
         WHERE unique_key = p_unique_key AND state <> 'discarded';
        IF new_id IS NOT NULL THEN
            RETURN new_id;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'crm_job_enqueue: unique key % kept changing', p_unique_key;
END
$$;
REVOKE ALL ON FUNCTION crm_job_enqueue(text, jsonb, timestamptz, text, int)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_jobs_partitions(int) FROM PUBLIC;

-- crmgate_worker: created by a database admin like crmgate_web (README,
-- "Database roles"). Here only what the queue needs; the campaign and
-- notice migrations grant their own tables.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate_worker') THEN
        RAISE EXCEPTION 'role crmgate_worker does not exist'
            USING HINT = 'A database admin creates it once: CREATE ROLE '
                         'crmgate_worker LOGIN PASSWORD ''...''; then run '
                         'crmgate migrate again (README, "Database roles").';
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO crmgate_worker',
                   current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO crmgate_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs TO crmgate_worker;
GRANT SELECT, INSERT ON jobs_done TO crmgate_worker;
GRANT USAGE ON SEQUENCE jobs_id_seq TO crmgate_worker;
GRANT EXECUTE ON FUNCTION crm_job_enqueue(text, jsonb, timestamptz, text, int)
    TO crmgate_worker, crmgate_web;
GRANT EXECUTE ON FUNCTION crm_jobs_partitions(int) TO crmgate_worker;
