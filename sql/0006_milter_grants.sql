-- 0006_milter_grants: the milter's role gets exactly the capture functions.
--
-- Roles are created by a database admin, not by migrations: the schema
-- owner `crmgate` needs neither SUPERUSER nor CREATEROLE (README,
-- "Database roles"). This migration only grants, and stops with a clear
-- message when the role is missing (create it, then migrate again).
--
-- crmgate_milter may call crm_capture and crm_capture_batch (SECURITY
-- DEFINER, fixed search_path; they store attachment contents themselves,
-- checked against their SHA-256) and nothing else: no table, not even
-- attachment_blobs, which 0004 still let it read and update.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate_milter') THEN
        RAISE EXCEPTION 'role crmgate_milter does not exist'
            USING HINT = 'A database admin creates it once: CREATE ROLE '
                         'crmgate_milter LOGIN PASSWORD ''...''; then run '
                         'crmgate migrate again (README, "Database roles").';
    END IF;
    -- The database's own name, quoted by format(): GRANT ... ON DATABASE
    -- takes no parameter.
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO crmgate_milter',
                   current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO crmgate_milter;
REVOKE ALL ON attachment_blobs FROM crmgate_milter;
GRANT EXECUTE ON FUNCTION crm_capture(jsonb, text, bytea[]) TO crmgate_milter;
GRANT EXECUTE ON FUNCTION crm_capture_batch(jsonb, text[], bytea[], boolean)
    TO crmgate_milter;
