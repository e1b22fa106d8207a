-- 0010_records: what the record pages, message pages and search of
-- crmgate-web need beyond 0007: who may see a record named by type and id,
-- who may see a captured message, and indexes that keep search fast.
--
-- crm_record_visible() looks the record's owner and co-owner up and asks
-- crm_visible() (0007, the one rule). crm_message_visible() says a message is
-- visible when the viewer may see ANY record it is linked to; chief and admin
-- see every message, unresolved ones (linked to nothing) included; anyone
-- else sees an unresolved message only when they took part in it as a known
-- user (message_participants.user_id), e.g. their own mail nobody matched.
--
-- Search: substring search ("ann", "acme", "@acme.test") over names, email
-- addresses, domains and deal names, case-insensitive. pg_trgm GIN indexes
-- on the lower-cased text serve LIKE '%q%' for q of 3 characters or more
-- (a prefix b-tree would only find the start of a name, not "smith" in
-- "Ann Smith" or "acme" in "sales@acme.test"). pg_trgm is a trusted
-- extension (PostgreSQL 13+), so the database owner creates it without
-- superuser. Phones are found by their last nine digits (phone_last9, 0001
-- indexes) and tickets by equality (unique indexes).
-- The trigram indexes on addresses and domains are on lower(...), an
-- expression no equality lookup uses: pg_trgm's GIN also serves "=", and on
-- the bare columns the planner chose it for the capture path's
-- email_norm = ANY(...) lookups (3.5 ms instead of 0.05 ms a probe; ingest
-- fell from 2,080 to 510 msg/s).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX contacts_name_trgm_idx ON contacts
    USING gin (lower(first_name || ' ' || last_name) gin_trgm_ops);
CREATE INDEX contacts_email_trgm_idx ON contacts
    USING gin (lower(email_norm) gin_trgm_ops);
CREATE INDEX leads_name_trgm_idx ON leads
    USING gin (lower(first_name || ' ' || last_name) gin_trgm_ops);
CREATE INDEX leads_email_trgm_idx ON leads
    USING gin (lower(email_norm) gin_trgm_ops);
CREATE INDEX companies_name_trgm_idx ON companies
    USING gin (lower(name) gin_trgm_ops);
CREATE INDEX company_domains_trgm_idx ON company_domains
    USING gin (lower(domain) gin_trgm_ops);
CREATE INDEX deals_name_trgm_idx ON deals
    USING gin (lower(name) gin_trgm_ops);
CREATE INDEX requests_subject_trgm_idx ON requests
    USING gin (lower(subject || ' ' || first_name || ' ' || last_name)
               gin_trgm_ops);
CREATE INDEX requests_email_trgm_idx ON requests
    USING gin (lower(email_norm) gin_trgm_ops);

-- The timeline of a deal reads its tasks by record (0008 tasks_record_idx)
-- and its stage history by deal (0008); messages by link (0002).

-- May the viewer see the record (type, id)? False when it does not exist.
CREATE FUNCTION crm_record_visible(viewer bigint, viewer_role text,
                                   rtype text, rid bigint)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((
        SELECT crm_visible(viewer, viewer_role, rtype, o.owner_id, o.co_owner_id)
          FROM (SELECT owner_id, co_owner_id FROM contacts
                 WHERE rtype = 'contact' AND id = rid
                UNION ALL
                SELECT owner_id, co_owner_id FROM leads
                 WHERE rtype = 'lead' AND id = rid
                UNION ALL
                SELECT owner_id, co_owner_id FROM companies
                 WHERE rtype = 'company' AND id = rid
                UNION ALL
                SELECT owner_id, co_owner_id FROM deals
                 WHERE rtype = 'deal' AND id = rid
                UNION ALL
                SELECT owner_id, co_owner_id FROM requests
                 WHERE rtype = 'request' AND id = rid) o
         LIMIT 1), false)
$$;

-- May the viewer see captured message msg (messages.id)? See above.
CREATE FUNCTION crm_message_visible(viewer bigint, viewer_role text,
                                    msg bigint)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT viewer_role IN ('chief', 'admin')
        OR EXISTS (SELECT 1 FROM message_links l WHERE l.message_id = msg
                     AND crm_record_visible(viewer, viewer_role,
                                            l.record_type, l.record_id))
        OR (NOT EXISTS (SELECT 1 FROM message_links l
                         WHERE l.message_id = msg)
            AND EXISTS (SELECT 1 FROM message_participants p
                         WHERE p.message_id = msg AND p.user_id = viewer))
$$;

-- No new grants: the edits of the record pages (owner, deal stage, status,
-- closing reason, closed_at) are the columns 0007 grants to crmgate_web, and
-- deal_stage_history rows are inserted by 0008's trigger under its grants.

-- A short label of record (type, id) for links and search results: a
-- person's name (or address), a company or deal name, a request's ticket
-- and subject. NULL when there is no such record. Callers check visibility.
CREATE FUNCTION crm_record_label(rtype text, rid bigint)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE rtype
        WHEN 'contact' THEN (SELECT coalesce(nullif(btrim(first_name || ' ' ||
                                 last_name), ''), email, '#' || id)
                               FROM contacts WHERE id = rid)
        WHEN 'lead' THEN (SELECT coalesce(nullif(btrim(first_name || ' ' ||
                              last_name), ''), email, company_name, '#' || id)
                            FROM leads WHERE id = rid)
        WHEN 'company' THEN (SELECT name FROM companies WHERE id = rid)
        WHEN 'deal' THEN (SELECT name FROM deals WHERE id = rid)
        WHEN 'request' THEN (SELECT ticket || coalesce(': ' ||
                                 nullif(subject, ''), '')
                               FROM requests WHERE id = rid)
    END
$$;

-- Phones are searched by their last nine digits (phone_last9, indexed in
-- 0001). Writers that store only phone (the CLI's contact add, imports) get
-- it filled here, and kept in step when phone changes.
CREATE FUNCTION crm_phone_last9() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    digits text := regexp_replace(coalesce(NEW.phone, ''), '[^0-9]', '', 'g');
BEGIN
    IF TG_OP = 'INSERT' AND NEW.phone_last9 IS NULL
       OR TG_OP = 'UPDATE' AND NEW.phone IS DISTINCT FROM OLD.phone
          AND NEW.phone_last9 IS NOT DISTINCT FROM OLD.phone_last9 THEN
        NEW.phone_last9 := CASE WHEN length(digits) >= 9
                                THEN right(digits, 9) END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER contacts_phone_last9 BEFORE INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION crm_phone_last9();
CREATE TRIGGER leads_phone_last9 BEFORE INSERT OR UPDATE ON leads
    FOR EACH ROW EXECUTE FUNCTION crm_phone_last9();
UPDATE contacts SET phone_last9 = right(regexp_replace(phone, '[^0-9]', '', 'g'), 9)
 WHERE phone_last9 IS NULL
   AND length(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')) >= 9;
UPDATE leads SET phone_last9 = right(regexp_replace(phone, '[^0-9]', '', 'g'), 9)
 WHERE phone_last9 IS NULL
   AND length(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')) >= 9;
