/*
 * seed_demo.c - the demo CRM behind `crmgate seed --demo` and `make run`
 * (see seed.h).
 *
 * Records: one compiled-in script (constants only, no data from outside)
 * in one transaction under an advisory lock; it does nothing when the
 * deal with ticket DEMO0001 exists. Dates are relative to now(), so the
 * demo always has overdue tasks, recent mail and future payments.
 * Passwords (argon2id) are set from C for the demo users that have none.
 *
 * Mail: each message is built as RFC 5322 text, parsed by the message
 * parser, planned by ingest_plan_new() and stored by ingest_store() -
 * the path the milter and `crmgate ingest` take - unless a message with
 * its Message-ID is stored already. Inbound mail is forced "in";
 * outbound carries the user's login as {auth_authen}, the evidence a
 * capture token needs.
 */
#include <jansson.h>
#include <string.h>

#include "crmgate/auth.h"
#include "crmgate/ingest.h"
#include "crmgate/message.h"
#include "crmgate/records.h"
#include "crmgate/seed.h"
#include "seed_int.h"

static const char demo_sql[] =
    "BEGIN;\n"
    "DO $demo$\n"
    "DECLARE\n"
    "    u_boss bigint; u_demo bigint; u_sam bigint; u_olive bigint;\n"
    "    src_web bigint; src_mail bigint; src_phone bigint; src_ref bigint;\n"
    "    st bigint[]; co bigint[]; ct bigint[]; ld bigint[]; dl bigint[];\n"
    "    prj bigint; t_parent bigint; t_id bigint; rq bigint;\n"
    "BEGIN\n"
    "    PERFORM pg_advisory_xact_lock(hashtext('crmgate-seed-demo'));\n"
    "    IF EXISTS (SELECT 1 FROM deals WHERE ticket = 'DEMO0001') THEN\n"
    "        RETURN;\n"
    "    END IF;\n"
    "    INSERT INTO users (email, email_norm, name, role, phone_ext) VALUES\n"
    "        ('boss@example.com', 'boss@example.com', 'Beatrice Boss', "
    "'chief', '100'),\n"
    "        ('demo@example.com', 'demo@example.com', 'Dana Demo', "
    "'manager', '101'),\n"
    "        ('sam@example.com', 'sam@example.com', 'Sam Carter', "
    "'manager', '102'),\n"
    "        ('olive@example.com', 'olive@example.com', 'Olive Ortiz', "
    "'operator', '103')\n"
    "    ON CONFLICT (email_norm) DO NOTHING;\n"
    "    SELECT id INTO u_boss FROM users WHERE email_norm = "
    "'boss@example.com';\n"
    "    SELECT id INTO u_demo FROM users WHERE email_norm = "
    "'demo@example.com';\n"
    "    SELECT id INTO u_sam FROM users WHERE email_norm = "
    "'sam@example.com';\n"
    "    SELECT id INTO u_olive FROM users WHERE email_norm = "
    "'olive@example.com';\n"
    "    PERFORM set_config('crmgate.user_id', u_demo::text, true);\n"
    "    INSERT INTO lead_sources (name) VALUES ('website'), ('email'),\n"
    "        ('phone'), ('referral') ON CONFLICT (name) DO NOTHING;\n"
    "    SELECT id INTO src_web FROM lead_sources WHERE name = 'website';\n"
    "    SELECT id INTO src_mail FROM lead_sources WHERE name = 'email';\n"
    "    SELECT id INTO src_phone FROM lead_sources WHERE name = 'phone';\n"
    "    SELECT id INTO src_ref FROM lead_sources WHERE name = 'referral';\n"
    "    SELECT array_agg(id ORDER BY position, id) INTO st FROM stages;\n"
    /* companies */
    "    WITH v(k, name, website, city, country, owner, co_owner, src, age)\n"
    "    AS (VALUES\n"
    "        (1, 'Northwind Traders', 'https://northwind.test', 'Seattle', "
    "'US', u_demo, NULL::bigint, src_web, 240),\n"
    "        (2, 'Globex Corporation', 'https://globex.test', 'Springfield', "
    "'US', u_demo, u_sam, src_ref, 200),\n"
    "        (3, 'Initech', 'https://initech.test', 'Austin', 'US', u_sam, "
    "NULL, src_phone, 180),\n"
    "        (4, 'Umbrella Health', 'https://umbrella-health.test', "
    "'Raccoon City', 'US', u_sam, NULL, src_mail, 150),\n"
    "        (5, 'Acme Rockets', 'https://acme-rockets.test', 'Tucson', "
    "'US', u_demo, NULL, src_web, 120),\n"
    "        (6, 'Blue Harbor Logistics', 'https://blueharbor.test', "
    "'Hamburg', 'DE', u_demo, NULL, src_ref, 90)),\n"
    "    ins AS (INSERT INTO companies (name, website, city, country, "
    "owner_id,\n"
    "                co_owner_id, lead_source_id, created_at, updated_at)\n"
    "            SELECT name, website, city, country, owner, co_owner, src,\n"
    "                   now() - age * interval '1 day', now() - age * "
    "interval '1 day'\n"
    "              FROM v ORDER BY k RETURNING id, name)\n"
    "    SELECT array_agg(ins.id ORDER BY v.k) INTO co FROM ins JOIN v "
    "USING (name);\n"
    "    INSERT INTO company_domains (domain, company_id)\n"
    "    SELECT d, co[k] FROM (VALUES (1, 'northwind.test'), (2, "
    "'globex.test'),\n"
    "        (2, 'globex-mail.test'), (3, 'initech.test'),\n"
    "        (4, 'umbrella-health.test'), (5, 'acme-rockets.test'),\n"
    "        (6, 'blueharbor.test')) x(k, d)\n"
    "    ON CONFLICT (domain) DO NOTHING;\n"
    /* contacts */
    "    WITH v(k, fname, lname, title, email, phone, c, owner, co_owner, "
    "age) AS (VALUES\n"
    "        (1, 'Nina', 'Novak', 'Purchasing Manager', "
    "'nina.novak@northwind.test', '+12065550101', 1, u_demo, NULL::bigint, "
    "230),\n"
    "        (2, 'Tom', 'Berger', 'CTO', 'tom.berger@northwind.test', "
    "'+12065550102', 1, u_demo, NULL, 220),\n"
    "        (3, 'Grace', 'Lee', 'COO', 'grace.lee@globex.test', "
    "'+12175550103', 2, u_demo, u_sam, 190),\n"
    "        (4, 'Hank', 'Scorpio', 'CEO', 'hank@globex.test', "
    "'+12175550104', 2, u_demo, u_sam, 185),\n"
    "        (5, 'Peter', 'Gibbons', 'Software Engineer', "
    "'peter.gibbons@initech.test', '+15125550105', 3, u_sam, NULL, 170),\n"
    "        (6, 'Bill', 'Lumbergh', 'Vice President', 'bill@initech.test', "
    "'+15125550106', 3, u_sam, NULL, 165),\n"
    "        (7, 'Alice', 'Kim', 'Lab Director', "
    "'alice.kim@umbrella-health.test', '+15205550107', 4, u_sam, NULL, 140),\n"
    "        (8, 'Wile', 'Coyote', 'Head of R&D', 'wile@acme-rockets.test', "
    "'+15205550108', 5, u_demo, NULL, 110),\n"
    "        (9, 'Mara', 'Lind', 'Operations Director', "
    "'mara.lind@blueharbor.test', '+494055501090', 6, u_demo, NULL, 80),\n"
    "        (10, 'Jonas', 'Freeman', 'Consultant', "
    "'jonas.freeman@gmail.com', '+447700900110', NULL, u_demo, NULL, 60)),\n"
    "    ins AS (INSERT INTO contacts (company_id, first_name, last_name, "
    "title,\n"
    "                email, email_norm, phone, phone_e164, phone_last9, "
    "owner_id,\n"
    "                co_owner_id, lead_source_id, created_at, updated_at)\n"
    "            SELECT co[c], fname, lname, title, email, email, phone, "
    "phone,\n"
    "                   right(phone, 9), owner, co_owner, src_web,\n"
    "                   now() - age * interval '1 day', now() - age * "
    "interval '1 day'\n"
    "              FROM v ORDER BY k RETURNING id, email)\n"
    "    SELECT array_agg(ins.id ORDER BY v.k) INTO ct FROM ins JOIN v "
    "USING (email);\n"
    /* leads */
    "    WITH v(k, fname, lname, email, company, owner, src, disq, age) AS "
    "(VALUES\n"
    "        (1, 'Lena', 'Fischer', 'lena@fischer-design.test', "
    "'Fischer Design', u_demo, src_web, false, 12),\n"
    "        (2, 'Carlos', 'Ruiz', 'carlos.ruiz@yahoo.com', NULL, u_olive, "
    "src_phone, false, 6),\n"
    "        (3, 'Priya', 'Shah', 'priya@shahconsult.test', 'Shah "
    "Consulting', u_olive, src_mail, false, 3),\n"
    "        (4, 'Vince', 'Spammer', 'vince@cheap-leads.test', 'Cheap Leads', "
    "u_olive, src_web, true, 30)),\n"
    "    ins AS (INSERT INTO leads (first_name, last_name, email, email_norm,\n"
    "                company_name, owner_id, lead_source_id, disqualified,\n"
    "                created_at, updated_at)\n"
    "            SELECT fname, lname, email, email, company, owner, src, "
    "disq,\n"
    "                   now() - age * interval '1 day', now() - age * "
    "interval '1 day'\n"
    "              FROM v ORDER BY k RETURNING id, email)\n"
    "    SELECT array_agg(ins.id ORDER BY v.k) INTO ld FROM ins JOIN v "
    "USING (email);\n"
    /* deals: final stage (by position), status, closing reason */
    "    WITH v(k, name, ticket, c, pos, status, amount, cur, owner, "
    "co_owner, age,\n"
    "           closed, reason, next_step, next_days) AS (VALUES\n"
    "        (1, 'Northwind annual supply contract', 'DEMO0001', 1, 4, "
    "'open', 48000, 'USD', u_demo, NULL::bigint, 75, NULL::int, NULL, "
    "'Send the final contract', 2),\n"
    "        (2, 'Northwind pilot', 'DEMO0002', 2, 5, 'won', 12000, 'USD', "
    "u_demo, NULL, 120, 40, 'won', NULL, NULL::int),\n"
    "        (3, 'Globex CRM rollout', 'DEMO0003', 3, 3, 'open', 85000, "
    "'USD', u_demo, u_sam, 45, NULL, NULL, 'Revised proposal', -3),\n"
    "        (4, 'Globex support renewal', 'DEMO0004', 4, 3, 'lost', 9000, "
    "'USD', u_demo, NULL, 90, 20, 'price', NULL, NULL),\n"
    "        (5, 'Initech TPS automation', 'DEMO0005', 5, 2, 'open', 23000, "
    "'USD', u_sam, NULL, 30, NULL, NULL, 'Demo for the team', 4),\n"
    "        (6, 'Initech printer fleet', 'DEMO0006', 6, 2, 'lost', 7500, "
    "'USD', u_sam, NULL, 100, 60, 'competitor', NULL, NULL),\n"
    "        (7, 'Umbrella lab software', 'DEMO0007', 7, 1, 'open', 15000, "
    "'USD', u_sam, NULL, 8, NULL, NULL, 'Qualify the need', 1),\n"
    "        (8, 'Acme rocket telemetry', 'DEMO0008', 8, 5, 'won', 64000, "
    "'USD', u_demo, NULL, 70, 5, 'won', NULL, NULL),\n"
    "        (9, 'Blue Harbor fleet tracking', 'DEMO0009', 9, 4, 'open', "
    "39000, 'EUR', u_demo, NULL, 50, NULL, NULL, 'Negotiate volume "
    "discount', 7),\n"
    "        (10, 'Freeman consulting hours', 'DEMO0010', 10, 1, 'open', "
    "3000, 'EUR', u_demo, NULL, 10, NULL, NULL, 'Call back', 0),\n"
    "        (11, 'Acme launch pad sensors', 'DEMO0011', 8, 2, 'lost', "
    "18000, 'USD', u_demo, NULL, 65, 35, 'no answer', NULL, NULL)),\n"
    "    ins AS (INSERT INTO deals (name, ticket, stage_id, status, amount, "
    "currency,\n"
    "                owner_id, co_owner_id, contact_id, company_id,\n"
    "                closing_reason_id, next_step, next_step_date, "
    "created_at,\n"
    "                closed_at)\n"
    "            SELECT v.name, ticket,\n"
    "                   st[least(pos, cardinality(st))], status, amount, cur,\n"
    "                   owner, co_owner, ct[c], (SELECT company_id FROM "
    "contacts\n"
    "                                            WHERE id = ct[c]),\n"
    "                   (SELECT id FROM closing_reasons r WHERE r.name = "
    "v.reason),\n"
    "                   next_step, current_date + next_days,\n"
    "                   now() - age * interval '1 day',\n"
    "                   now() - closed * interval '1 day'\n"
    "              FROM v ORDER BY k RETURNING id, ticket)\n"
    "    SELECT array_agg(ins.id ORDER BY v.k) INTO dl FROM ins JOIN v "
    "USING (ticket);\n"
    /* payments: all four statuses, past and future */
    "    INSERT INTO payments (deal_id, amount, currency, status, "
    "payment_date,\n"
    "                          contract, created_at)\n"
    "    SELECT dl[k], amount, cur, status, current_date + days, contract,\n"
    "           now() - interval '1 day' * greatest(-days, 1)\n"
    "      FROM (VALUES (2, 6000, 'USD', 'received', -38, 'NW-2024-07'),\n"
    "                   (2, 6000, 'USD', 'received', -10, 'NW-2024-07'),\n"
    "                   (8, 32000, 'USD', 'received', -4, 'ACME-88'),\n"
    "                   (8, 32000, 'USD', 'guaranteed', 25, 'ACME-88'),\n"
    "                   (1, 24000, 'USD', 'high', 30, ''),\n"
    "                   (1, 24000, 'USD', 'low', 90, ''),\n"
    "                   (3, 40000, 'USD', 'low', 60, ''),\n"
    "                   (9, 15000, 'EUR', 'high', 45, ''),\n"
    "                   (9, 5000, 'EUR', 'received', -2, 'BH-ADV')) "
    "x(k, amount, cur, status, days, contract);\n"
    /* requests (each with an "answer" task for its owner: a trigger) */
    "    INSERT INTO requests (ticket, subject, description, first_name, "
    "last_name,\n"
    "                          email, email_norm, lead_source_id, owner_id,\n"
    "                          contact_id, lead_id, company_id, deal_id, "
    "pending,\n"
    "                          created_at)\n"
    "    VALUES ('DEMOREQ1', 'Website redesign quote', 'We need a quote "
    "for a new website with a shop.', 'Lena', 'Fischer',\n"
    "            'lena@fischer-design.test', 'lena@fischer-design.test', "
    "src_web, u_demo,\n"
    "            NULL, ld[1], NULL, NULL, true, now() - interval '12 days'),\n"
    "           ('DEMOREQ2', 'Bulk order for next year', 'Volumes and "
    "prices for the annual contract.', 'Nina', 'Novak',\n"
    "            'nina.novak@northwind.test', 'nina.novak@northwind.test', "
    "src_mail, u_demo,\n"
    "            ct[1], NULL, co[1], dl[1], false, now() - interval '75 "
    "days'),\n"
    "           ('DEMOREQ3', 'Pricing for 50 seats', 'How much for 50 users "
    "with support?', 'Priya', 'Shah',\n"
    "            'priya@shahconsult.test', 'priya@shahconsult.test', "
    "src_mail, u_olive,\n"
    "            NULL, ld[3], NULL, NULL, true, now() - interval '3 days');\n"
    /* a project and tasks: overdue, subtasks, every stage */
    "    INSERT INTO projects (name, description, owner_id, co_owner_id, "
    "created_at)\n"
    "    VALUES ('Q3 enterprise push', 'The three largest open deals.', "
    "u_demo, u_boss,\n"
    "            now() - interval '60 days') RETURNING id INTO prj;\n"
    "    INSERT INTO tasks (title, description, owner_id, project_id, stage,\n"
    "                       priority, due_date, next_step, record_type, "
    "record_id,\n"
    "                       created_at)\n"
    "    VALUES ('Prepare the Northwind contract', 'Contract for the annual "
    "supply deal.', u_demo, prj, 'in_progress', 3, current_date + 2,\n"
    "            'Legal review', 'deal', dl[1], now() - interval '20 days')\n"
    "    RETURNING id INTO t_parent;\n"
    "    INSERT INTO tasks (title, owner_id, parent_id, project_id, stage, "
    "priority,\n"
    "                       due_date, created_at)\n"
    "    VALUES ('Pricing sheet for Northwind', u_demo, t_parent, prj, "
    "'pending', 3,\n"
    "            current_date - 1, now() - interval '19 days'),\n"
    "           ('Sign-off from Beatrice', u_boss, t_parent, prj, "
    "'pending', 2,\n"
    "            current_date + 1, now() - interval '19 days');\n"
    "    INSERT INTO tasks (title, owner_id, parent_id, project_id, stage, "
    "priority,\n"
    "                       due_date, created_at)\n"
    "    VALUES ('Legal review of the Northwind contract', u_demo, "
    "t_parent, prj, 'done', 2,\n"
    "            current_date - 5, now() - interval '19 days');\n"
    "    INSERT INTO task_users (task_id, user_id, kind)\n"
    "    SELECT id, u_demo, 'responsible' FROM tasks WHERE parent_id = "
    "t_parent AND owner_id = u_boss\n"
    "    UNION ALL SELECT t_parent, u_boss, 'subscriber';\n"
    "    INSERT INTO tasks (title, description, owner_id, co_owner_id, "
    "project_id,\n"
    "                       stage, priority, due_date, record_type, "
    "record_id,\n"
    "                       created_at)\n"
    "    VALUES ('Send the revised proposal to Globex', 'Grace asked for a "
    "phased rollout.', u_demo, u_sam, prj, 'pending', 3,\n"
    "            current_date - 3, 'deal', dl[3], now() - interval '10 "
    "days'),\n"
    "           ('Call Tom Berger about the pilot results', '', u_demo, "
    "NULL, NULL, 'pending', 2,\n"
    "            current_date, 'contact', ct[2], now() - interval '2 days'),\n"
    "           ('Ask Blue Harbor for fleet size', '', u_demo, NULL, prj, "
    "'in_progress', 2,\n"
    "            current_date + 5, 'deal', dl[9], now() - interval '6 days'),\n"
    "           ('Post-mortem: Globex renewal lost on price', '', u_demo, "
    "NULL, NULL, 'done', 1,\n"
    "            current_date - 15, 'deal', dl[4], now() - interval '19 "
    "days'),\n"
    "           ('Initech TPS demo', 'Show the automation to Bill.', u_sam, "
    "NULL, NULL, 'pending', 3,\n"
    "            current_date - 5, 'deal', dl[5], now() - interval '12 "
    "days'),\n"
    "           ('Webinar for Umbrella labs', '', u_sam, NULL, NULL, "
    "'postponed', 1,\n"
    "            current_date + 20, 'company', co[4], now() - interval '9 "
    "days'),\n"
    "           ('Old trade-show follow-up', '', u_sam, NULL, NULL, "
    "'canceled', 1,\n"
    "            current_date - 30, NULL, NULL, now() - interval '40 days'),\n"
    "           ('Qualify Priya Shah', '', u_olive, NULL, NULL, 'pending', 2,\n"
    "            current_date - 1, 'lead', ld[3], now() - interval '3 days')\n"
    "    ;\n"
    "    SELECT id INTO t_id FROM tasks WHERE title = 'Send the revised "
    "proposal to Globex'\n"
    "     AND owner_id = u_demo ORDER BY id DESC LIMIT 1;\n"
    "    INSERT INTO task_users (task_id, user_id, kind) VALUES (t_id, u_sam, "
    "'responsible');\n"
    "    INSERT INTO task_comments (task_id, author_id, body, created_at)\n"
    "    VALUES (t_id, u_sam, 'Grace prefers three phases; keep the price.', "
    "now() - interval '4 days'),\n"
    "           (t_parent, u_boss, 'Use the 2024 template, please.', now() - "
    "interval '8 days');\n"
    "    SELECT id INTO rq FROM requests WHERE ticket = 'DEMOREQ2';\n"
    "    UPDATE tasks SET stage = 'done' WHERE record_type = 'request' AND "
    "record_id = rq;\n"
    "END\n"
    "$demo$;\n";

