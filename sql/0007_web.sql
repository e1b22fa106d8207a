-- 0007_web: what crmgate-web needs to know who is asking, and the rule of
-- what they may see.
--
-- Sessions and API tokens are stored as SHA-256 hashes of the secret the
-- browser or script holds: a copy of this database lets nobody in.
-- Passwords are libsodium argon2id strings (users.password_hash, 0001).
-- Changing a password deletes the user's sessions (the CLI does it in the
-- same transaction; password_changed_at records when).
--
-- Who sees what (django-crm's rule, enforced in SQL): a manager the records
-- they own or co-own; an operator requests and leads (and what they own);
-- chief and admin everything. crm_visible() is the one place the rule is
-- written; every query of the web view calls it with the viewer's id and
-- role. It is a plain SQL expression, so the planner inlines it.

ALTER TABLE users ADD COLUMN password_changed_at timestamptz;

ALTER TABLE companies ADD COLUMN co_owner_id bigint REFERENCES users(id);
ALTER TABLE contacts  ADD COLUMN co_owner_id bigint REFERENCES users(id);
ALTER TABLE leads     ADD COLUMN co_owner_id bigint REFERENCES users(id);
ALTER TABLE deals     ADD COLUMN co_owner_id bigint REFERENCES users(id);
ALTER TABLE requests  ADD COLUMN co_owner_id bigint REFERENCES users(id);

CREATE INDEX companies_owner_idx ON companies (owner_id);
CREATE INDEX contacts_owner_idx  ON contacts (owner_id);
CREATE INDEX leads_owner_idx     ON leads (owner_id);
CREATE INDEX deals_owner_idx     ON deals (owner_id);
CREATE INDEX requests_owner_idx  ON requests (owner_id);

CREATE FUNCTION crm_visible(viewer bigint, viewer_role text, record_type text,
                            owner bigint, co_owner bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT viewer_role IN ('chief', 'admin')
        OR owner = viewer OR co_owner = viewer
        OR (viewer_role = 'operator' AND record_type IN ('lead', 'request'))
$$;

CREATE TABLE web_sessions (
    id_hash    bytea PRIMARY KEY,          -- SHA-256 of the cookie value
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       text NOT NULL,              -- the token every form carries
    created_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    addr       text
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,      -- SHA-256 of the token
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    revoked_at timestamptz
);

-- Failed logins, per address and per account, for the rate limit; rows
-- older than the window are deleted as new ones come.
CREATE TABLE login_failures (
    kind text NOT NULL CHECK (kind IN ('addr', 'account')),
    key  text NOT NULL,
    at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (kind, key, at);

-- crmgate_web: created by a database admin like crmgate_milter (README,
-- "Database roles"); it reads the CRM and writes sessions, tasks and the
-- edits the web view offers. Later migrations grant their own tables.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmgate_web') THEN
        RAISE EXCEPTION 'role crmgate_web does not exist'
            USING HINT = 'A database admin creates it once: CREATE ROLE '
                         'crmgate_web LOGIN PASSWORD ''...''; then run '
                         'crmgate migrate again (README, "Database roles").';
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO crmgate_web',
                   current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO crmgate_web;
GRANT SELECT ON users, lead_sources, stages, closing_reasons, tags,
    companies, company_domains, contacts, leads, requests, deals, record_tags,
    messages, message_participants, message_links, message_attachments,
    attachment_blobs, capture_events TO crmgate_web;
GRANT SELECT ON threads TO crmgate_web;
GRANT UPDATE (owner_id, co_owner_id, updated_at) ON companies, contacts, leads
    TO crmgate_web;
GRANT UPDATE (owner_id, co_owner_id) ON requests TO crmgate_web;
GRANT UPDATE (owner_id, co_owner_id, stage_id, status, closing_reason_id,
              closed_at, next_step, next_step_date) ON deals TO crmgate_web;
GRANT SELECT, INSERT, UPDATE, DELETE ON web_sessions TO crmgate_web;
GRANT SELECT, UPDATE (used_at) ON api_tokens TO crmgate_web;
GRANT SELECT, INSERT, DELETE ON login_failures TO crmgate_web;
