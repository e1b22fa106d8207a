-- tests/bench/seed.sql - a CRM of realistic size for the benchmark, so that
-- capture does its linking work (contacts, companies by domain, open deals,
-- sales-inbox leads) instead of running against empty tables. Matches the
-- addresses of tests/bench/gen_ingest.py and the smtp-source sender of
-- tests/bench/run.sh. Idempotent (run on a fresh database only; skipped when
-- users exist).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM users WHERE email_norm = 'boss@example.com') THEN
        RETURN;
    END IF;

    INSERT INTO users (email, email_norm, name, role)
    SELECT 'user' || i || '@example.com', 'user' || i || '@example.com',
           'User ' || i, 'manager'
      FROM generate_series(1, 20) AS i;
    INSERT INTO users (email, email_norm, name, role)
    VALUES ('boss@example.com', 'boss@example.com', 'The Boss', 'chief');

    -- 200 companies acme1.test .. acme200.test
    INSERT INTO companies (id, name, website)
    SELECT i, 'Acme ' || i, 'https://acme' || i || '.test'
      FROM generate_series(1, 200) AS i;
    PERFORM setval(pg_get_serial_sequence('companies', 'id'), 200);
    INSERT INTO company_domains (domain, company_id)
    SELECT 'acme' || i || '.test', i FROM generate_series(1, 200) AS i;

    -- 2,000 contacts contactN@acme(N % 200 + 1).test
    INSERT INTO contacts (id, company_id, first_name, last_name, email, email_norm)
    SELECT i, i % 200 + 1, 'First' || i, 'Last' || i,
           'contact' || i || '@acme' || (i % 200 + 1) || '.test',
           'contact' || i || '@acme' || (i % 200 + 1) || '.test'
      FROM generate_series(1, 2000) AS i;
    PERFORM setval(pg_get_serial_sequence('contacts', 'id'), 2000);

    -- an open deal for every third contact, a won one for every seventh
    INSERT INTO deals (name, status, contact_id, company_id, amount, currency,
                       owner_id)
    SELECT 'Deal ' || i, CASE WHEN i % 7 = 0 THEN 'won' ELSE 'open' END,
           i, i % 200 + 1, 1000 + i, 'EUR', 1 + i % 20
      FROM generate_series(1, 2000) AS i
     WHERE i % 3 = 0 OR i % 7 = 0;
END
$$;
ANALYZE;
