-- 0011_tasks_fix: what tests/web/t20_tasks.sh found wrong in 0008's task
-- triggers, and a grant the notices need.
--
-- 1. Deleting a task that had responsible users failed: the cascade deleted
--    its task_users rows, whose trigger then wrote a task_history row for a
--    task that no longer exists (foreign key violation). The history of a
--    deleted task goes with it: nothing is written then.
-- 2. A done parent could hold an open subtask: reopening a subtask, adding
--    an open one or moving one under a done parent left the parent done,
--    against the rule "a task is not done while a subtask is open". Now the
--    parent is reopened (in_progress), and its own parent in turn.
-- 3. Inserting a subtask that is already done closed its open parent, as if
--    the last open subtask had just been completed. Only a subtask that
--    becomes done (an update) closes its parent now.
-- 4. A task could be made its own ancestor (parent_id pointing into its
--    subtasks): refused with check_violation.
-- 5. crmgate_web may update a pending reminder (one per task and user):
--    when remind_at changes, the reminder moves instead of failing.

CREATE OR REPLACE FUNCTION crm_tasks_before() RETURNS trigger
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

CREATE OR REPLACE FUNCTION crm_tasks_after() RETURNS trigger
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

CREATE OR REPLACE FUNCTION crm_task_users_after() RETURNS trigger
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

GRANT UPDATE (subject, body, due_at) ON notices TO crmgate_web;
