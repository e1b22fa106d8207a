-- 0009_reports: what the reports (core/reports.c, django-crm's analytics)
-- read besides the CRM tables: rollups of captured mail kept current from
-- the capture path, and indexes for the record reports.
--
-- Mail is the big table (millions of rows): a report may not scan it per
-- request. Three rollups are kept from the capture path:
--   mail_activity_weekly   messages per staff user, UTC week and direction
--                          (the user: a participant with a user_id, the
--                          sender of outbound mail, a recipient of inbound);
--   thread_first_response  per thread: its first inbound message and the
--                          first outbound message after it, and who sent it;
--   unresolved_messages    captured mail with no message_links row, and
--   unresolved_user_messages  the same per staff user taking part in it
--                          (what a manager's list reads).
-- mail_activity_weekly and thread_first_response are rows many captures
-- share (a user's week, a thread): updated inside every capture
-- transaction they made concurrent ingest batches wait for each other and
-- deadlock (measured: the two lanes of `crmgate ingest` deadlocked at
-- once), and the per-statement trigger work halved ingest speed. So a
-- capture only appends its message and thread to rollup_queue (one
-- insert-only statement, no conflicts), and crm_report_rollups_advance()
-- folds the queue in one place, under an advisory lock: the ingester calls
-- it after a burst and every few seconds under load, `crmgate ingest` at its
-- end, and every mail report before reading, so reports are current. The
-- fold also decides which new messages are unresolved (no link when
-- folded); a link added later removes its message from the lists (a
-- trigger on message_links), and removing a message's last link puts it
-- back. A message's activity is counted once, from the participants it had
-- when first captured.
-- The funnel reads deal_furthest_stage (the highest stages.position each
-- deal has been at), kept by a trigger on deal_stage_history, instead of
-- aggregating the history per request.
-- Deleting messages (retention) or changing participants' user_id after the
-- fact is not followed by the triggers: run crm_report_rollups_rebuild(),
-- which recomputes every rollup from scratch (the seeder calls it after
-- bulk loading). Record reports (deals, requests, payments) read the tables
-- themselves: they are small enough with the indexes below.

-- The staff user a participant row makes "the manager" of a message.
CREATE FUNCTION crm_mail_role_counts(direction text, role text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (direction = 'out' AND role IN ('from', 'sender', 'envelope_from'))
        OR (direction = 'in' AND role IN ('to', 'cc', 'bcc', 'envelope_rcpt'))
$$;

-- When a message happened (its Date header, else when it was captured).
CREATE FUNCTION crm_mail_at(sent timestamptz, captured timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(sent, captured)
$$;

-- The Monday (UTC) of the week a message happened in.
CREATE FUNCTION crm_mail_week(sent timestamptz, captured timestamptz)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_trunc('week', coalesce(sent, captured) AT TIME ZONE 'UTC')::date
$$;

CREATE TABLE mail_activity_weekly (
    week      date NOT NULL,
    user_id   bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    direction text NOT NULL CHECK (direction IN ('in', 'out')),
    n         bigint NOT NULL,
    PRIMARY KEY (week, user_id, direction)
);

CREATE TABLE thread_first_response (
    thread_id bigint PRIMARY KEY,
    in_id     bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    in_at     timestamptz NOT NULL,
    reply_id  bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    reply_at  timestamptz NOT NULL,
    user_id   bigint REFERENCES users(id) ON DELETE SET NULL
);
-- Covering indexes: the report reads them alone (index-only scans).
CREATE INDEX thread_first_response_reply_at_idx
    ON thread_first_response (reply_at) INCLUDE (user_id, in_at);
CREATE INDEX thread_first_response_user_idx
    ON thread_first_response (user_id, reply_at) INCLUDE (in_at);
CREATE INDEX thread_first_response_reply_idx
    ON thread_first_response (reply_id);

CREATE TABLE unresolved_messages (
    message_id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    at         timestamptz NOT NULL
);
CREATE INDEX unresolved_messages_at_idx ON unresolved_messages (at DESC);

CREATE TABLE unresolved_user_messages (
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message_id bigint NOT NULL
               REFERENCES unresolved_messages(message_id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX unresolved_user_messages_at_idx
    ON unresolved_user_messages (user_id, at DESC, message_id DESC);
CREATE INDEX unresolved_user_messages_message_idx
    ON unresolved_user_messages (message_id);

CREATE TABLE deal_furthest_stage (
    deal_id  bigint PRIMARY KEY REFERENCES deals(id) ON DELETE CASCADE,
    position integer NOT NULL
);

-- A deal's lead source, for lead-sources: its request's, else its lead's,
-- else its contact's, decided when the deal is written (a BEFORE trigger)
-- instead of three joins per deal per report (the contact lookups alone
-- took 30 ms a report at 20,000 deals).
ALTER TABLE deals ADD COLUMN lead_source_id bigint REFERENCES lead_sources(id);
CREATE FUNCTION crm_deal_lead_source() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.request_id IS DISTINCT FROM OLD.request_id
       OR NEW.lead_id IS DISTINCT FROM OLD.lead_id
       OR NEW.contact_id IS DISTINCT FROM OLD.contact_id THEN
        NEW.lead_source_id := coalesce(
            (SELECT lead_source_id FROM requests WHERE id = NEW.request_id),
            (SELECT lead_source_id FROM leads WHERE id = NEW.lead_id),
            (SELECT lead_source_id FROM contacts WHERE id = NEW.contact_id));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER deals_lead_source BEFORE INSERT OR UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION crm_deal_lead_source();
UPDATE deals d SET lead_source_id = coalesce(
    (SELECT lead_source_id FROM requests WHERE id = d.request_id),
    (SELECT lead_source_id FROM leads WHERE id = d.lead_id),
    (SELECT lead_source_id FROM contacts WHERE id = d.contact_id));

-- Indexes of the record reports.
CREATE INDEX deals_request_idx ON deals (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX deals_closed_idx ON deals (closed_at) WHERE status <> 'open';
CREATE INDEX deals_created_idx ON deals (created_at);
CREATE INDEX requests_created_idx ON requests (created_at);

-- Recomputes the first-response row of the given threads.
CREATE FUNCTION crm_thread_first_response_refresh(threads bigint[])
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    DELETE FROM thread_first_response
     WHERE thread_id IN (SELECT unnest(threads));
    INSERT INTO thread_first_response (thread_id, in_id, in_at, reply_id,
                                       reply_at, user_id)
    SELECT f.thread_id, f.id, f.at, r.id, r.at,
           (SELECT p.user_id FROM message_participants p
             WHERE p.message_id = r.id AND p.user_id IS NOT NULL
               AND crm_mail_role_counts('out', p.role)
             ORDER BY p.role, p.user_id LIMIT 1)
      FROM (SELECT DISTINCT ON (m.thread_id) m.thread_id, m.id,
                   crm_mail_at(m.sent_at, m.captured_at) AS at
              FROM messages m
             WHERE m.thread_id IN (SELECT unnest(threads))
               AND m.direction = 'in'
             ORDER BY m.thread_id, crm_mail_at(m.sent_at, m.captured_at), m.id) f
     CROSS JOIN LATERAL (
            SELECT o.id, crm_mail_at(o.sent_at, o.captured_at) AS at
              FROM messages o
             WHERE o.thread_id = f.thread_id AND o.direction = 'out'
               AND crm_mail_at(o.sent_at, o.captured_at) > f.at
             ORDER BY 2, o.id LIMIT 1) r;
$$;

-- What the capture path leaves for crm_report_rollups_advance(): a new
-- message (counted in mail_activity_weekly, its thread refreshed), or only a
-- thread to refresh (message_id NULL: re-threading).
CREATE TABLE rollup_queue (
    id         bigserial PRIMARY KEY,
    message_id bigint,
    thread_id  bigint
);

-- New messages: queued for the rollups.
CREATE FUNCTION crm_rollup_messages_ins() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO rollup_queue (message_id, thread_id)
    SELECT n.id, n.thread_id FROM new_rows n;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_rollup_ins AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_rollup_messages_ins();

-- Re-threading moves messages between threads: both threads change.
CREATE FUNCTION crm_rollup_messages_upd() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public AS $$
DECLARE
    t bigint[];
BEGIN
    t := ARRAY(SELECT o.thread_id FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE o.thread_id <> n.thread_id OR o.direction <> n.direction
                   OR o.sent_at IS DISTINCT FROM n.sent_at
               UNION
               SELECT n.thread_id FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE o.thread_id <> n.thread_id OR o.direction <> n.direction
                   OR o.sent_at IS DISTINCT FROM n.sent_at);
    INSERT INTO rollup_queue (thread_id) SELECT unnest(t);
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_rollup_upd AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_rollup_messages_upd();

-- A link resolves a message; removing its last link makes it unresolved.
CREATE FUNCTION crm_rollup_links_ins() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public AS $$
BEGIN
    -- unresolved_user_messages follows (ON DELETE CASCADE)
    DELETE FROM unresolved_messages u
     WHERE u.message_id IN (SELECT n.message_id FROM new_rows n);
    RETURN NULL;
END
$$;
CREATE TRIGGER message_links_rollup_ins AFTER INSERT ON message_links
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_rollup_links_ins();

CREATE FUNCTION crm_rollup_links_del() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO unresolved_messages (message_id, at)
    SELECT m.id, crm_mail_at(m.sent_at, m.captured_at)
      FROM messages m
     WHERE m.id IN (SELECT o.message_id FROM old_rows o)
       AND NOT EXISTS (SELECT 1 FROM message_links l WHERE l.message_id = m.id)
    ON CONFLICT DO NOTHING;
    INSERT INTO unresolved_user_messages (user_id, message_id, at)
    SELECT DISTINCT p.user_id, u.message_id, u.at
      FROM unresolved_messages u
      JOIN message_participants p ON p.message_id = u.message_id
     WHERE u.message_id IN (SELECT o.message_id FROM old_rows o)
       AND p.user_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER message_links_rollup_del AFTER DELETE ON message_links
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_rollup_links_del();

-- A deal reached a stage: its furthest stage may move on.
CREATE FUNCTION crm_rollup_stage_history_ins() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO deal_furthest_stage AS f (deal_id, position)
    SELECT n.deal_id, max(s.position)
      FROM new_rows n JOIN stages s ON s.id = n.stage_id
     GROUP BY n.deal_id
    ON CONFLICT (deal_id) DO UPDATE
       SET position = greatest(f.position, EXCLUDED.position);
    RETURN NULL;
END
$$;
CREATE TRIGGER deal_stage_history_rollup_ins AFTER INSERT
    ON deal_stage_history REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_rollup_stage_history_ins();

-- Folds up to max_rows of rollup_queue into mail_activity_weekly and
-- thread_first_response; returns how many queue rows it took (0 when
-- another session is folding now: that one makes the rollups current).
-- One caller at a time (an advisory lock), so the shared rows are written
-- by one transaction only; the queue rows taken are deleted in the same
-- transaction, so a crash counts nothing twice and loses nothing.
CREATE FUNCTION crm_report_rollups_advance(max_rows integer DEFAULT 20000)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    taken   integer;
    ids     bigint[];
    threads bigint[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('crmgate-report-rollups')) THEN
        RETURN 0;
    END IF;
    WITH q AS (DELETE FROM rollup_queue
                WHERE id IN (SELECT id FROM rollup_queue ORDER BY id
                              LIMIT greatest(max_rows, 1))
               RETURNING message_id, thread_id)
    SELECT count(*),
           coalesce(array_agg(DISTINCT message_id)
                    FILTER (WHERE message_id IS NOT NULL), '{}'),
           coalesce(array_agg(DISTINCT thread_id)
                    FILTER (WHERE thread_id IS NOT NULL), '{}')
      INTO taken, ids, threads FROM q;
    IF taken = 0 THEN
        RETURN 0;
    END IF;
    -- A (message, staff user) pair counts once, however many of its roles
    -- name the user.
    INSERT INTO mail_activity_weekly AS a (week, user_id, direction, n)
    SELECT x.week, x.user_id, x.direction, count(*)
      FROM (SELECT DISTINCT p.message_id, p.user_id, m.direction,
                   crm_mail_week(m.sent_at, m.captured_at) AS week
              FROM messages m
              JOIN message_participants p ON p.message_id = m.id
             WHERE m.id = ANY (ids) AND p.user_id IS NOT NULL
               AND crm_mail_role_counts(m.direction, p.role)) x
     GROUP BY 1, 2, 3
    ON CONFLICT (week, user_id, direction) DO UPDATE SET n = a.n + EXCLUDED.n;
    IF cardinality(threads) > 0 THEN
        PERFORM crm_thread_first_response_refresh(threads);
    END IF;
    INSERT INTO unresolved_messages (message_id, at)
    SELECT m.id, crm_mail_at(m.sent_at, m.captured_at) FROM messages m
     WHERE m.id = ANY (ids)
       AND NOT EXISTS (SELECT 1 FROM message_links l WHERE l.message_id = m.id)
    ON CONFLICT DO NOTHING;
    INSERT INTO unresolved_user_messages (user_id, message_id, at)
    SELECT DISTINCT p.user_id, u.message_id, u.at
      FROM unresolved_messages u
      JOIN message_participants p ON p.message_id = u.message_id
     WHERE u.message_id = ANY (ids) AND p.user_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN taken;
END
$$;

-- Recomputes every rollup from scratch (after bulk loads, deletes, or to
-- check the triggers: the result must not change; after stages.position
-- is edited). Captures running at the
-- same time wait for it (the lock) and are counted after it.
CREATE FUNCTION crm_report_rollups_rebuild() RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public AS $$
BEGIN
    -- The queue first: captures wait until the rebuild commits, so nothing
    -- committed after its snapshot is dropped with the queue uncounted.
    LOCK TABLE rollup_queue, mail_activity_weekly, thread_first_response,
        unresolved_messages, unresolved_user_messages, deal_furthest_stage
        IN EXCLUSIVE MODE;
    PERFORM pg_advisory_xact_lock(hashtext('crmgate-report-rollups'));
    DELETE FROM rollup_queue;
    DELETE FROM deal_furthest_stage;
    INSERT INTO deal_furthest_stage (deal_id, position)
    SELECT h.deal_id, max(s.position)
      FROM deal_stage_history h JOIN stages s ON s.id = h.stage_id
     GROUP BY h.deal_id;
    DELETE FROM mail_activity_weekly;
    INSERT INTO mail_activity_weekly (week, user_id, direction, n)
    SELECT x.week, x.user_id, x.direction, count(*)
      FROM (SELECT DISTINCT p.message_id, p.user_id, m.direction,
                   crm_mail_week(m.sent_at, m.captured_at) AS week
              FROM message_participants p JOIN messages m ON m.id = p.message_id
             WHERE p.user_id IS NOT NULL
               AND crm_mail_role_counts(m.direction, p.role)) x
     GROUP BY 1, 2, 3;
    DELETE FROM thread_first_response;
    INSERT INTO thread_first_response (thread_id, in_id, in_at, reply_id,
                                       reply_at, user_id)
    SELECT f.thread_id, f.id, f.at, r.id, r.at,
           (SELECT p.user_id FROM message_participants p
             WHERE p.message_id = r.id AND p.user_id IS NOT NULL
               AND crm_mail_role_counts('out', p.role)
             ORDER BY p.role, p.user_id LIMIT 1)
      FROM (SELECT DISTINCT ON (m.thread_id) m.thread_id, m.id,
                   crm_mail_at(m.sent_at, m.captured_at) AS at
              FROM messages m WHERE m.direction = 'in'
             ORDER BY m.thread_id, crm_mail_at(m.sent_at, m.captured_at), m.id) f
     CROSS JOIN LATERAL (
            SELECT o.id, crm_mail_at(o.sent_at, o.captured_at) AS at
              FROM messages o
             WHERE o.thread_id = f.thread_id AND o.direction = 'out'
               AND crm_mail_at(o.sent_at, o.captured_at) > f.at
             ORDER BY 2, o.id LIMIT 1) r;
    DELETE FROM unresolved_messages;
    INSERT INTO unresolved_messages (message_id, at)
    SELECT m.id, crm_mail_at(m.sent_at, m.captured_at) FROM messages m
     WHERE NOT EXISTS (SELECT 1 FROM message_links l WHERE l.message_id = m.id);
    DELETE FROM unresolved_user_messages;
    INSERT INTO unresolved_user_messages (user_id, message_id, at)
    SELECT DISTINCT p.user_id, u.message_id, u.at
      FROM unresolved_messages u
      JOIN message_participants p ON p.message_id = u.message_id
     WHERE p.user_id IS NOT NULL;
END
$$;

SELECT crm_report_rollups_rebuild();

GRANT EXECUTE ON FUNCTION crm_report_rollups_advance(integer)
    TO crmgate_web, crmgate_milter;
GRANT SELECT ON mail_activity_weekly, thread_first_response,
    unresolved_messages, unresolved_user_messages, deal_furthest_stage
    TO crmgate_web;
