-- 0015_voip: calls from a cloud PBX (Zadarma, or any PBX through the
-- generic JSON webhook).
--
-- The loop (DESIGN.md, "VoIP"): crmgate-web verifies a provider event and
-- hands it to crm_voip_event(), which stores it raw and once (provider,
-- call id, event, dedupe), folds every stored event of that call into the
-- one `calls` row (so events arriving twice or out of order still give
-- one correct row), answers the routing question of a ringing incoming
-- call, and queues a "voip.call" job. crmgate-worker runs
-- crm_call_process() for it: match the outside number (contacts, leads,
-- companies; E.164, then the last nine digits; the most recently active
-- record wins a tie), create a lead and a request for an unknown caller,
-- a call-back task for a missed call, and queue the recording download.
-- Both functions are SECURITY DEFINER: the web and the worker roles read
-- no CRM table for this.
--
-- Deviation from DESIGN.md: calls and call_events are not partitioned by
-- time (their unique keys would have to carry the partition key); like
-- campaign_recipients, retention is a DELETE by age (README).

ALTER TABLE companies ADD COLUMN phone_e164 text,
                      ADD COLUMN phone_last9 text;
CREATE INDEX companies_phone_last9_idx ON companies (phone_last9);
CREATE TRIGGER companies_phone_last9 BEFORE INSERT OR UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION crm_phone_last9();
UPDATE companies SET phone_last9 = right(regexp_replace(phone, '[^0-9]', '', 'g'), 9)
 WHERE length(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')) >= 9;
CREATE INDEX contacts_phone_e164_idx ON contacts (phone_e164);
CREATE INDEX leads_phone_e164_idx ON leads (phone_e164);
CREATE INDEX companies_phone_e164_idx ON companies (phone_e164);
CREATE INDEX users_phone_ext_idx ON users (phone_ext) WHERE phone_ext IS NOT NULL;

INSERT INTO lead_sources (name) VALUES ('phone call') ON CONFLICT (name) DO NOTHING;

-- A lead or contact known only by a phone number is labelled by it.
CREATE OR REPLACE FUNCTION crm_record_label(rtype text, rid bigint)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE rtype
        WHEN 'contact' THEN (SELECT coalesce(nullif(btrim(first_name || ' ' ||
                                 last_name), ''), email, phone, '#' || id)
                               FROM contacts WHERE id = rid)
        WHEN 'lead' THEN (SELECT coalesce(nullif(btrim(first_name || ' ' ||
                              last_name), ''), email, company_name,
                              phone_e164, phone, '#' || id)
                            FROM leads WHERE id = rid)
        WHEN 'company' THEN (SELECT name FROM companies WHERE id = rid)
        WHEN 'deal' THEN (SELECT name FROM deals WHERE id = rid)
        WHEN 'request' THEN (SELECT ticket || coalesce(': ' ||
                                 nullif(subject, ''), '')
                               FROM requests WHERE id = rid)
    END
$$;

-- The company's own numbers (DIDs) and who answers for each: the owner of
-- what an unknown caller of that number creates (`crmgate voip line add`).
CREATE TABLE voip_lines (
    number_e164 text PRIMARY KEY CHECK (number_e164 ~ '^\+[0-9]{3,15}$'),
    user_id     bigint REFERENCES users(id) ON DELETE SET NULL,
    label       text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Round robin over active managers for callers of a number nobody answers
-- for: the last one given a caller.
CREATE TABLE voip_round_robin (
    id           smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_user_id bigint
);
INSERT INTO voip_round_robin (id) VALUES (1);

CREATE TABLE calls (
    id              bigserial PRIMARY KEY,
    provider        text NOT NULL CHECK (length(provider) BETWEEN 1 AND 40),
    call_id         text NOT NULL CHECK (length(call_id) BETWEEN 1 AND 200),
    direction       text NOT NULL DEFAULT 'in'
                    CHECK (direction IN ('in', 'out')),
    state           text NOT NULL DEFAULT 'ringing'
                    CHECK (state IN ('ringing', 'answered', 'ended')),
    remote_number   text,  -- the outside party as the PBX sent it
    remote_e164     text,
    remote_last9    text,
    line_number     text,  -- our number: called DID (in), caller id (out)
    line_e164       text,
    extension       text,  -- who answered (in) or dialled (out)
    user_id         bigint REFERENCES users(id) ON DELETE SET NULL,
    record_type     text CHECK (record_type IN ('contact', 'lead', 'company')),
    record_id       bigint,
    started_at      timestamptz,
    answered_at     timestamptz,
    ended_at        timestamptz,
    duration_s      integer CHECK (duration_s >= 0),
    disposition     text,  -- answered, busy, cancel, no answer, failed, ...
    status_code     text,
    recorded        boolean NOT NULL DEFAULT false,
    recording_id    text,  -- the provider's id of the recording
    recording_url   text,  -- a generic PBX's link to it (crm_call_process)
    recording_state text NOT NULL DEFAULT 'none'
                    CHECK (recording_state IN ('none', 'pending', 'fetched',
                                               'failed')),
    lead_created    boolean NOT NULL DEFAULT false,
    request_id      bigint REFERENCES requests(id) ON DELETE SET NULL,
    task_id         bigint REFERENCES tasks(id) ON DELETE SET NULL,
    processed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, call_id),
    CHECK ((record_type IS NULL) = (record_id IS NULL))
);
CREATE INDEX calls_record_idx ON calls (record_type, record_id, started_at DESC);
CREATE INDEX calls_user_idx ON calls (user_id, started_at);
CREATE INDEX calls_started_idx ON calls (started_at);
CREATE INDEX calls_remote_last9_idx ON calls (remote_last9);
-- a request's page shows the call it was made for (core/views.c)
CREATE INDEX calls_request_idx ON calls (request_id) WHERE request_id IS NOT NULL;
-- the calls a manager may see: of records they co-own (callview.h)
CREATE INDEX contacts_co_owner_idx ON contacts (co_owner_id) WHERE co_owner_id IS NOT NULL;
CREATE INDEX leads_co_owner_idx ON leads (co_owner_id) WHERE co_owner_id IS NOT NULL;
CREATE INDEX companies_co_owner_idx ON companies (co_owner_id) WHERE co_owner_id IS NOT NULL;

-- Every provider event as received (audit), once. `fields` is what the
-- web's parser made of it (core/voip.c): kind (start, ivr, internal,
-- answer, end, out_start, out_end, record), direction, at, start, remote,
-- remote_e164, remote_last9, line, line_e164, extension, disposition,
-- duration, status_code, recorded, recording_id.
CREATE TABLE call_events (
    id          bigserial PRIMARY KEY,
    provider    text NOT NULL,
    call_id     text NOT NULL,
    event       text NOT NULL CHECK (length(event) BETWEEN 1 AND 40),
    dedupe      text NOT NULL DEFAULT '' CHECK (length(dedupe) <= 200),
    payload     jsonb NOT NULL,
    fields      jsonb NOT NULL,
    source      text,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, call_id, event, dedupe)
);
CREATE INDEX call_events_received_idx ON call_events (received_at);