/* One demo message: RFC 5322 text and how it travels. */
typedef struct {
    const char *message_id;
    bool outbound;     /* sent by login (auth_authen) */
    const char *login; /* the staff member's address */
    int days_ago;      /* Date: now minus days and hours */
    int hours_ago;
    const char *headers; /* From, To, Cc, Subject, In-Reply-To, ... */
    const char *body;    /* text/plain; NULL: multipart with attachment */
} demo_mail;

static const demo_mail demo_mails[] = {
    {"demo-nw-1@northwind.test", false, NULL, 20, 5,
     "From: Nina Novak <nina.novak@northwind.test>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Subject: Annual supply contract: volumes for next year\r\n",
     "Hello Dana,\r\n\r\nfor next year we expect about 12,000 units, "
     "delivered quarterly.\r\nCould you send prices and delivery terms?\r\n"
     "\r\nBest regards,\r\nNina Novak\r\nNorthwind Traders\r\n"},
    {"demo-nw-2@example.com", true, "demo@example.com", 19, 2,
     "From: Dana Demo <demo@example.com>\r\n"
     "To: Nina Novak <nina.novak@northwind.test>\r\n"
     "Cc: Tom Berger <tom.berger@northwind.test>\r\n"
     "Subject: Re: Annual supply contract: volumes for next year\r\n"
     "In-Reply-To: <demo-nw-1@northwind.test>\r\n"
     "References: <demo-nw-1@northwind.test>\r\n",
     NULL},
    {"demo-nw-3@northwind.test", false, NULL, 18, 1,
     "From: Nina Novak <nina.novak@northwind.test>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Subject: Re: Annual supply contract: volumes for next year\r\n"
     "In-Reply-To: <demo-nw-2@example.com>\r\n"
     "References: <demo-nw-1@northwind.test> <demo-nw-2@example.com>\r\n",
     "Thanks Dana, the price list looks good. Tom will check the "
     "delivery terms.\r\nCan we sign before the end of the month?\r\n\r\n"
     "Nina\r\n"},
    {"demo-gx-1@example.com", true, "demo@example.com", 9, 3,
     "From: Dana Demo <demo@example.com>\r\n"
     "To: Grace Lee <grace.lee@globex.test>\r\n"
     "Bcc: crm+deal-DEAL3@CAPTURE\r\n"
     "Subject: CRM rollout proposal\r\n",
     "Hi Grace,\r\n\r\nattached to our call: the rollout in three phases, "
     "85,000 USD in total.\r\n\r\nDana\r\n"},
    {"demo-gx-2@globex.test", false, NULL, 8, 6,
     "From: Grace Lee <grace.lee@globex.test>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Cc: Hank Scorpio <hank@globex.test>\r\n"
     "Subject: Re: CRM rollout proposal\r\n"
     "In-Reply-To: <demo-gx-1@example.com>\r\n"
     "References: <demo-gx-1@example.com>\r\n",
     "Dana, Hank wants the first phase to start in March. Please send a "
     "revised proposal.\r\n\r\nGrace\r\n"},
    {"demo-in-1@initech.test", false, NULL, 14, 2,
     "From: Peter Gibbons <peter.gibbons@initech.test>\r\n"
     "To: Sam Carter <sam@example.com>\r\n"
     "Subject: TPS report automation questions\r\n",
     "Sam,\r\n\r\ndo the new cover sheets come with the automation, or is "
     "that extra?\r\n\r\nPeter\r\n"},
    {"demo-in-2@example.com", true, "sam@example.com", 13, 20,
     "From: Sam Carter <sam@example.com>\r\n"
     "To: Peter Gibbons <peter.gibbons@initech.test>\r\n"
     "Subject: Re: TPS report automation questions\r\n"
     "In-Reply-To: <demo-in-1@initech.test>\r\n"
     "References: <demo-in-1@initech.test>\r\n",
     "Peter, the cover sheets are included. I will show it in the demo.\r\n"
     "\r\nSam\r\n"},
    {"demo-ac-1@acme-rockets.test", false, NULL, 6, 4,
     "From: Wile Coyote <wile@acme-rockets.test>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Subject: Telemetry order signed [ticket:DEMO0008]\r\n",
     "Dana,\r\n\r\nthe purchase order is signed; the first payment is on "
     "its way.\r\n\r\nWile\r\n"},
    {"demo-bh-1@blueharbor.test", false, NULL, 4, 9,
     "From: Mara Lind <mara.lind@blueharbor.test>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Subject: Fleet tracking: volume discount?\r\n",
     "Hello Dana,\r\n\r\nwe run 140 trucks. Is there a discount above 100 "
     "units?\r\n\r\nMara Lind\r\n"},
    {"demo-bh-2@example.com", true, "demo@example.com", 3, 22,
     "From: Dana Demo <demo@example.com>\r\n"
     "To: Mara Lind <mara.lind@blueharbor.test>\r\n"
     "Subject: Re: Fleet tracking: volume discount?\r\n"
     "In-Reply-To: <demo-bh-1@blueharbor.test>\r\n"
     "References: <demo-bh-1@blueharbor.test>\r\n",
     "Hello Mara,\r\n\r\nyes: 8% above 100 units, 12% above 200.\r\n\r\n"
     "Dana\r\n"},
    {"demo-jf-1@gmail.com", false, NULL, 2, 3,
     "From: Jonas Freeman <jonas.freeman@gmail.com>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Subject: Consulting hours next week\r\n",
     "Hi Dana, can we book ten hours next week? Jonas\r\n"},
    {"demo-lf-1@fischer-design.test", false, NULL, 11, 7,
     "From: Lena Fischer <lena@fischer-design.test>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Subject: Website redesign quote\r\n",
     "Dear Dana,\r\n\r\nwhen can we expect the quote?\r\n\r\nLena\r\n"},
    {"demo-sales-1@brooks-bakery.test", false, NULL, 1, 5,
     "From: Maya Brooks <maya@brooks-bakery.test>\r\n"
     "To: SALES\r\n"
     "Subject: Order software for our bakeries\r\n",
     "Hello,\r\n\r\nwe run four bakeries and look for order software. "
     "Who can help?\r\n\r\nMaya Brooks\r\n"},
    {"demo-news-1@vendor-news.test", false, NULL, 0, 7,
     "From: Vendor News <newsletter@vendor-news.test>\r\n"
     "To: Dana Demo <demo@example.com>\r\n"
     "Subject: This week in logistics <script>alert(1)</script>\r\n",
     "Ten trends you cannot miss. <b>Read more</b>.\r\n"},
};

