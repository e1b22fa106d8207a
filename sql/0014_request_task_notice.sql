-- 0014_request_task_notice: the task a new request gets (sql/0008's
-- crm_requests_task trigger) now also gets its 'assigned' notice. The
-- notice carries a link signed with web.secret, which SQL does not hold,
-- so the trigger queues a "task.assigned" job and crmgate-worker writes
-- the notice (core/tasks.c, tasks_notify_assigned); its notices.deliver
-- job mails it like any other.
CREATE OR REPLACE FUNCTION crm_requests_task() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_task bigint;
BEGIN
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

-- What tasks_notify_assigned needs, and no more.
GRANT SELECT (id, title, due_date, remind_at, owner_id) ON tasks
    TO crmgate_worker;
GRANT SELECT (task_id, kind) ON notices TO crmgate_worker;
GRANT INSERT (kind, user_id, task_id, subject, body, due_at) ON notices
    TO crmgate_worker;
GRANT UPDATE (due_at, subject, body) ON notices TO crmgate_worker;
GRANT USAGE ON SEQUENCE notices_id_seq TO crmgate_worker;