CREATE TABLE call_recordings (
    call_pk      bigint PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    content_type text NOT NULL DEFAULT 'audio/mpeg',
    bytes        bytea NOT NULL,
    fetched_at   timestamptz NOT NULL DEFAULT now()
);

-- Click-to-call requests (web button, `crmgate call NUMBER --from EXT`):
-- queued, then the worker's "voip.callback" job asks the provider.
CREATE TABLE call_requests (
    id          bigserial PRIMARY KEY,
    user_id     bigint REFERENCES users(id) ON DELETE SET NULL,
    from_ext    text NOT NULL CHECK (length(from_ext) BETWEEN 1 AND 40),
    to_number   text NOT NULL CHECK (length(to_number) BETWEEN 1 AND 64),
    to_e164     text,
    record_type text CHECK (record_type IN ('contact', 'lead', 'company')),
    record_id   bigint,
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'done', 'failed')),
    result      text CHECK (length(result) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX call_requests_record_idx ON call_requests (record_type, record_id, id DESC);

-- The record a number belongs to: contacts, then leads, then companies;
-- within each an exact E.164 match before one on the last nine digits;
-- the most recently active record wins a tie. Every branch is one index
-- probe.
CREATE FUNCTION crm_phone_match(p_e164 text, p_last9 text)
RETURNS TABLE (record_type text, record_id bigint, owner_id bigint, name text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL, not SQL: a SECURITY DEFINER SQL function is never inlined
    -- and was planned again on every call (0.22 ms of the 0.26 ms a
    -- lookup cost); PL/pgSQL keeps the plan for the connection.
    RETURN QUERY
    SELECT m.rtype, m.rid, m.owner_id, m.name FROM (
        SELECT 'contact' AS rtype, 1 AS ord, c.id AS rid, c.owner_id,
               coalesce(nullif(btrim(c.first_name || ' ' || c.last_name), ''),
                        c.email, c.phone) AS name,
               (c.phone_e164 = p_e164) AS exact, c.updated_at
          FROM contacts c
         WHERE c.phone_e164 = p_e164 OR c.phone_last9 = p_last9
        UNION ALL
        SELECT 'lead', 2, l.id, l.owner_id,
               coalesce(nullif(btrim(l.first_name || ' ' || l.last_name), ''),
                        l.company_name, l.email, l.phone_e164, l.phone),
               (l.phone_e164 = p_e164), l.updated_at
          FROM leads l
         WHERE (l.phone_e164 = p_e164 OR l.phone_last9 = p_last9)
           AND l.contact_id IS NULL AND NOT l.disqualified
        UNION ALL
        SELECT 'company', 3, co.id, co.owner_id, co.name,
               (co.phone_e164 = p_e164), co.updated_at
          FROM companies co
         WHERE co.phone_e164 = p_e164 OR co.phone_last9 = p_last9) m
     ORDER BY m.ord, m.exact DESC NULLS LAST, m.updated_at DESC, m.rid DESC
     LIMIT 1;
END
$$;

-- What to tell the PBX about a ringing incoming call from (e164, last9):
-- {"redirect": EXT, "caller_name": NAME} for a known caller whose owner
-- has an extension, {"caller_name": NAME} when the owner has none, {} for
-- an unknown one.
CREATE FUNCTION crm_voip_route(p_e164 text, p_last9 text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    r jsonb;
BEGIN
    SELECT jsonb_strip_nulls(jsonb_build_object(
               'redirect', (SELECT nullif(u.phone_ext, '') FROM users u
                             WHERE u.id = m.owner_id AND u.active),
               'caller_name', left(m.name, 100)))
      INTO r
      FROM crm_phone_match(p_e164, p_last9) m;
    RETURN coalesce(r, '{}'::jsonb);
END
$$;

-- Recomputes the call row from all its stored events (order-independent).
CREATE FUNCTION crm_call_fold(p_call bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    c calls%ROWTYPE;
    k_dir text; k_start timestamptz; k_answer timestamptz; k_end timestamptz;
    k_ext text; k_disp text; k_dur int; k_code text; k_rec boolean;
    k_recid text; k_remote text; k_remote_e164 text; k_remote_last9 text;
    k_line text; k_line_e164 text; k_state text;
BEGIN
    SELECT * INTO c FROM calls WHERE id = p_call;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    WITH ev AS (
        SELECT fields AS f, fields->>'kind' AS kind,
               (fields->>'at')::timestamptz AS at, id
          FROM call_events
         WHERE provider = c.provider AND call_id = c.call_id)
    SELECT CASE WHEN bool_or(kind IN ('out_start', 'out_end')
                             OR f->>'direction' = 'out')
                THEN 'out' ELSE 'in' END,
           min(coalesce((f->>'start')::timestamptz, at)),
           min(at) FILTER (WHERE kind = 'answer'),
           max(at) FILTER (WHERE kind IN ('end', 'out_end')),
           (array_agg(f->>'disposition' ORDER BY at DESC, id DESC)
               FILTER (WHERE kind IN ('end', 'out_end')
                       AND f->>'disposition' <> ''))[1],
           (array_agg((f->>'duration')::int ORDER BY at DESC, id DESC)
               FILTER (WHERE kind IN ('end', 'out_end')
                       AND f ? 'duration'))[1],
           (array_agg(f->>'status_code' ORDER BY at DESC, id DESC)
               FILTER (WHERE kind IN ('end', 'out_end')
                       AND f->>'status_code' <> ''))[1],
           coalesce(bool_or(kind = 'record' OR (f->>'recorded')::boolean),
                    false),
           (array_agg(f->>'recording_id' ORDER BY at DESC, id DESC)
               FILTER (WHERE f->>'recording_id' <> ''))[1],
           -- who: the last to answer, else who dialled, else who was rung
           coalesce(
               (array_agg(f->>'extension' ORDER BY at DESC, id DESC)
                   FILTER (WHERE kind = 'answer' AND f->>'extension' <> ''))[1],
               (array_agg(f->>'extension' ORDER BY at DESC, id DESC)
                   FILTER (WHERE kind IN ('out_start', 'out_end', 'end')
                           AND f->>'extension' <> ''))[1],
               (array_agg(f->>'extension' ORDER BY at DESC, id DESC)
                   FILTER (WHERE f->>'extension' <> ''))[1]),
           (array_agg(f->>'remote' ORDER BY id) FILTER (WHERE f->>'remote' <> ''))[1],
           (array_agg(f->>'remote_e164' ORDER BY id)
               FILTER (WHERE f->>'remote_e164' <> ''))[1],
           (array_agg(f->>'remote_last9' ORDER BY id)
               FILTER (WHERE f->>'remote_last9' <> ''))[1],
           (array_agg(f->>'line' ORDER BY id) FILTER (WHERE f->>'line' <> ''))[1],
           (array_agg(f->>'line_e164' ORDER BY id)
               FILTER (WHERE f->>'line_e164' <> ''))[1],
           CASE WHEN bool_or(kind IN ('end', 'out_end')) THEN 'ended'
                WHEN bool_or(kind = 'answer') THEN 'answered'
                ELSE 'ringing' END
      INTO k_dir, k_start, k_answer, k_end, k_disp, k_dur, k_code, k_rec,
           k_recid, k_ext, k_remote, k_remote_e164, k_remote_last9, k_line,
           k_line_e164, k_state
      FROM ev;
    IF k_answer IS NULL AND k_disp = 'answered' AND k_end IS NOT NULL
       AND k_dur IS NOT NULL THEN
        k_answer := k_end - make_interval(secs => k_dur);
    END IF;
    UPDATE calls SET
        direction = k_dir, state = k_state, started_at = k_start,
        answered_at = k_answer, ended_at = k_end, duration_s = k_dur,
        disposition = k_disp, status_code = k_code, recorded = k_rec,
        recording_id = k_recid, extension = k_ext,
        user_id = (SELECT u.id FROM users u WHERE k_ext IS NOT NULL
                     AND u.phone_ext = k_ext ORDER BY u.active DESC, u.id
                   LIMIT 1),
        remote_number = k_remote, remote_e164 = k_remote_e164,
        remote_last9 = k_remote_last9, line_number = k_line,
        -- the clock, not now(): taken under the row lock, so updated_at
        -- and processed_at order folds and processing as the lock did
        -- (a job's transaction may begin before the fold it waits for)
        line_e164 = k_line_e164, updated_at = clock_timestamp()
     WHERE id = p_call;
END
$$;

-- Stores one verified provider event (once) and folds it into its call;
-- for a new event queues the worker's "voip.call" job. Returns whether it
-- was new, the call's id, and for a ringing incoming call (kind start or
-- ivr) the routing answer (crm_voip_route), else NULL.
CREATE FUNCTION crm_voip_event(p_provider text, p_call_id text, p_event text,
                               p_dedupe text, p_payload jsonb, p_fields jsonb,
                               p_source text,
                               OUT stored boolean, OUT call_pk bigint,
                               OUT route jsonb)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    ev_id bigint;
BEGIN
    -- Events of a call in progress commit without waiting for the WAL
    -- flush: whatever they carry (caller, called number, start, who was
    -- rung or answered) the end event repeats, so a database crash in the
    -- flush window (wal_writer_delay) loses nothing the call row needs.
    -- This keeps the ringing call's answer fast: every event also queues
    -- a job with NOTIFY, and PostgreSQL commits notifying transactions
    -- one at a time, each holding its lock through its own flush. End and
    -- record events stay durable.
    IF p_fields->>'kind' IN ('start', 'ivr', 'internal', 'answer',
                             'out_start') THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    -- The call row first, locked: concurrent events of one call queue
    -- here, so each fold sees every event committed before it.
    INSERT INTO calls (provider, call_id, direction)
    VALUES (p_provider, p_call_id,
            CASE WHEN p_fields->>'direction' = 'out' THEN 'out' ELSE 'in' END)
    ON CONFLICT (provider, call_id) DO NOTHING;
    SELECT id INTO call_pk FROM calls
     WHERE provider = p_provider AND call_id = p_call_id FOR UPDATE;
    INSERT INTO call_events (provider, call_id, event, dedupe, payload,
                             fields, source)
    VALUES (p_provider, p_call_id, p_event, coalesce(p_dedupe, ''), p_payload,
            p_fields, p_source)
    ON CONFLICT (provider, call_id, event, dedupe) DO NOTHING
    RETURNING id INTO ev_id;
    stored := ev_id IS NOT NULL;
    IF stored THEN
        PERFORM crm_call_fold(call_pk);
        PERFORM crm_job_enqueue('voip.call',
                                jsonb_build_object('call', call_pk));
    END IF;
    IF p_fields->>'kind' IN ('start', 'ivr')
       AND coalesce(p_fields->>'direction', 'in') = 'in' THEN
        route := crm_voip_route(nullif(p_fields->>'remote_e164', ''),
                                nullif(p_fields->>'remote_last9', ''));
    END IF;
END
$$;

-- The next active manager after the last one given a caller (wraps).
CREATE FUNCTION crm_voip_next_manager() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    last_id bigint;
    next_id bigint;
BEGIN
    SELECT last_user_id INTO last_id FROM voip_round_robin WHERE id = 1
       FOR UPDATE;
    SELECT id INTO next_id FROM users
     WHERE role = 'manager' AND active AND id > coalesce(last_id, 0)
     ORDER BY id LIMIT 1;
    IF next_id IS NULL THEN
        SELECT id INTO next_id FROM users
         WHERE role = 'manager' AND active ORDER BY id LIMIT 1;
    END IF;
    IF next_id IS NOT NULL THEN
        UPDATE voip_round_robin SET last_user_id = next_id WHERE id = 1;
    END IF;
    RETURN next_id;
END
$$;

-- A request made for a call gets no "answer request" task of its own
-- (sql/0008's trigger): the call decides (a call-back task when missed).
CREATE OR REPLACE FUNCTION crm_requests_task() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_task bigint;
BEGIN
    IF current_setting('crmgate.call_request', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO tasks (title, description, owner_id, due_date, priority,
                       record_type, record_id)
    VALUES (left('Answer request ' || NEW.ticket || ': ' ||
                 coalesce(nullif(NEW.subject, ''), '(no subject)'), 500),
            left(NEW.description, 2000), NEW.owner_id,
            (now() + interval '1 day')::date, 3, 'request', NEW.id)
    RETURNING id INTO v_task;
    PERFORM crm_job_enqueue('task.assigned',
                            jsonb_build_object('task', v_task), now(),
                            'task.assigned:' || v_task);
    RETURN NULL;
END
$$;

-- The worker's part of a call (job "voip.call"), idempotent: match the
-- outside number to a record; for an unknown incoming caller a lead and a
-- request (once), owned by the called line's user, else the next manager
-- in turn, else nobody; for a missed incoming call a call-back task for
-- the owner (once); for a recorded ended call the recording download
-- (job "voip.recording", p_recording_delay_s -- voip.recording_delay --
-- after the end; a generic PBX's recording_url is copied into the call
-- first). Returns what it did.
CREATE FUNCTION crm_call_process(p_call bigint,
                                 p_recording_delay_s integer DEFAULT 40)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    c       calls%ROWTYPE;
    m       record;
    v_owner bigint;
    v_src   bigint;
    v_lead  bigint;
    v_req   bigint;
    v_task  bigint;
    v_label text;
    did     jsonb := '{}';
BEGIN
    SELECT * INTO c FROM calls WHERE id = p_call FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('missing', true);
    END IF;
    IF c.record_id IS NULL AND coalesce(c.remote_last9, c.remote_e164) IS NOT NULL THEN
        SELECT * INTO m FROM crm_phone_match(c.remote_e164, c.remote_last9);
        IF FOUND THEN
            c.record_type := m.record_type;
            c.record_id := m.record_id;
            did := did || jsonb_build_object('matched', m.record_type || ':' || m.record_id);
        END IF;
    END IF;
    -- The owner: of the record, else the line's user.
    IF c.record_id IS NOT NULL THEN
        SELECT o.owner_id INTO v_owner FROM (
            SELECT owner_id FROM contacts WHERE c.record_type = 'contact' AND id = c.record_id
            UNION ALL SELECT owner_id FROM leads WHERE c.record_type = 'lead' AND id = c.record_id
            UNION ALL SELECT owner_id FROM companies WHERE c.record_type = 'company' AND id = c.record_id) o;
    END IF;
    IF v_owner IS NULL THEN
        SELECT l.user_id INTO v_owner FROM voip_lines l JOIN users u ON u.id = l.user_id
         WHERE l.number_e164 = c.line_e164 AND u.active;
    END IF;
    -- Unknown incoming caller: a lead and a request, once.
    IF c.record_id IS NULL AND c.direction = 'in' AND NOT c.lead_created
       AND coalesce(c.remote_e164, c.remote_number, '') <> '' THEN
        IF v_owner IS NULL THEN
            v_owner := crm_voip_next_manager();
        END IF;
        SELECT id INTO v_src FROM lead_sources WHERE name = 'phone call';
        INSERT INTO leads (phone, phone_e164, phone_last9, description,
                           owner_id, lead_source_id)
        VALUES (c.remote_number, c.remote_e164, c.remote_last9,
                left('Phone call from ' || coalesce(c.remote_e164, c.remote_number) ||
                     ' to ' || coalesce(c.line_e164, c.line_number, '?') ||
                     coalesce(' at ' || to_char(c.started_at AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD HH24:MI') || ' UTC', ''), 2000),
                v_owner, v_src)
        RETURNING id INTO v_lead;
        PERFORM set_config('crmgate.call_request', 'on', true);
        INSERT INTO requests (subject, description, phone, lead_source_id,
                              owner_id, lead_id)
        VALUES (left('Phone call from ' || coalesce(c.remote_e164, c.remote_number), 500),
                left('Call ' || c.provider || ' ' || c.call_id || ' from ' ||
                     coalesce(c.remote_e164, c.remote_number) || ' to ' ||
                     coalesce(c.line_e164, c.line_number, '?'), 2000),
                coalesce(c.remote_e164, c.remote_number), v_src, v_owner, v_lead)
        RETURNING id INTO v_req;
        PERFORM set_config('crmgate.call_request', 'off', true);
        c.record_type := 'lead';
        c.record_id := v_lead;
        c.lead_created := true;
        c.request_id := v_req;
        did := did || jsonb_build_object('lead', v_lead, 'request', v_req);
    END IF;
    -- A missed incoming call: a call-back task for the owner, once.
    IF c.state = 'ended' AND c.direction = 'in' AND c.task_id IS NULL
       AND c.answered_at IS NULL
       AND lower(coalesce(c.disposition, '')) IN
           ('no answer', 'noanswer', 'no_answer', 'busy', 'cancel',
            'canceled', 'cancelled', 'missed')
       AND v_owner IS NOT NULL THEN
        v_label := coalesce(crm_record_label(c.record_type, c.record_id),
                            c.remote_e164, c.remote_number);
        INSERT INTO tasks (title, description, owner_id, due_date, priority,
                           record_type, record_id)
        VALUES (left('Call back ' || v_label ||
                     coalesce(' (' || nullif(c.remote_e164, v_label) || ')', ''), 500),
                left('Missed call (' || c.disposition || ') from ' ||
                     coalesce(c.remote_e164, c.remote_number, '?') || ' to ' ||
                     coalesce(c.line_e164, c.line_number, '?') ||
                     coalesce(' at ' || to_char(c.started_at AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD HH24:MI') || ' UTC', ''), 2000),
                v_owner, current_date, 3, c.record_type, c.record_id)
        RETURNING id INTO v_task;
        PERFORM crm_job_enqueue('task.assigned', jsonb_build_object('task', v_task),
                                now(), 'task.assigned:' || v_task);
        c.task_id := v_task;
        did := did || jsonb_build_object('task', v_task);
    END IF;
    -- A recorded call: fetch the recording about 40 s after the end.
    IF c.recording_url IS NULL THEN
        SELECT coalesce(nullif(e.fields->>'recording_url', ''),
                        nullif(e.payload->>'recording_url', ''))
          INTO c.recording_url FROM call_events e
         WHERE e.provider = c.provider AND e.call_id = c.call_id
           AND coalesce(nullif(e.fields->>'recording_url', ''),
                        nullif(e.payload->>'recording_url', '')) IS NOT NULL
         ORDER BY e.id DESC LIMIT 1;
    END IF;
    IF c.recorded AND c.state = 'ended' AND c.recording_state = 'none' THEN
        c.recording_state := 'pending';
        PERFORM crm_job_enqueue('voip.recording', jsonb_build_object('call', c.id),
                                greatest(coalesce(c.ended_at, now()) +
                                         make_interval(secs => greatest(coalesce(p_recording_delay_s, 40), 0)),
                                         now() + interval '1 second'),
                                'voip.recording:' || c.id);
        did := did || jsonb_build_object('recording', 'queued');
    END IF;
    UPDATE calls SET record_type = c.record_type, record_id = c.record_id,
           lead_created = c.lead_created, request_id = c.request_id,
           task_id = c.task_id, recording_state = c.recording_state,
           recording_url = c.recording_url,
           processed_at = clock_timestamp()  -- under the lock: see crm_call_fold
     WHERE id = c.id;
    RETURN did;
END
$$;

-- Click-to-call (web button and CLI): the request row and its
-- "voip.callback" job, in one step. Returns the request's id.
CREATE FUNCTION crm_call_request(p_user bigint, p_from_ext text,
                                 p_to text, p_to_e164 text,
                                 p_record_type text, p_record_id bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO call_requests (user_id, from_ext, to_number, to_e164,
                               record_type, record_id)
    VALUES (p_user, p_from_ext, p_to, nullif(p_to_e164, ''), p_record_type,
            p_record_id)
    RETURNING id INTO v_id;
    PERFORM crm_job_enqueue('voip.callback',
                            jsonb_build_object('request', v_id));
    RETURN v_id;
END
$$;

REVOKE ALL ON FUNCTION crm_call_request(bigint, text, text, text, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_phone_match(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_voip_route(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_call_fold(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_voip_event(text, text, text, text, jsonb, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_voip_next_manager() FROM PUBLIC;
REVOKE ALL ON FUNCTION crm_call_process(bigint, integer) FROM PUBLIC;

-- crmgate_web: the webhooks, the call rows on timelines and reports, the
-- recordings, click-to-call requests.
GRANT EXECUTE ON FUNCTION crm_voip_event(text, text, text, text, jsonb, jsonb, text)
    TO crmgate_web;
GRANT EXECUTE ON FUNCTION crm_voip_route(text, text) TO crmgate_web;
GRANT SELECT ON calls, call_recordings, call_requests, voip_lines TO crmgate_web;
GRANT EXECUTE ON FUNCTION crm_call_request(bigint, text, text, text, text, bigint)
    TO crmgate_web;

-- crmgate_worker: process calls, fetch recordings, place callbacks.
GRANT EXECUTE ON FUNCTION crm_call_process(bigint, integer) TO crmgate_worker;
GRANT SELECT (id, provider, call_id, recording_id, recording_url,
              recording_state, recorded, ended_at)
    ON calls TO crmgate_worker;
GRANT UPDATE (recording_state, updated_at) ON calls TO crmgate_worker;
GRANT SELECT, INSERT, UPDATE ON call_recordings TO crmgate_worker;
GRANT SELECT ON call_requests TO crmgate_worker;
GRANT UPDATE (state, result, finished_at) ON call_requests TO crmgate_worker;