/* A small CSV price list: the attachment of the reply to Nina. */
static const char price_list_b64[] =
    "aXRlbSx1bml0cyxwcmljZV91c2QKd2lkZ2V0LDEyMDAwLDMuMjAKZ2FkZ2V0LDQw"
    "MDAsNy45MApzcHJvY2tldCwyMDAwLDEuMTAK";

/* Builds the RFC 5322 text of m at now; deal3 and the capture address
   fill the Bcc token, sales the sales inbox. */
static char *build_mail(const demo_mail *m, GDateTime *now, gint64 deal3,
                        const crm_config *cfg, const char *sales)
{
    GDateTime *when =
        g_date_time_add_hours(now, -(m->days_ago * 24 + m->hours_ago));
    /* RFC 5322 names, whatever the locale */
    static const char *const wd[] = {"Mon", "Tue", "Wed", "Thu",
                                     "Fri", "Sat", "Sun"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    g_autofree char *date = g_strdup_printf(
        "%s, %02d %s %04d %02d:%02d:%02d +0000",
        wd[g_date_time_get_day_of_week(when) - 1],
        g_date_time_get_day_of_month(when), mo[g_date_time_get_month(when) - 1],
        g_date_time_get_year(when), g_date_time_get_hour(when),
        g_date_time_get_minute(when), g_date_time_get_second(when));
    g_date_time_unref(when);
    g_autofree char *capture =
        g_strdup_printf("%s+deal-%" G_GINT64_FORMAT "@%s", cfg->capture_local,
                        deal3, cfg->capture_domain);
    GString *h = g_string_new(m->headers);
    /* placeholders in the header table */
    const char *bcc = "crm+deal-DEAL3@CAPTURE";
    char *p = strstr(h->str, bcc);
    if (p) {
        gsize at = (gsize)(p - h->str);
        g_string_erase(h, (gssize)at, (gssize)strlen(bcc));
        g_string_insert(h, (gssize)at, capture);
    }
    p = strstr(h->str, "To: SALES\r\n");
    if (p) {
        gsize at = (gsize)(p - h->str) + 4;
        g_string_erase(h, (gssize)at, 5);
        g_string_insert(h, (gssize)at, sales);
    }
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "Message-ID: <%s>\r\nDate: %s\r\n", m->message_id,
                           date);
    g_string_append(s, h->str);
    g_string_free(h, TRUE);
    g_string_append(s, "MIME-Version: 1.0\r\n");
    if (m->body) {
        g_string_append_printf(s,
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "\r\n%s",
                               m->body);
    } else {
        g_string_append_printf(
            s,
            "Content-Type: multipart/mixed; boundary=\"demo-b1\"\r\n\r\n"
            "--demo-b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hello Nina,\r\n\r\nthe price list for 12,000 units is attached; "
            "delivery is quarterly, free above 2,000 units.\r\n\r\n"
            "Best,\r\nDana Demo\r\n"
            "--demo-b1\r\nContent-Type: text/csv; name=\"price-list.csv\"\r\n"
            "Content-Disposition: attachment; filename=\"price-list.csv\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--demo-b1--\r\n",
            price_list_b64);
    }
    return g_string_free(s, FALSE);
}

