-- 0012_campaigns: sending accounts, campaigns, the per-recipient ledger,
-- suppressions and what comes back (bounces, complaints, replies,
-- unsubscribes, opens, clicks).
--
-- The ledger (campaign_recipients) is the source of truth of a campaign:
-- one row per recipient, filled once when the campaign is created
-- (suppressed addresses are kept as 'suppressed' rows so the count says
-- so), claimed by the worker's send driver with a lease (FOR UPDATE SKIP
-- LOCKED) and marked with the relay's reply in the step that learns it. A
-- crashed driver's leased rows return to the queue when the lease expires,
-- so a crash loses nothing and duplicates are bounded by what was in
-- flight. A campaign is finished only when no row is queued or leased.
--
-- What comes back arrives through the milter (bounces to bounce+TOKEN@,
-- unsubscribe+TOKEN@ mail, replies whose In-Reply-To carries our
-- Message-ID token) and the web view (one-click unsubscribe, opens,
-- clicks); all of it goes through crm_campaign_feedback(), the one writer,
-- so every path applies the same rules: hard bounces and complaints
-- suppress at once, soft bounces after a number in a window, an
-- unsubscribe suppresses at once.

-- Contacts and leads get a country of their own (segments: country:CC);
-- a contact without one inherits its company's.
ALTER TABLE contacts ADD COLUMN country text;
ALTER TABLE leads ADD COLUMN country text;

-- Tags are stored lower-case (segments match them so). Tags a record;
-- returns the number of new links, or -1 when the record does not exist.
CREATE FUNCTION crm_tag_add(p_type text, p_id bigint, p_tags jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n      integer;
    v_exists boolean;
BEGIN
    v_exists := CASE p_type
        WHEN 'contact' THEN EXISTS (SELECT 1 FROM contacts WHERE id = p_id)
        WHEN 'lead' THEN EXISTS (SELECT 1 FROM leads WHERE id = p_id)
        WHEN 'company' THEN EXISTS (SELECT 1 FROM companies WHERE id = p_id)
        WHEN 'deal' THEN EXISTS (SELECT 1 FROM deals WHERE id = p_id)
        WHEN 'request' THEN EXISTS (SELECT 1 FROM requests WHERE id = p_id)
        ELSE false END;
    IF NOT v_exists THEN
        RETURN -1;
    END IF;
    INSERT INTO tags (name)
    SELECT DISTINCT lower(t) FROM jsonb_array_elements_text(p_tags) t
     WHERE btrim(t) <> ''
    ON CONFLICT (name) DO NOTHING;
    INSERT INTO record_tags (record_type, record_id, tag_id)
    SELECT p_type, p_id, tg.id FROM tags tg
     WHERE tg.name IN (SELECT lower(t) FROM jsonb_array_elements_text(p_tags) t)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

CREATE TABLE mail_accounts (
    id               bigserial PRIMARY KEY,
    from_address     text NOT NULL,
    from_norm        text NOT NULL UNIQUE,
    name             text NOT NULL DEFAULT '',
    relay_url        text NOT NULL
                     CHECK (relay_url ~ '^smtps?://[^/]+$'),
    relay_user       text,
    -- libsodium secretbox of the password under a key derived from
    -- campaign.secret (config): the database never holds it in clear.
    relay_password   bytea,
    starttls         text NOT NULL DEFAULT 'required'
                     CHECK (starttls IN ('required', 'off')),
    daily_cap        integer NOT NULL DEFAULT 0 CHECK (daily_cap >= 0),
    concurrency      integer NOT NULL DEFAULT 4
                     CHECK (concurrency BETWEEN 1 AND 100),
    signature_text   text,
    signature_html   text,
    is_default       boolean NOT NULL DEFAULT false,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mail_accounts_default_idx ON mail_accounts (is_default)
    WHERE is_default;

-- Messages sent per account per day (UTC), for the daily cap.
CREATE TABLE mail_account_days (
    account_id bigint NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    day        date NOT NULL,
    sent       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day)
);

CREATE TABLE suppressions (
    address_norm text PRIMARY KEY,
    reason       text NOT NULL,
    source       text NOT NULL DEFAULT 'manual',
    campaign_id  bigint,
    since        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    account_id    bigint NOT NULL REFERENCES mail_accounts(id),
    subject       text NOT NULL,
    -- A/B test: subjects of the variants B, C, ... (A is subject); empty:
    -- no test.
    ab_subjects   text[] NOT NULL DEFAULT '{}',
    ab_winner     smallint,            -- 1 = A, 2 = B, ...
    ab_decided_at timestamptz,
    text_template text NOT NULL,
    html_template text,
    segment       text NOT NULL,
    rate_per_min  integer NOT NULL DEFAULT 0 CHECK (rate_per_min >= 0),
    send_window   text,                -- "Mon-Thu 09:00-17:00"
    tz            text NOT NULL DEFAULT 'UTC',
    start_at      timestamptz,
    state         text NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'scheduled', 'running', 'paused',
                                   'canceled', 'finished')),
    track_opens   boolean NOT NULL DEFAULT false,
    track_clicks  boolean NOT NULL DEFAULT false,
    owner_id      bigint REFERENCES users(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Anonymous tracking counts (track_anonymous): no recipient known.
    anon_opens    bigint NOT NULL DEFAULT 0,
    anon_clicks   bigint NOT NULL DEFAULT 0
);

