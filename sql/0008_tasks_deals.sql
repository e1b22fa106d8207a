-- 0008_tasks_deals: tasks (django-crm's tasks app), a deal's stage history,
-- payments, and the notices the worker will deliver.
--
-- Tasks belong to an owner, may have a co-owner, responsible users and
-- subscribers (task_users), a project, a parent task (subtasks) and a link to
-- one CRM record. The rules that every writer must obey live here, in
-- triggers, so the CLI, the web view and later the worker cannot disagree:
--   - a task cannot be closed (done) while one of its subtasks is open, and
--     a done parent that gets an open subtask (a new one, a reopened one, or
--     one moved under it) is reopened (in_progress), and its parent in turn;
--   - when the last open subtask becomes done (an update), its parent is done
--     too (inserting a subtask that is already done closes nothing);
--   - a task cannot be made a subtask of its own subtasks;
--   - deleting a task deletes its history (no history row is written for a
--     task being deleted);
--   - closed_at follows the stage; updated_at every change;
--   - every change of stage, owner, due date, priority, title, next step or
--     responsible users is written to task_history, with the acting user
--     taken from the transaction setting crmgate.user_id (set_config(...,
--     true): local to the transaction, so safe through pgbouncer).
-- Who sees a task: crm_task_visible() (the one rule; see 0007's crm_visible).
--
-- Deal stages: deal_stage_history gets a row whenever a deal is created or
-- its stage or status changes (trigger), so the funnel can ask how far a
-- deal ever got and the timeline can show when it moved.

CREATE TABLE projects (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    owner_id    bigint NOT NULL REFERENCES users(id),
    co_owner_id bigint REFERENCES users(id),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
    id             bigserial PRIMARY KEY,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    owner_id       bigint NOT NULL REFERENCES users(id),
    co_owner_id    bigint REFERENCES users(id),
    project_id     bigint REFERENCES projects(id) ON DELETE SET NULL,
    parent_id      bigint REFERENCES tasks(id) ON DELETE CASCADE,
    stage          text NOT NULL DEFAULT 'pending'
                   CHECK (stage IN ('pending', 'in_progress', 'done',
                                    'postponed', 'canceled')),
    priority       smallint NOT NULL DEFAULT 2
                   CHECK (priority BETWEEN 1 AND 3),  -- 1 low, 2 middle, 3 high
    due_date       date,
    next_step      text NOT NULL DEFAULT '' CHECK (length(next_step) <= 500),
    next_step_date date,
    remind_at      timestamptz,
    record_type    text CHECK (record_type IN ('contact', 'lead', 'company',
                                               'deal', 'request')),
    record_id      bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    CHECK ((record_type IS NULL) = (record_id IS NULL)),
    CHECK (parent_id IS NULL OR parent_id <> id)
);
CREATE INDEX tasks_owner_open_idx ON tasks (owner_id, due_date)
    WHERE stage IN ('pending', 'in_progress', 'postponed');
CREATE INDEX tasks_co_owner_idx ON tasks (co_owner_id) WHERE co_owner_id IS NOT NULL;
CREATE INDEX tasks_record_idx ON tasks (record_type, record_id);
CREATE INDEX tasks_parent_idx ON tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_project_idx ON tasks (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX tasks_remind_idx ON tasks (remind_at) WHERE remind_at IS NOT NULL;

-- Responsible users and subscribers of a task.
CREATE TABLE task_users (
    task_id bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('responsible', 'subscriber')),
    PRIMARY KEY (task_id, user_id, kind)
);
CREATE INDEX task_users_user_idx ON task_users (user_id, kind);

CREATE TABLE task_comments (
    id         bigserial PRIMARY KEY,
    task_id    bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    author_id  bigint REFERENCES users(id) ON DELETE SET NULL,
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_comments_task_idx ON task_comments (task_id, created_at);

CREATE TABLE task_history (
    id        bigserial PRIMARY KEY,
    task_id   bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    user_id   bigint REFERENCES users(id) ON DELETE SET NULL, -- NULL: the system
    field     text NOT NULL,  -- 'created', 'stage', 'owner', 'due_date', ...
    old_value text,
    new_value text,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_history_task_idx ON task_history (task_id, at);

-- Mail the worker delivers (next issue): a reminder when a task's remind_at
-- comes, a notice when a user is made owner or responsible. The link in the
-- mail is signed (web.secret) and bound to task and user.
CREATE TABLE notices (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('reminder', 'assigned')),
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    task_id    bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    subject    text NOT NULL,
    body       text NOT NULL,
    due_at     timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notices_unsent_idx ON notices (due_at) WHERE sent_at IS NULL;
-- One pending reminder per task and user.
CREATE UNIQUE INDEX notices_reminder_once_idx ON notices (task_id, user_id)
    WHERE kind = 'reminder' AND sent_at IS NULL;

-- The acting user of this transaction, or NULL (the system).
CREATE FUNCTION crm_acting_user() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('crmgate.user_id', true), '')::bigint
$$;

-- Who sees a task: chief and admin all; everyone else the tasks they own,
-- co-own, are responsible for or subscribe to.
CREATE FUNCTION crm_task_visible(viewer bigint, viewer_role text, task bigint)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT viewer_role IN ('chief', 'admin')
        OR EXISTS (SELECT 1 FROM tasks t WHERE t.id = task
                     AND (t.owner_id = viewer OR t.co_owner_id = viewer))
        OR EXISTS (SELECT 1 FROM task_users u WHERE u.task_id = task
                     AND u.user_id = viewer)
$$;

CREATE FUNCTION crm_task_open(stage text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT stage IN ('pending', 'in_progress', 'postponed')
$$;

-- Before a write: the subtask rule, closed_at and updated_at.
CREATE FUNCTION crm_tasks_before() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stage = 'done' AND (TG_OP = 'INSERT' OR OLD.stage <> 'done')
       AND EXISTS (SELECT 1 FROM tasks s WHERE s.parent_id = NEW.id
                     AND crm_task_open(s.stage)) THEN
        RAISE EXCEPTION 'task % has open subtasks', NEW.id
            USING ERRCODE = 'check_violation',
                  HINT = 'complete or cancel its subtasks first';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.parent_id IS NOT NULL
       AND NEW.parent_id IS DISTINCT FROM OLD.parent_id
       AND EXISTS (WITH RECURSIVE d(id) AS (
                       SELECT s.id FROM tasks s WHERE s.parent_id = NEW.id
                       UNION
                       SELECT s.id FROM tasks s JOIN d ON s.parent_id = d.id)
                   SELECT 1 FROM d WHERE d.id = NEW.parent_id) THEN
        RAISE EXCEPTION 'task % cannot be a subtask of its own subtask %',
                        NEW.id, NEW.parent_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF crm_task_open(NEW.stage) THEN
        NEW.closed_at := NULL;
    ELSIF TG_OP = 'INSERT' OR crm_task_open(OLD.stage) THEN
        NEW.closed_at := now();
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_before BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION crm_tasks_before();

-- After a write: history, and the parent closes with its last subtask.
CREATE FUNCTION crm_tasks_after() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    who bigint := crm_acting_user();
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO task_history (task_id, user_id, field, new_value)
        VALUES (NEW.id, who, 'created', NEW.title);
    ELSE
        INSERT INTO task_history (task_id, user_id, field, old_value, new_value)
        SELECT NEW.id, who, f, o, n FROM (VALUES
            ('title', OLD.title, NEW.title),
            ('stage', OLD.stage, NEW.stage),
            ('owner', OLD.owner_id::text, NEW.owner_id::text),
            ('co_owner', OLD.co_owner_id::text, NEW.co_owner_id::text),
            ('priority', OLD.priority::text, NEW.priority::text),
            ('due_date', OLD.due_date::text, NEW.due_date::text),
            ('next_step', OLD.next_step, NEW.next_step),
            ('next_step_date', OLD.next_step_date::text, NEW.next_step_date::text),
            ('remind_at', OLD.remind_at::text, NEW.remind_at::text),
            ('project', OLD.project_id::text, NEW.project_id::text),
            ('parent', OLD.parent_id::text, NEW.parent_id::text),
            ('description', left(OLD.description, 200), left(NEW.description, 200))
        ) AS c(f, o, n)
        WHERE o IS DISTINCT FROM n;
    END IF;
    -- The last open subtask done: its parent is done too.
    IF TG_OP = 'UPDATE' AND NEW.parent_id IS NOT NULL AND NEW.stage = 'done'
       AND OLD.stage <> 'done'
       AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.parent_id = NEW.parent_id
                         AND crm_task_open(s.stage)) THEN
        UPDATE tasks SET stage = 'done'
         WHERE id = NEW.parent_id AND crm_task_open(stage);
    END IF;
    -- An open subtask under a done parent (new, reopened or moved): the
    -- parent is open again.
    IF NEW.parent_id IS NOT NULL AND crm_task_open(NEW.stage)
       AND (TG_OP = 'INSERT' OR NOT crm_task_open(OLD.stage)
            OR NEW.parent_id IS DISTINCT FROM OLD.parent_id) THEN
        UPDATE tasks SET stage = 'in_progress'
         WHERE id = NEW.parent_id AND stage = 'done';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_after AFTER INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION crm_tasks_after();

CREATE FUNCTION crm_task_users_after() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO task_history (task_id, user_id, field, new_value)
        VALUES (NEW.task_id, crm_acting_user(), NEW.kind, NEW.user_id::text);
    ELSIF EXISTS (SELECT 1 FROM tasks WHERE id = OLD.task_id) THEN
        -- (not when the task itself is being deleted: its history goes)
        INSERT INTO task_history (task_id, user_id, field, old_value)
        VALUES (OLD.task_id, crm_acting_user(), OLD.kind, OLD.user_id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER task_users_after AFTER INSERT OR DELETE ON task_users
    FOR EACH ROW EXECUTE FUNCTION crm_task_users_after();

-- A new request (from sales-inbox mail, later from a call or the web) gets a
-- task for its owner: answer it.
CREATE FUNCTION crm_requests_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tasks (title, description, owner_id, due_date, priority,
                       record_type, record_id)
    VALUES (left('Answer request ' || NEW.ticket || ': ' ||
                 coalesce(nullif(NEW.subject, ''), '(no subject)'), 500),
            left(NEW.description, 2000), NEW.owner_id,
            (now() + interval '1 day')::date, 3, 'request', NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER requests_task AFTER INSERT ON requests
    FOR EACH ROW WHEN (NEW.owner_id IS NOT NULL)
    EXECUTE FUNCTION crm_requests_task();

-- Deals: where each has been, and when.
CREATE TABLE deal_stage_history (
    id         bigserial PRIMARY KEY,
    deal_id    bigint NOT NULL REFERENCES deals(id) ON DELETE CASCADE,
    stage_id   bigint REFERENCES stages(id),
    status     text NOT NULL,
    user_id    bigint REFERENCES users(id) ON DELETE SET NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deal_stage_history_deal_idx ON deal_stage_history (deal_id, changed_at);

CREATE FUNCTION crm_deals_stage_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.stage_id IS DISTINCT FROM NEW.stage_id
       OR OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO deal_stage_history (deal_id, stage_id, status, user_id,
                                        changed_at)
        VALUES (NEW.id, NEW.stage_id, NEW.status, crm_acting_user(),
                CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE now() END);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER deals_stage_history AFTER INSERT OR UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION crm_deals_stage_history();
INSERT INTO deal_stage_history (deal_id, stage_id, status, changed_at)
SELECT id, stage_id, status, created_at FROM deals;

-- Payments of a deal (django-crm's Payment): received, or expected with a
-- probability (guaranteed, high, low).
CREATE TABLE payments (
    id           bigserial PRIMARY KEY,
    deal_id      bigint NOT NULL REFERENCES deals(id) ON DELETE CASCADE,
    amount       numeric(14, 2) NOT NULL CHECK (amount >= 0),
    currency     char(3) NOT NULL DEFAULT 'USD',
    status       text NOT NULL CHECK (status IN ('received', 'guaranteed',
                                                 'high', 'low')),
    payment_date date NOT NULL,
    contract     text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_date_idx ON payments (payment_date);
CREATE INDEX payments_deal_idx ON payments (deal_id);

GRANT SELECT, INSERT, UPDATE ON projects, tasks, task_comments TO crmgate_web;
GRANT SELECT, INSERT, DELETE ON task_users TO crmgate_web;
GRANT SELECT, INSERT ON task_history, notices, deal_stage_history TO crmgate_web;
GRANT SELECT ON payments TO crmgate_web;
-- a pending reminder moves when remind_at changes
GRANT UPDATE (subject, body, due_at) ON notices TO crmgate_web;
GRANT USAGE ON SEQUENCE projects_id_seq, tasks_id_seq, task_comments_id_seq,
    task_history_id_seq, notices_id_seq, deal_stage_history_id_seq
    TO crmgate_web;