/* Captures one demo message unless its Message-ID is stored; *stored_r
   tells which. */
static crm_result capture_one(const crm_config *cfg, db_conn *db,
                              const demo_mail *m, GDateTime *now, gint64 deal3,
                              const char *sales, bool *stored_r, char **error_r)
{
    *stored_r = false;
    const char *v[] = {m->message_id};
    json_t *there = NULL;
    crm_result r = records_query_json(
        db, "SELECT to_json(true) FROM messages WHERE message_id = $1 LIMIT 1",
        1, v, &there, error_r);
    if (r)
        return r;
    if (there) {
        json_decref(there);
        return CRM_OK;
    }
    g_autofree char *text = build_mail(m, now, deal3, cfg, sales);
    message_limits lim;
    ingest_message_limits(cfg, &lim);
    crm_message *msg = NULL;
    r = message_parse_bytes(text, strlen(text), &lim, &msg);
    if (r) {
        *error_r = g_strdup_printf("demo message <%s>: %s", m->message_id,
                                   crm_strerror(r));
        return r;
    }
    ingest_envelope env = {
        .source = "cli",
        .envelope_from = m->outbound ? m->login : NULL,
        .auth_authen = m->outbound ? m->login : NULL,
        .direction = m->outbound ? INGEST_DIR_OUT : INGEST_DIR_IN,
    };
    ingest_plan *plan = ingest_plan_new(cfg, &env, msg);
    if (plan->verdict == INGEST_LOG) {
        ingest_result res = {0};
        r = ingest_store(db, 0, plan, msg, &res, error_r);
        ingest_result_clear(&res);
        *stored_r = r == CRM_OK;
    }
    ingest_plan_free(&plan);
    message_free(&msg);
    return r;
}