CREATE TABLE campaign_recipients (
    id               bigserial PRIMARY KEY,
    campaign_id      bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    address          text NOT NULL,
    address_norm     text NOT NULL,
    domain           text NOT NULL,
    contact_id       bigint REFERENCES contacts(id) ON DELETE SET NULL,
    lead_id          bigint REFERENCES leads(id) ON DELETE SET NULL,
    vars             jsonb NOT NULL DEFAULT '{}',
    variant          smallint NOT NULL DEFAULT 0, -- 0: no test / the rest
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'leased', 'sent', 'failed',
                                      'bounced', 'suppressed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    smtp_code        integer,
    smtp_reply       text,
    queue_id         text,
    message_id       text,
    sent_at          timestamptz,
    failed_at        timestamptz,
    bounced_at       timestamptz,
    bounce_reason    text,
    bounce_status    text,
    soft_bounces     integer NOT NULL DEFAULT 0,
    replied_at       timestamptz,
    auto_replied_at  timestamptz,
    complained_at    timestamptz,
    unsubscribed_at  timestamptz,
    opened_at        timestamptz,
    clicked_at       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, address_norm)
);
CREATE INDEX campaign_recipients_queue_idx
    ON campaign_recipients (campaign_id, next_attempt_at, id)
    WHERE state = 'queued';
CREATE INDEX campaign_recipients_lease_idx
    ON campaign_recipients (campaign_id, lease_expires_at)
    WHERE state = 'leased';
CREATE INDEX campaign_recipients_address_idx
    ON campaign_recipients (address_norm);
CREATE INDEX campaign_recipients_contact_idx ON campaign_recipients (contact_id)
    WHERE contact_id IS NOT NULL;
CREATE INDEX campaign_recipients_lead_idx ON campaign_recipients (lead_id)
    WHERE lead_id IS NOT NULL;

-- Every bounce and complaint received, for the soft-bounce window and the
-- campaign page.
CREATE TABLE campaign_bounces (
    id           bigserial PRIMARY KEY,
    recipient_id bigint REFERENCES campaign_recipients(id) ON DELETE SET NULL,
    campaign_id  bigint,
    address_norm text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('bounce', 'complaint')),
    hard         boolean NOT NULL,
    action       text,
    status       text,
    reason       text,
    diagnostic   text,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_bounces_address_idx
    ON campaign_bounces (address_norm, at);
CREATE INDEX campaign_bounces_campaign_idx ON campaign_bounces (campaign_id);

