-- 0004_milter_role: least privilege for the milter.
--
-- crmgate-milter connects as crmgate_milter (set database.milter_dsn), a
-- role that can do exactly what capture needs: call the capture functions
-- and store attachment contents. The functions run with their owner's
-- rights (SECURITY DEFINER, with a fixed search_path so a caller cannot
-- substitute objects), so a compromised milter can add captures but can
-- neither read the CRM nor change it otherwise.
--
-- Creating a role needs CREATEROLE; a migrating user without it gets a
-- notice and the admin creates the role (then re-runs these grants).

ALTER FUNCTION crm_capture(jsonb, text)
    SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION crm_capture_batch(jsonb, text[], boolean)
    SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION crm_capture(jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crm_capture_batch(jsonb, text[], boolean) FROM PUBLIC;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate_milter') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles
                 WHERE rolname = current_user) THEN
            RAISE NOTICE 'role crmgate_milter does not exist and % may not '
                         'create it: create it and grant as in 0004', current_user;
            RETURN;
        END IF;
        CREATE ROLE crmgate_milter NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO crmgate_milter',
                   current_database());
    GRANT USAGE ON SCHEMA public TO crmgate_milter;
    GRANT EXECUTE ON FUNCTION crm_capture(jsonb, text) TO crmgate_milter;
    GRANT EXECUTE ON FUNCTION crm_capture_batch(jsonb, text[], boolean)
        TO crmgate_milter;
    GRANT SELECT, INSERT, UPDATE ON attachment_blobs TO crmgate_milter;
END
$$;