crm_result seed_demo(const crm_config *cfg, db_conn *db,
                     seed_demo_result *res_r, char **error_r)
{
    memset(res_r, 0, sizeof(*res_r));
    json_t *j = NULL;
    crm_result r = records_query_json(
        db, "SELECT to_json(count(*)) FROM deals WHERE ticket = 'DEMO0001'", 0,
        NULL, &j, error_r);
    if (r)
        return r;
    bool had = json_integer_value(j) > 0;
    json_decref(j);
    if (!had) {
        r = db_exec_script(db, demo_sql, error_r);
        if (!r)
            r = db_exec(db, 0,
                        SEED_HISTORY_SQL("SELECT id FROM deals WHERE ticket "
                                         "LIKE 'DEMO%'"),
                        0, NULL, error_r);
        if (!r)
            r = db_exec(db, 0, "COMMIT", 0, NULL, error_r);
        if (r) {
            char *e2 = NULL;
            db_exec_script(db, "ROLLBACK", &e2);
            g_free(e2);
            return r;
        }
        res_r->records_added = true;
    }
    /* Passwords for the demo users that have none. */
    json_t *users = NULL;
    r = records_query_json(
        db,
        "SELECT coalesce(json_agg(email_norm), '[]') FROM users WHERE "
        "email_norm IN ('boss@example.com', 'demo@example.com', "
        "'sam@example.com', 'olive@example.com') AND password_hash IS NULL",
        0, NULL, &users, error_r);
    if (r)
        return r;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u)
    {
        r = auth_set_password(db, json_string_value(u), SEED_DEMO_PASSWORD,
                              error_r);
        if (r)
            break;
        res_r->users_added++;
    }
    json_decref(users);
    if (r)
        return r;

    json_t *deal3 = NULL;
    r = records_query_json(
        db, "SELECT to_json(id) FROM deals WHERE ticket = 'DEMO0003'", 0, NULL,
        &deal3, error_r);
    if (r)
        return r;
    gint64 d3 = deal3 ? json_integer_value(deal3) : 0;
    json_decref(deal3);
    /* The first sales inbox of the configuration, if any. */
    const char *sales = "sales@example.com";
    if (cfg->sales_inboxes && g_hash_table_size(cfg->sales_inboxes) > 0) {
        GHashTableIter it;
        gpointer key;
        g_hash_table_iter_init(&it, cfg->sales_inboxes);
        if (g_hash_table_iter_next(&it, &key, NULL))
            sales = key;
    }
    GDateTime *now = g_date_time_new_now_utc();
    for (gsize k = 0; k < G_N_ELEMENTS(demo_mails); k++) {
        bool stored = false;
        r = capture_one(cfg, db, &demo_mails[k], now, d3, sales, &stored,
                        error_r);
        if (r)
            break;
        if (stored)
            res_r->captured++;
        else
            res_r->present++;
    }
    g_date_time_unref(now);
    return r;
}