-- Fills the ledger of a draft campaign from its segment. p_filter:
--   {"tags": [...], "company": ID, "country": "CC", "owner": "addr",
--    "leads": bool, "contacts": bool,
--    "csv": [{"email":..., "first_name":..., "last_name":..., ...}]}
-- Every given term must hold (and). Without "leads"/"contacts" both kinds
-- are included; a csv list alone is the recipients (matched to contacts or
-- leads for their fields), with other terms it narrows them. Returns the
-- number of ledger rows (suppressed ones included).
CREATE FUNCTION crm_campaign_fill(p_campaign bigint, p_filter jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_contacts boolean := coalesce((p_filter->>'contacts')::boolean, false);
    v_leads    boolean := coalesce((p_filter->>'leads')::boolean, false);
    v_tags     text[] := ARRAY(SELECT lower(jsonb_array_elements_text(
                                    coalesce(p_filter->'tags', '[]'))));
    v_company  bigint := (p_filter->>'company')::bigint;
    v_country  text := upper(p_filter->>'country');
    v_owner    text := lower(p_filter->>'owner');
    v_has_csv  boolean := p_filter ? 'csv';
    v_n        integer;
BEGIN
    IF NOT v_contacts AND NOT v_leads THEN
        v_contacts := true;
        v_leads := true;
    END IF;
    WITH csv AS (
        SELECT lower(e->>'email') AS email_norm, e->>'email' AS email,
               e AS fields
          FROM jsonb_array_elements(coalesce(p_filter->'csv', '[]')) e
         WHERE coalesce(e->>'email', '') LIKE '%_@_%'
    ),
    people AS (
        SELECT 1 AS kind_order, c.id AS contact_id, NULL::bigint AS lead_id,
               c.email, c.email_norm, c.first_name, c.last_name, c.title,
               co.name AS company, co.id AS company_id,
               upper(coalesce(c.country, co.country)) AS country,
               co.city, c.phone, c.owner_id,
               ARRAY(SELECT lower(t.name) FROM record_tags rt
                       JOIN tags t ON t.id = rt.tag_id
                      WHERE rt.record_type = 'contact'
                        AND rt.record_id = c.id) AS tags
          FROM contacts c LEFT JOIN companies co ON co.id = c.company_id
         WHERE v_contacts AND coalesce(c.email_norm, '') <> ''
        UNION ALL
        SELECT 2, NULL, l.id, l.email, l.email_norm, l.first_name,
               l.last_name, NULL, coalesce(co.name, l.company_name),
               l.company_id, upper(l.country), co.city, l.phone, l.owner_id,
               ARRAY(SELECT lower(t.name) FROM record_tags rt
                       JOIN tags t ON t.id = rt.tag_id
                      WHERE rt.record_type = 'lead' AND rt.record_id = l.id)
          FROM leads l LEFT JOIN companies co ON co.id = l.company_id
         WHERE v_leads AND NOT l.disqualified AND l.contact_id IS NULL
           AND coalesce(l.email_norm, '') <> ''
    ),
    matched AS (
        SELECT DISTINCT ON (p.email_norm) p.*
          FROM people p
          LEFT JOIN users u ON u.id = p.owner_id
         WHERE p.tags @> v_tags
           AND (v_company IS NULL OR p.company_id = v_company)
           AND (v_country IS NULL OR p.country = v_country)
           AND (v_owner IS NULL OR u.email_norm = v_owner)
           AND (NOT v_has_csv
                OR p.email_norm IN (SELECT email_norm FROM csv))
         ORDER BY p.email_norm, p.kind_order, p.contact_id, p.lead_id
    ),
    chosen AS (
        SELECT m.email AS address, m.email_norm, m.contact_id, m.lead_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'first_name', m.first_name, 'last_name', m.last_name,
                   'full_name', nullif(btrim(m.first_name || ' ' ||
                                             m.last_name), ''),
                   'email', m.email, 'company', m.company,
                   'title', m.title, 'country', m.country, 'city', m.city,
                   'phone', m.phone, 'owner_name', nullif(u.name, ''),
                   'owner_email', u.email)) AS vars
          FROM matched m LEFT JOIN users u ON u.id = m.owner_id
        UNION ALL
        -- csv rows that are no CRM record, when the csv list stands alone
        SELECT csv.email, csv.email_norm, NULL, NULL,
               jsonb_strip_nulls(jsonb_build_object(
                   'first_name', csv.fields->>'first_name',
                   'last_name', csv.fields->>'last_name',
                   'full_name', nullif(btrim(coalesce(csv.fields->>'first_name', '')
                                    || ' ' || coalesce(csv.fields->>'last_name', '')), ''),
                   'email', csv.email,
                   'company', csv.fields->>'company',
                   'title', csv.fields->>'title',
                   'country', csv.fields->>'country',
                   'city', csv.fields->>'city',
                   'phone', csv.fields->>'phone'))
          FROM csv
         WHERE v_has_csv AND cardinality(v_tags) = 0 AND v_company IS NULL
           AND v_country IS NULL AND v_owner IS NULL
           AND NOT (p_filter ? 'leads') AND NOT (p_filter ? 'contacts')
           AND csv.email_norm NOT IN (SELECT email_norm FROM matched)
    )
    INSERT INTO campaign_recipients
        (campaign_id, address, address_norm, domain, contact_id, lead_id,
         vars, state)
    SELECT DISTINCT ON (ch.email_norm)
           p_campaign, ch.address, ch.email_norm,
           split_part(ch.email_norm, '@', 2), ch.contact_id, ch.lead_id,
           ch.vars,
           CASE WHEN EXISTS (SELECT 1 FROM suppressions s
                              WHERE s.address_norm = ch.email_norm)
                THEN 'suppressed' ELSE 'queued' END
      FROM chosen ch
     ORDER BY ch.email_norm
    ON CONFLICT (campaign_id, address_norm) DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

