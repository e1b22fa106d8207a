-- 0001_crm_core: staff, organisations, people, deals and inquiries.
--
-- Addresses are stored twice: as written (email) and normalised (email_norm:
-- lower-case, IDN domain in ASCII) by the application, so every lookup is one
-- index probe. Phones keep E.164 and the last nine digits for the same reason.
-- Every record has an owner (a user); managers see their own, chiefs all.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    email_norm    text NOT NULL UNIQUE,
    name          text NOT NULL DEFAULT '',
    role          text NOT NULL DEFAULT 'manager'
                  CHECK (role IN ('manager', 'operator', 'chief', 'admin')),
    phone_ext     text,
    password_hash text,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lead_sources (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE stages (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    position   integer NOT NULL DEFAULT 0,
    is_default boolean NOT NULL DEFAULT false,
    is_success boolean NOT NULL DEFAULT false
);

CREATE TABLE closing_reasons (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    is_success boolean NOT NULL DEFAULT false
);

CREATE TABLE tags (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE companies (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    website        text,
    phone          text,
    country        text,
    city           text,
    address        text,
    description    text,
    owner_id       bigint REFERENCES users(id),
    lead_source_id bigint REFERENCES lead_sources(id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX companies_name_idx ON companies (lower(name));

-- A domain belongs to at most one company; free-mail domains never appear.
CREATE TABLE company_domains (
    domain     text PRIMARY KEY,
    company_id bigint NOT NULL REFERENCES companies(id) ON DELETE CASCADE
);
CREATE INDEX company_domains_company_idx ON company_domains (company_id);

CREATE TABLE contacts (
    id                   bigserial PRIMARY KEY,
    company_id           bigint REFERENCES companies(id) ON DELETE SET NULL,
    first_name           text NOT NULL DEFAULT '',
    last_name            text NOT NULL DEFAULT '',
    title                text,
    email                text,
    email_norm           text,
    secondary_email      text,
    secondary_email_norm text,
    phone                text,
    phone_e164           text,
    phone_last9          text,
    owner_id             bigint REFERENCES users(id),
    lead_source_id       bigint REFERENCES lead_sources(id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_email_norm_idx ON contacts (email_norm);
CREATE INDEX contacts_secondary_email_norm_idx ON contacts (secondary_email_norm);
CREATE INDEX contacts_phone_last9_idx ON contacts (phone_last9);
CREATE INDEX contacts_company_idx ON contacts (company_id);

CREATE TABLE leads (
    id             bigserial PRIMARY KEY,
    first_name     text NOT NULL DEFAULT '',
    last_name      text NOT NULL DEFAULT '',
    email          text,
    email_norm     text,
    phone          text,
    phone_e164     text,
    phone_last9    text,
    company_name   text,
    website        text,
    description    text,
    owner_id       bigint REFERENCES users(id),
    lead_source_id bigint REFERENCES lead_sources(id),
    disqualified   boolean NOT NULL DEFAULT false,
    contact_id     bigint REFERENCES contacts(id),   -- set once converted
    company_id     bigint REFERENCES companies(id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_email_norm_idx ON leads (email_norm);
CREATE INDEX leads_phone_last9_idx ON leads (phone_last9);

-- An inbound inquiry: from mail to a sales inbox, a call or the web.
CREATE TABLE requests (
    id             bigserial PRIMARY KEY,
    ticket         text NOT NULL UNIQUE,
    subject        text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    first_name     text NOT NULL DEFAULT '',
    last_name      text NOT NULL DEFAULT '',
    email          text,
    email_norm     text,
    phone          text,
    lead_source_id bigint REFERENCES lead_sources(id),
    owner_id       bigint REFERENCES users(id),
    contact_id     bigint REFERENCES contacts(id),
    lead_id        bigint REFERENCES leads(id),
    company_id     bigint REFERENCES companies(id),
    pending        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requests_email_norm_idx ON requests (email_norm);

CREATE TABLE deals (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL,
    ticket            text NOT NULL UNIQUE,
    stage_id          bigint REFERENCES stages(id),
    status            text NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'won', 'lost')),
    amount            numeric(14, 2),
    currency          char(3),
    owner_id          bigint REFERENCES users(id),
    contact_id        bigint REFERENCES contacts(id),
    company_id        bigint REFERENCES companies(id),
    lead_id           bigint REFERENCES leads(id),
    request_id        bigint REFERENCES requests(id),
    closing_reason_id bigint REFERENCES closing_reasons(id),
    next_step         text,
    next_step_date    date,
    created_at        timestamptz NOT NULL DEFAULT now(),
    closed_at         timestamptz
);
CREATE INDEX deals_contact_open_idx ON deals (contact_id, created_at DESC)
    WHERE status = 'open';
CREATE INDEX deals_company_idx ON deals (company_id);

ALTER TABLE requests ADD COLUMN deal_id bigint REFERENCES deals(id);

-- Tags on any record, by record type.
CREATE TABLE record_tags (
    record_type text NOT NULL
                CHECK (record_type IN ('contact', 'lead', 'company', 'deal', 'request')),
    record_id   bigint NOT NULL,
    tag_id      bigint NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (record_type, record_id, tag_id)
);

-- A short random ticket, as django-crm's, e.g. "7Kq2mZ"; retried on conflict.
CREATE FUNCTION crm_new_ticket() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(substr('ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789',
                             1 + floor(random() * 57)::int, 1), '')
    FROM generate_series(1, 8)
$$;
ALTER TABLE deals ALTER COLUMN ticket SET DEFAULT crm_new_ticket();
ALTER TABLE requests ALTER COLUMN ticket SET DEFAULT crm_new_ticket();

INSERT INTO stages (name, position, is_default, is_success) VALUES
    ('request', 1, true, false), ('analysis', 2, false, false),
    ('proposal', 3, false, false), ('negotiation', 4, false, false),
    ('closing', 5, false, true);
INSERT INTO closing_reasons (name, is_success) VALUES
    ('won', true), ('price', false), ('competitor', false), ('no answer', false);
INSERT INTO lead_sources (name) VALUES ('email'), ('website'), ('phone'), ('import');