-- Assigns A/B variants: p_percent of the queued rows per variant (1 = A,
-- 2 = B, ...) at random; the rest keep variant 0 and wait for the winner.
CREATE FUNCTION crm_campaign_assign_variants(p_campaign bigint,
                                             p_percent integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_variants integer;
    v_total    integer;
    v_each     integer;
BEGIN
    SELECT 1 + cardinality(ab_subjects) INTO v_variants
      FROM campaigns WHERE id = p_campaign;
    IF v_variants IS NULL OR v_variants < 2 THEN
        RETURN;
    END IF;
    SELECT count(*) INTO v_total FROM campaign_recipients
     WHERE campaign_id = p_campaign AND state = 'queued';
    v_each := greatest(1, v_total * p_percent / 100);
    WITH ranked AS (
        SELECT id, row_number() OVER (ORDER BY random()) AS rn
          FROM campaign_recipients
         WHERE campaign_id = p_campaign AND state = 'queued'
    )
    UPDATE campaign_recipients r
       SET variant = ((ranked.rn - 1) / v_each + 1)::smallint
      FROM ranked
     WHERE r.id = ranked.id AND ranked.rn <= v_each * v_variants;
END
$$;

-- The counts of a campaign, one flat object (the CLI's status, the web's
-- campaign page and the campaigns report read the same).
CREATE FUNCTION crm_campaign_counts(p_campaign bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'recipients', count(*),
        'queued', count(*) FILTER (WHERE state IN ('queued', 'leased')),
        'sent', count(*) FILTER (WHERE sent_at IS NOT NULL),
        'failed', count(*) FILTER (WHERE state = 'failed'),
        'bounced', count(*) FILTER (WHERE state = 'bounced'),
        'suppressed', count(*) FILTER (WHERE state = 'suppressed'),
        'replied', count(*) FILTER (WHERE replied_at IS NOT NULL),
        'unsubscribed', count(*) FILTER (WHERE unsubscribed_at IS NOT NULL),
        'complained', count(*) FILTER (WHERE complained_at IS NOT NULL),
        'opened', count(*) FILTER (WHERE opened_at IS NOT NULL)
                  + (SELECT anon_opens FROM campaigns WHERE id = p_campaign),
        'clicked', count(*) FILTER (WHERE clicked_at IS NOT NULL)
                  + (SELECT anon_clicks FROM campaigns WHERE id = p_campaign))
      FROM campaign_recipients WHERE campaign_id = p_campaign
$$;

-- Adds an address to the suppression list (kept: the first reason wins).
CREATE FUNCTION crm_suppress(p_address text, p_reason text, p_source text,
                             p_campaign bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO suppressions (address_norm, reason, source, campaign_id)
    VALUES (lower(p_address), p_reason, p_source, p_campaign)
    ON CONFLICT (address_norm) DO NOTHING;
    -- rows not yet sent in running campaigns stop here too
    UPDATE campaign_recipients SET state = 'suppressed', updated_at = now()
     WHERE address_norm = lower(p_address) AND state = 'queued';
$$;

-- The one writer of what comes back. p_kind:
--   bounce      p_doc: {"hard": bool, "action", "status", "reason",
--               "diagnostic", "soft_limit": N, "soft_window_days": N}
--   complaint   p_doc: {"feedback_type", "reason"}
--   unsubscribe p_doc: {"source": "one-click"|"mailto"|"web"}
--   reply, autoreply, open, click   p_doc: {}
-- Returns what it did ("bounced-hard", "bounced-soft", "suppressed",
-- "complaint", "unsubscribed", "replied", "autoreply", "opened",
-- "clicked") or "unknown" when the recipient row does not exist.
CREATE FUNCTION crm_campaign_feedback(p_recipient bigint, p_kind text,
                                      p_doc jsonb)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    r      campaign_recipients%ROWTYPE;
    v_hard boolean;
    v_soft integer;
BEGIN
    SELECT * INTO r FROM campaign_recipients WHERE id = p_recipient
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'unknown';
    END IF;
    IF p_kind = 'bounce' THEN
        v_hard := coalesce((p_doc->>'hard')::boolean, false);
        -- a "delayed" DSN is news, not a bounce
        IF coalesce(p_doc->>'action', 'failed') NOT IN ('failed') THEN
            RETURN 'ignored-' || coalesce(p_doc->>'action', '');
        END IF;
        INSERT INTO campaign_bounces (recipient_id, campaign_id, address_norm,
                                      kind, hard, action, status, reason,
                                      diagnostic)
        VALUES (r.id, r.campaign_id, r.address_norm, 'bounce', v_hard,
                p_doc->>'action', p_doc->>'status', p_doc->>'reason',
                left(p_doc->>'diagnostic', 1000));
        UPDATE campaign_recipients
           SET state = CASE WHEN v_hard THEN 'bounced' ELSE state END,
               bounced_at = CASE WHEN v_hard THEN now() ELSE bounced_at END,
               bounce_reason = p_doc->>'reason',
               bounce_status = p_doc->>'status',
               soft_bounces = soft_bounces + CASE WHEN v_hard THEN 0 ELSE 1 END,
               updated_at = now()
         WHERE id = r.id;
        IF v_hard THEN
            PERFORM crm_suppress(r.address_norm,
                                 'hard-bounce: ' || coalesce(p_doc->>'reason', ''),
                                 'bounce', r.campaign_id);
            RETURN 'bounced-hard';
        END IF;
        SELECT count(*) INTO v_soft FROM campaign_bounces
         WHERE address_norm = r.address_norm AND kind = 'bounce' AND NOT hard
           AND at > now() - make_interval(
                   days => coalesce((p_doc->>'soft_window_days')::int, 30));
        IF v_soft >= coalesce((p_doc->>'soft_limit')::int, 3) THEN
            UPDATE campaign_recipients SET state = 'bounced',
                   bounced_at = now() WHERE id = r.id;
            PERFORM crm_suppress(r.address_norm,
                                 'soft-bounces: ' || v_soft, 'bounce',
                                 r.campaign_id);
            RETURN 'suppressed';
        END IF;
        RETURN 'bounced-soft';
    ELSIF p_kind = 'complaint' THEN
        INSERT INTO campaign_bounces (recipient_id, campaign_id, address_norm,
                                      kind, hard, reason, diagnostic)
        VALUES (r.id, r.campaign_id, r.address_norm, 'complaint', true,
                coalesce(p_doc->>'reason', 'feedback'),
                p_doc->>'feedback_type');
        UPDATE campaign_recipients SET complained_at = coalesce(complained_at, now()),
               updated_at = now() WHERE id = r.id;
        PERFORM crm_suppress(r.address_norm, 'complaint', 'feedback-loop',
                             r.campaign_id);
        RETURN 'complaint';
    ELSIF p_kind = 'unsubscribe' THEN
        UPDATE campaign_recipients
           SET unsubscribed_at = coalesce(unsubscribed_at, now()),
               updated_at = now() WHERE id = r.id;
        PERFORM crm_suppress(r.address_norm, 'unsubscribed',
                             coalesce(p_doc->>'source', 'web'), r.campaign_id);
        RETURN 'unsubscribed';
    ELSIF p_kind = 'reply' THEN
        UPDATE campaign_recipients SET replied_at = coalesce(replied_at, now()),
               updated_at = now() WHERE id = r.id;
        RETURN 'replied';
    ELSIF p_kind = 'autoreply' THEN
        UPDATE campaign_recipients
           SET auto_replied_at = coalesce(auto_replied_at, now()),
               updated_at = now() WHERE id = r.id;
        RETURN 'autoreply';
    ELSIF p_kind = 'open' THEN
        UPDATE campaign_recipients SET opened_at = coalesce(opened_at, now())
         WHERE id = r.id;
        RETURN 'opened';
    ELSIF p_kind = 'click' THEN
        UPDATE campaign_recipients SET clicked_at = coalesce(clicked_at, now()),
               opened_at = coalesce(opened_at, now())
         WHERE id = r.id;
        RETURN 'clicked';
    END IF;
    RAISE EXCEPTION 'crm_campaign_feedback: unknown kind %', p_kind
        USING ERRCODE = '22023';
END
$$;

-- Anonymous tracking: counts per campaign only.
CREATE FUNCTION crm_campaign_anon(p_campaign bigint, p_kind text)
RETURNS void LANGUAGE sql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
    UPDATE campaigns
       SET anon_opens = anon_opens + CASE WHEN p_kind = 'open' THEN 1 ELSE 0 END,
           anon_clicks = anon_clicks + CASE WHEN p_kind = 'click' THEN 1 ELSE 0 END
     WHERE id = p_campaign;
$$;

-- Grants. The worker sends (ledger, accounts, day counts) and reads the
-- people; the web reads campaigns and writes feedback through the
-- function; the milter only reports feedback.
GRANT SELECT ON mail_accounts, campaigns, suppressions TO crmgate_worker;
GRANT SELECT, UPDATE ON campaign_recipients TO crmgate_worker;
GRANT SELECT, INSERT, UPDATE ON mail_account_days TO crmgate_worker;
GRANT UPDATE (state, finished_at, updated_at, ab_winner, ab_decided_at,
              started_at)
    ON campaigns TO crmgate_worker;
GRANT SELECT ON campaign_bounces TO crmgate_worker;
GRANT EXECUTE ON FUNCTION crm_campaign_feedback(bigint, text, jsonb)
    TO crmgate_worker, crmgate_web, crmgate_milter;
GRANT EXECUTE ON FUNCTION crm_campaign_anon(bigint, text)
    TO crmgate_web, crmgate_milter;
GRANT SELECT ON campaigns, campaign_recipients, suppressions,
    campaign_bounces, mail_account_days TO crmgate_web;
GRANT SELECT (id, from_address, from_norm, name, relay_url, daily_cap,
              concurrency, is_default, active, created_at)
    ON mail_accounts TO crmgate_web;
-- the ledger carries each recipient's fields (vars): the worker reads no
-- CRM record, only the users it mails notices to
GRANT SELECT (id, email, name) ON users TO crmgate_worker;
-- task notices by mail (the worker's notices.deliver)
GRANT SELECT, UPDATE (sent_at, attempts, last_error, due_at) ON notices
    TO crmgate_worker;
