/*
 * seed.c - the large dataset behind `crmgate seed --contacts N --deals N
 * --messages N` (see seed.h), for benchmarks and for trying the web view
 * at scale.
 *
 * Everything is set-based SQL: INSERT ... SELECT FROM generate_series,
 * with data-modifying CTEs so one statement writes a row and what hangs
 * off it (a company and its domain; a message, its participants and its
 * links). Row ids come from the tables' own sequences (nextval), so the
 * seed can run while mail is being captured. Pseudo-random choices are a
 * multiplicative hash of the row number (SEED_H), so a dataset of a given
 * size always has the same shape.
 *
 * Transactions: one for the records (staff, companies, contacts, leads,
 * requests, deals with stage history, payments, projects, tasks), then one
 * per SEED_MESSAGE_CHUNK messages. Temporary tables (ON COMMIT DROP) map
 * row numbers to ids inside a transaction. Mail is written as capture
 * would have stored it: threads of 1 to 6 messages alternating in and
 * out, thread_id the id of the thread's first message, In-Reply-To and
 * References, a staff member (message_participants.user_id) on every
 * message, links to the contact, its company and its newest open deal;
 * one thread in ten comes from an unknown sender and stays unresolved.
 *
 * Limits: the bounds of seed.h, checked by seed_bulk_check().
 */
#include "crmgate/seed.h"

#include <jansson.h>
#include <string.h>

#include "crmgate/records.h"
#include "seed_int.h"

/* A pseudo-random 32-bit value of the SQL expression X. */
#define SEED_H(X) "(((" X ")::bigint * 2654435761) % 4294967296)"

#define FIRST_NAMES                                                            \
    "ARRAY['Anna','Ben','Clara','David','Elena','Felix','Greta','Hugo',"       \
    "'Iris','Jakob','Karin','Leo','Mia','Noah','Olga','Paul','Rosa','Simon',"  \
    "'Tara','Umar','Vera','Omar','Yara','Zoe']"
#define LAST_NAMES                                                             \
    "ARRAY['Adams','Becker','Costa','Dubois','Evans','Fischer','Garcia',"      \
    "'Hansen','Ivanova','Jensen','Kowalski','Larsen','Moreau','Nowak',"        \
    "'Olsen','Petrov','Quinn','Rossi','Schmidt','Tanaka','Ueda','Varga',"      \
    "'Weber','Young']"
#define CO_FIRST                                                               \
    "ARRAY['North','Blue','Silver','Bright','Green','Iron','Summit','Harbor'," \
    "'Maple','Nova','Apex','Cedar','Delta','Echo','Falcon','Granite']"
#define CO_SECOND                                                              \
    "ARRAY['Traders','Logistics','Labs','Foods','Systems','Health','Energy',"  \
    "'Media','Retail','Capital','Robotics','Textiles']"
#define CITIES                                                                 \
    "ARRAY['Berlin','Hamburg','Vienna','Zurich','Paris','Lyon','Madrid',"      \
    "'Milan','Warsaw','Prague','London','Dublin','Austin','Denver',"           \
    "'Toronto','Chicago']"
#define TITLES                                                                 \
    "ARRAY['CEO','CTO','Buyer','Head of Sales','Office Manager',"              \
    "'Engineer','Operations Director','Purchasing Manager']"
#define SUBJECTS                                                               \
    "ARRAY['Quote for next quarter','Delivery schedule','Invoice question',"   \
    "'Contract renewal','Product demo','Price list request',"                  \
    "'Support follow-up','Meeting next week','Volume discount',"               \
    "'Shipping delay','Onboarding plan','Technical questions']"
#define PRODUCTS                                                               \
    "ARRAY['Fleet tracking','Support plan','Licences','Hardware refresh',"     \
    "'Consulting','Training','Integration','Cloud hosting']"
#define SENTENCES                                                              \
    "ARRAY['Could you send us the updated prices?',"                           \
    "'The delivery arrived on time, thank you.',"                              \
    "'We would like to discuss the contract terms next week.',"                \
    "'Please find the details of our requirements below.',"                    \
    "'Our team has a few technical questions about the setup.',"               \
    "'Can we move the meeting to Thursday afternoon?',"                        \
    "'The invoice lists the wrong billing address.',"                          \
    "'We are comparing two offers and will decide this month.',"               \
    "'Thanks for the demo, everyone was impressed.',"                          \
    "'Is a discount possible for a two-year commitment?']"

/* --- the records transaction ---------------------------------------------
 */

static const char sql_temp[] =
    "CREATE TEMP TABLE seed_mgr (k int PRIMARY KEY, id bigint) ON COMMIT DROP;"
    "CREATE TEMP TABLE seed_co (k int PRIMARY KEY, id bigint, domain text, "
    "owner_id bigint) ON COMMIT DROP;"
    "CREATE TEMP TABLE seed_ct (i int PRIMARY KEY, id bigint, company_id "
    "bigint, owner_id bigint) ON COMMIT DROP;"
    "CREATE TEMP TABLE seed_deal (j int PRIMARY KEY, id bigint) ON COMMIT "
    "DROP;"
    "CREATE TEMP TABLE seed_rq (id bigint PRIMARY KEY, pending boolean, "
    "created_at timestamptz) ON COMMIT DROP;";

/* $1 managers */
static const char sql_staff[] =
    "WITH s(e, n, r) AS (SELECT 'bench-manager-' || g || '@example.com', "
    "'Bench Manager ' || g, 'manager' FROM generate_series(1, $1::int) g "
    "UNION ALL SELECT 'bench-chief@example.com', 'Bench Chief', 'chief' "
    "UNION ALL SELECT 'bench-operator@example.com', 'Bench Operator', "
    "'operator'), "
    "u AS (INSERT INTO users (email, email_norm, name, role) "
    "SELECT e, e, n, r FROM s ON CONFLICT (email_norm) DO NOTHING) "
    "INSERT INTO seed_mgr (k, id) SELECT g - 1, u.id "
    "FROM generate_series(1, $1::int) g JOIN users u "
    "ON u.email_norm = 'bench-manager-' || g || '@example.com'";

/* Managers created by an earlier transaction are visible; new ones are
   not (the CTE's insert is not seen by its own statement): a second pass
   adds them. */
static const char sql_staff2[] =
    "INSERT INTO seed_mgr (k, id) SELECT g - 1, u.id "
    "FROM generate_series(1, $1::int) g JOIN users u "
    "ON u.email_norm = 'bench-manager-' || g || '@example.com' "
    "ON CONFLICT (k) DO NOTHING";

/* $1 tag, $2 companies */
static const char sql_companies[] =
    "WITH m AS (SELECT count(*)::int AS n FROM seed_mgr), "
    "ls AS (SELECT array_agg(id ORDER BY id) AS a FROM lead_sources), "
    "src AS (SELECT g AS k, "
    "nextval(pg_get_serial_sequence('companies', 'id')) AS id, "
    "'co' || g || '-' || $1 || '.test' AS domain, "
    "mg.id AS owner, " SEED_H(
        "g + 1") " AS h "
                 "FROM generate_series(0, $2::int - 1) g CROSS JOIN m "
                 "JOIN seed_mgr mg ON mg.k = g % m.n), "
                 "ins AS (INSERT INTO companies (id, name, website, city, "
                 "country, "
                 "owner_id, lead_source_id, created_at, updated_at) "
                 "SELECT id, (" CO_FIRST ")[1 + h % 16] || ' ' || (" CO_SECOND
                 ")[1 + (h / 16) % 12] || ' ' || k, 'https://' || domain, "
                 "(" CITIES ")[1 + (h / 192) % 16], "
                 "(ARRAY['DE','AT','CH','FR','ES','IT','PL',"
                 "'CZ','GB','IE','US','US','US','CA','US','US'])[1 + (h / 192) "
                 "% 16], "
                 "owner, ls.a[1 + (h / 3072) % cardinality(ls.a)], "
                 "now() - (400 + h % 900) * interval '1 day', "
                 "now() - (h % 400) * interval '1 day' FROM src CROSS JOIN "
                 "ls), "
                 "dom AS (INSERT INTO company_domains (domain, company_id) "
                 "SELECT domain, id FROM src) "
                 "INSERT INTO seed_co (k, id, domain, owner_id) "
                 "SELECT k, id, domain, owner FROM src";

/* $1 tag, $2 contacts */
static const char sql_contacts[] =
    "WITH n AS (SELECT count(*)::int AS c FROM seed_co), "
    "ls AS (SELECT array_agg(id ORDER BY id) AS a FROM lead_sources), "
    "src AS (SELECT g AS i, "
    "nextval(pg_get_serial_sequence('contacts', 'id')) AS id, h, "
    "co.id AS company_id, co.owner_id, co.domain, h % 10 = 0 AS free, "
    "(" FIRST_NAMES ")[1 + h % 24] AS fn, (" LAST_NAMES
    ")[1 + (h / 24) % 24] AS ln "
    "FROM (SELECT g, " SEED_H(
        "g + 7") " AS h "
                 "FROM generate_series(0, $2::int - 1) g) s CROSS JOIN n "
                 "JOIN seed_co co ON co.k = s.g % n.c), "
                 "e AS (SELECT src.*, lower(fn) || '.' || lower(ln) || '.' || "
                 "i || "
                 "CASE WHEN free THEN '.' || $1 || '@gmail.com' ELSE '@' || "
                 "domain END "
                 "AS email, '+4930' || lpad(i::text, 9, '0') AS phone FROM "
                 "src), "
                 "ins AS (INSERT INTO contacts (id, company_id, first_name, "
                 "last_name, "
                 "title, email, email_norm, phone, phone_e164, phone_last9, "
                 "owner_id, "
                 "lead_source_id, created_at, updated_at) "
                 "SELECT id, CASE WHEN free THEN NULL ELSE company_id END, fn, "
                 "ln, "
                 "(" TITLES ")[1 + (h / 576) % 8], email, email, phone, phone, "
                 "right(phone, 9), owner_id, ls.a[1 + (h / 4608) % "
                 "cardinality(ls.a)], "
                 "now() - (30 + h % 700) * interval '1 day', "
                 "now() - (h % 30) * interval '1 day' FROM e CROSS JOIN ls) "
                 "INSERT INTO seed_ct (i, id, company_id, owner_id) "
                 "SELECT i, id, CASE WHEN free THEN NULL ELSE company_id END, "
                 "owner_id "
                 "FROM src";

/* $1 tag, $2 leads */
static const char sql_leads[] =
    "WITH m AS (SELECT count(*)::int AS n FROM seed_mgr), "
    "ls AS (SELECT array_agg(id ORDER BY id) AS a FROM lead_sources), "
    "s AS (SELECT g, " SEED_H(
        "g + 11") " AS h "
                  "FROM generate_series(0, $2::int - 1) g), "
                  "x AS (SELECT s.*, (" FIRST_NAMES
                  ")[1 + h % 24] AS fn, (" LAST_NAMES
                  ")[1 + (h / 24) % 24] AS ln, 'lead' || g || '-' || $1 || "
                  "'@prospect' || "
                  "(h % 500) || '.example.net' AS email FROM s) "
                  "INSERT INTO leads (first_name, last_name, email, "
                  "email_norm, phone, "
                  "phone_e164, phone_last9, company_name, description, "
                  "owner_id, "
                  "lead_source_id, disqualified, created_at, updated_at) "
                  "SELECT fn, ln, email, email, '+4940' || lpad(g::text, 9, "
                  "'0'), "
                  "'+4940' || lpad(g::text, 9, '0'), right(lpad(g::text, 9, "
                  "'0'), 9), "
                  "(" CO_FIRST ")[1 + (h / 7) % 16] || ' ' || (" CO_SECOND
                  ")[1 + (h / 5) % 12], 'Asked about ' || (" PRODUCTS
                  ")[1 + (h / 3) % 8], mg.id, ls.a[1 + (h / 13) % "
                  "cardinality(ls.a)], "
                  "h % 17 = 0, now() - (h % 400) * interval '1 day', "
                  "now() - (h % 30) * interval '1 day' "
                  "FROM x CROSS JOIN m CROSS JOIN ls JOIN seed_mgr mg ON mg.k "
                  "= x.g % m.n";

/* $1 requests: each gets its "answer" task from the trigger of sql/0008;
   sql_request_tasks then gives those tasks the request's date and, for
   answered requests, the done stage. */
static const char sql_requests[] =
    "WITH n AS (SELECT count(*)::int AS c FROM seed_ct), "
    "ls AS (SELECT array_agg(id ORDER BY id) AS a FROM lead_sources), "
    "s AS (SELECT g, " SEED_H(
        "g + 17") " AS h "
                  "FROM generate_series(0, $1::int - 1) g), "
                  "r AS (INSERT INTO requests (subject, description, "
                  "first_name, "
                  "last_name, email, email_norm, phone, lead_source_id, "
                  "owner_id, "
                  "contact_id, company_id, pending, created_at) "
                  "SELECT (" SUBJECTS ")[1 + h % 12], (" SENTENCES
                  ")[1 + (h / 12) % 10], "
                  "c.first_name, c.last_name, c.email, c.email_norm, c.phone, "
                  "ls.a[1 + (h / 7) % cardinality(ls.a)], c.owner_id, c.id, "
                  "c.company_id, "
                  "h % 4 = 0, now() - (h % 365) * interval '1 day' - (h % "
                  "1440) * "
                  "interval '1 minute' "
                  "FROM s CROSS JOIN n CROSS JOIN ls JOIN seed_ct sc ON sc.i = "
                  "(s.h / 5) % "
                  "n.c JOIN contacts c ON c.id = sc.id RETURNING id, pending, "
                  "created_at) "
                  "INSERT INTO seed_rq SELECT id, pending, created_at FROM r";

static const char sql_request_tasks[] =
    "UPDATE tasks t SET due_date = (r.created_at + interval '1 day')::date, "
    "created_at = r.created_at, stage = CASE WHEN r.pending THEN t.stage "
    "ELSE 'done' END FROM seed_rq r WHERE t.record_type = 'request' "
    "AND t.record_id = r.id";

/* $1 deals */
static const char sql_deals[] =
    "WITH n AS (SELECT count(*)::int AS c FROM seed_ct), "
    "sr AS (SELECT array_agg(id ORDER BY position, id) AS a FROM stages), "
    "cr AS (SELECT (SELECT id FROM closing_reasons WHERE is_success "
    "ORDER BY id LIMIT 1) AS won, (SELECT array_agg(id ORDER BY id) FROM "
    "closing_reasons WHERE NOT is_success) AS lost), "
    "s AS (SELECT g, " SEED_H(
        "g + 13") " AS h, "
                  "nextval(pg_get_serial_sequence('deals', 'id')) AS id "
                  "FROM generate_series(0, $1::int - 1) g), "
                  "x AS (SELECT s.*, sc.id AS contact_id, sc.company_id, "
                  "sc.owner_id, "
                  "CASE WHEN h % 100 < 60 THEN 'open' WHEN h % 100 < 85 THEN "
                  "'won' "
                  "ELSE 'lost' END AS status, "
                  "now() - (10 + h % 700) * interval '1 day' AS created, "
                  "cardinality(sr.a) AS ns, sr.a, cr.won, cr.lost "
                  "FROM s CROSS JOIN n CROSS JOIN sr CROSS JOIN cr "
                  "JOIN seed_ct sc ON sc.i = (s.h / 3) % n.c), "
                  "y AS (SELECT x.*, CASE WHEN status = 'won' OR ns = 1 THEN "
                  "ns "
                  "ELSE 1 + (h / 7) % (ns - 1) END AS pos, "
                  "CASE WHEN status = 'open' THEN NULL ELSE least(created + "
                  "(5 + (h / 11) % 120) * interval '1 day', now() - interval "
                  "'1 hour') "
                  "END AS closed FROM x), "
                  "ins AS (INSERT INTO deals (id, name, stage_id, status, "
                  "amount, "
                  "currency, owner_id, contact_id, company_id, "
                  "closing_reason_id, "
                  "next_step, next_step_date, created_at, closed_at) "
                  "SELECT id, (" PRODUCTS
                  ")[1 + (h / 5) % 8] || ' #' || g, a[pos], "
                  "status, 1000 + (h / 17) % 200 * 500, CASE WHEN h % 4 = 0 "
                  "THEN 'EUR' "
                  "ELSE 'USD' END, owner_id, contact_id, company_id, "
                  "CASE status WHEN 'won' THEN won WHEN 'lost' THEN "
                  "lost[1 + (h / 19) % greatest(cardinality(lost), 1)] END, "
                  "CASE WHEN status = 'open' THEN (ARRAY['Send the "
                  "offer','Call back',"
                  "'Demo','Negotiate terms','Wait for the budget'])[1 + (h / "
                  "23) % 5] END, "
                  "CASE WHEN status = 'open' THEN current_date + ((h / 29) % "
                  "40)::int - "
                  "10 END, created, closed FROM y) "
                  "INSERT INTO seed_deal (j, id) SELECT g, id FROM s";

/* $1 run tag: payments of the run's deals, all four statuses: won deals
   paid in one or two instalments (received, or guaranteed when due after
   today), open deals past the proposal expected (high or low), some with a
   received advance. */
static const char sql_payments[] =
    "WITH sr AS (SELECT id, row_number() OVER (ORDER BY position, id) AS r "
    "FROM stages), "
    "d AS (SELECT d.*, " SEED_H(
        "d.id") " AS h, sr.r AS pos FROM deals d "
                "JOIN seed_deal s ON s.id = d.id JOIN sr ON sr.id = "
                "d.stage_id) "
                "INSERT INTO payments (deal_id, amount, currency, status, "
                "payment_date, "
                "contract, created_at) "
                "SELECT d.id, round(d.amount / k.n, 2), d.currency, CASE WHEN "
                "d.closed_at + k.q * interval '30 days' <= now() THEN "
                "'received' "
                "ELSE 'guaranteed' END, (d.closed_at + k.q * interval '30 "
                "days')::date, "
                "'C-' || d.ticket, d.closed_at FROM d "
                "CROSS JOIN LATERAL (SELECT q, 1 + d.h % 2 AS n FROM "
                "generate_series(0, "
                "(d.h % 2)::int) q) k WHERE d.status = 'won' "
                "UNION ALL SELECT d.id, round(d.amount * 0.7, 2), d.currency, "
                "CASE WHEN d.h % 3 = 0 THEN 'high' ELSE 'low' END, "
                "current_date + (5 + d.h % 120)::int, '', d.created_at "
                "FROM d WHERE d.status = 'open' AND d.pos >= 3 "
                "UNION ALL SELECT d.id, round(d.amount * 0.3, 2), d.currency, "
                "'received', (d.created_at + interval '3 days')::date, 'ADV-' "
                "|| "
                "d.ticket, d.created_at FROM d WHERE d.status = 'open' AND "
                "d.pos >= 3 "
                "AND d.h % 5 = 0";

/* $1 tag: a project per manager, a task for every second deal (open
   deals' tasks open, a third of them overdue; closed deals' done or
   canceled), two subtasks under every tenth open one (one done), a
   colleague responsible for one in five, a comment on one in eight. */
static const char sql_tasks[] =
    "WITH p AS (INSERT INTO projects (name, description, owner_id, "
    "created_at) SELECT 'Pipeline ' || $1 || ' ' || (k + 1), "
    "'Open deals of the quarter', id, now() - interval '90 days' "
    "FROM seed_mgr RETURNING id, owner_id), "
    "d AS (SELECT d.id, d.name, d.owner_id, d.status, d.created_at, " SEED_H(
        "d.id + 3") " AS h FROM deals d JOIN seed_deal s ON s.id = d.id "
                    "WHERE s.j % 2 = 0) "
                    "INSERT INTO tasks (title, description, owner_id, "
                    "project_id, stage, "
                    "priority, due_date, record_type, record_id, created_at) "
                    "SELECT left('Follow up: ' || d.name, 500), 'Keep the deal "
                    "moving.', "
                    "d.owner_id, CASE WHEN d.h % 4 = 0 THEN (SELECT p.id FROM "
                    "p WHERE "
                    "p.owner_id = d.owner_id LIMIT 1) END, "
                    "CASE WHEN d.status = 'open' THEN "
                    "(ARRAY['pending','pending',"
                    "'in_progress','postponed'])[1 + (d.h / 7) % 4] "
                    "WHEN d.h % 5 = 0 THEN 'canceled' ELSE 'done' END, 1 + "
                    "(d.h / 3) % 3, "
                    "CASE WHEN d.status = 'open' THEN current_date + ((d.h / "
                    "11) % 45)::int "
                    "- 15 ELSE (d.created_at + interval '14 days')::date END, "
                    "'deal', d.id, "
                    "greatest(d.created_at, now() - interval '60 days') FROM d";

static const char sql_subtasks[] =
    "WITH par AS (SELECT t.id, t.owner_id, t.due_date, t.project_id, " SEED_H(
        "t.id") " AS h FROM tasks t JOIN seed_deal s ON t.record_type = "
                "'deal' AND t.record_id = s.id WHERE t.parent_id IS NULL AND "
                "t.stage IN ('pending', 'in_progress') AND s.j % 20 = 0) "
                "INSERT INTO tasks (title, owner_id, parent_id, project_id, "
                "stage, "
                "priority, due_date) "
                "SELECT x.title, par.owner_id, par.id, par.project_id, "
                "x.stage, 2, "
                "par.due_date - x.days FROM par CROSS JOIN (VALUES "
                "('Prepare the numbers', 'pending', 2), "
                "('Check with legal', 'done', 5)) x(title, stage, days) "
                "ORDER BY x.stage DESC";

static const char sql_task_people[] =
    "WITH t AS (SELECT t.id, t.owner_id, " SEED_H(
        "t.id") " AS h "
                "FROM tasks t JOIN seed_deal s ON t.record_type = 'deal' AND "
                "t.record_id = s.id WHERE t.parent_id IS NULL), "
                "m AS (SELECT count(*)::int AS n FROM seed_mgr), "
                "c AS (INSERT INTO task_comments (task_id, author_id, body, "
                "created_at) "
                "SELECT t.id, t.owner_id, 'Called the customer; they need "
                "another "
                "week.', now() - (t.h % 20) * interval '1 day' FROM t "
                "WHERE t.h % 8 = 0) "
                "INSERT INTO task_users (task_id, user_id, kind) "
                "SELECT t.id, mg.id, 'responsible' FROM t CROSS JOIN m "
                "JOIN seed_mgr mg ON mg.k = (t.h / 5) % m.n "
                "WHERE t.h % 5 = 0 AND mg.id <> t.owner_id";

/* --- mail ----------------------------------------------------------------
 */

/* $1 tag, $2 first contact id, $3 last contact id: the run's contacts
   with their owner and newest open deal, numbered from 0. */
static const char sql_mail_contacts[] =
    "CREATE TEMP TABLE seed_mc (i int PRIMARY KEY, cid bigint, email text, "
    "name text, "
    "company_id bigint, owner_id bigint, owner_email text, owner_name text, "
    "deal_id bigint) ON COMMIT DROP";
static const char sql_mail_contacts_fill[] =
    "INSERT INTO seed_mc SELECT row_number() OVER (ORDER BY c.id) - 1, "
    "c.id, c.email_norm, c.first_name || ' ' || c.last_name, c.company_id, "
    "c.owner_id, u.email_norm, u.name, (SELECT d.id FROM deals d WHERE "
    "d.contact_id = c.id AND d.status = 'open' ORDER BY d.created_at DESC, "
    "d.id DESC LIMIT 1) FROM contacts c JOIN users u ON u.id = c.owner_id "
    "WHERE c.id BETWEEN $2::bigint AND $3::bigint "
    "AND strpos(c.email_norm, $1) > 0";

#define MSGID(T, J)                                                            \
    "('seed-' || $1 || '-' || " T " || '-' || " J " || '@mx.example.net')"

/* $1 tag, $2 first thread number, $3 messages: one chunk of mail (see
   the head of the file); returns the last thread number used. */
static const char sql_mail[] =
    "WITH n AS (SELECT count(*)::bigint AS c FROM seed_mc), "
    "base AS (SELECT t, j, " SEED_H(
        "t") " AS h "
             "FROM generate_series($2::bigint, $2::bigint + $3::bigint) t "
             "CROSS JOIN LATERAL generate_series(0, (1 + " SEED_H(
                 "t") " % 6)::int - 1) "
                      "j LIMIT $3::bigint), "
                      "ids AS (SELECT b.*, "
                      "nextval(pg_get_serial_sequence('messages', 'id')) "
                      "AS id FROM base b), "
                      "src AS (SELECT x.t, x.j, x.id, x.h, "
                      "first_value(x.id) OVER (PARTITION BY x.t ORDER BY x.j) "
                      "AS thread_id, "
                      "x.h % 10 = 0 AS unresolved, x.j % 2 = 0 AS inbound, "
                      "mc.*, "
                      "CASE WHEN x.h % 10 = 0 THEN 'sender' || x.t || "
                      "'@unknown' || "
                      "(x.h % 997) || '.example.net' ELSE mc.email END AS ext, "
                      "CASE WHEN x.h % 10 = 0 THEN 'Unknown Sender' ELSE "
                      "mc.name END AS "
                      "ext_name, "
                      "now() - (7 + (x.h / 13) % 358) * interval '1 day' - "
                      "(x.h % 1440) * "
                      "interval '1 minute' + x.j * (2 + (x.h / 7) % 28) * "
                      "interval '1 hour' "
                      "AS sent, " MSGID(
                          "x.t",
                          "x.j") " AS mid, "
                                 "CASE WHEN x.j > 0 THEN " MSGID(
                                     "x.t",
                                     "(x.j - 1)") " END AS irt, "
                                                  "CASE WHEN x.j > 0 THEN 'Re: "
                                                  "' ELSE '' END || (" SUBJECTS
                                                  ")[1 + x.h % 12] || ' #' || "
                                                  "x.t AS subject "
                                                  "FROM ids x CROSS JOIN n "
                                                  "JOIN seed_mc mc ON mc.i = "
                                                  "(x.h / 17) % n.c), "
                                                  "body AS (SELECT src.*, "
                                                  "'Hello ' || CASE WHEN "
                                                  "inbound THEN owner_name "
                                                  "ELSE ext_name END || "
                                                  "E',\\n\\n' || (" SENTENCES
                                                  ")[1 + (h + j) % 10] || ' ' "
                                                  "|| (" SENTENCES
                                                  ")[1 + (h / 10 + j * 3) % "
                                                  "10] "
                                                  "|| E'\\n\\nBest "
                                                  "regards,\\n' || CASE WHEN "
                                                  "inbound THEN ext_name ELSE "
                                                  "owner_name END AS text FROM "
                                                  "src), "
                                                  "m AS (INSERT INTO messages "
                                                  "(id, message_id, digest, "
                                                  "direction, subject, "
                                                  "sent_at, from_addr, "
                                                  "text_body, snippet, size, "
                                                  "in_reply_to, refs, "
                                                  "thread_id, captured_at) "
                                                  "SELECT id, mid, md5(mid) || "
                                                  "md5(mid || '#'), CASE WHEN "
                                                  "inbound THEN "
                                                  "'in' ELSE 'out' END, "
                                                  "subject, sent, CASE WHEN "
                                                  "inbound THEN ext ELSE "
                                                  "owner_email END, text, "
                                                  "left(replace(text, E'\\n', "
                                                  "' '), 200), "
                                                  "length(text) + 900, irt, "
                                                  "CASE WHEN j = 0 THEN "
                                                  "'{}'::text[] ELSE "
                                                  "ARRAY(SELECT " MSGID(
                                                      "t",
                                                      "q") " FROM "
                                                           "generate_series(0, "
                                                           "j - 1) q) END, "
                                                           "thread_id, sent + "
                                                           "interval '1 "
                                                           "minute' FROM "
                                                           "body), "
                                                           "p AS (INSERT INTO "
                                                           "message_"
                                                           "participants "
                                                           "(message_id, role, "
                                                           "address_norm, "
                                                           "address, name, "
                                                           "user_id) "
                                                           "SELECT id, 'from', "
                                                           "CASE WHEN inbound "
                                                           "THEN ext ELSE "
                                                           "owner_email END, "
                                                           "CASE WHEN inbound "
                                                           "THEN ext ELSE "
                                                           "owner_email END, "
                                                           "CASE WHEN inbound "
                                                           "THEN ext_name ELSE "
                                                           "owner_name END, "
                                                           "CASE WHEN inbound "
                                                           "THEN NULL ELSE "
                                                           "owner_id END FROM "
                                                           "src "
                                                           "UNION ALL SELECT "
                                                           "id, 'to', CASE "
                                                           "WHEN inbound THEN "
                                                           "owner_email ELSE "
                                                           "ext "
                                                           "END, CASE WHEN "
                                                           "inbound THEN "
                                                           "owner_email ELSE "
                                                           "ext END, CASE WHEN "
                                                           "inbound "
                                                           "THEN owner_name "
                                                           "ELSE ext_name END, "
                                                           "CASE WHEN inbound "
                                                           "THEN owner_id ELSE "
                                                           "NULL END FROM "
                                                           "src), "
                                                           "l AS (INSERT INTO "
                                                           "message_links "
                                                           "(message_id, "
                                                           "record_type, "
                                                           "record_id, "
                                                           "reason, "
                                                           "created_at) "
                                                           "SELECT id, "
                                                           "'contact', cid, "
                                                           "CASE WHEN j = 0 "
                                                           "THEN 'participant' "
                                                           "ELSE 'thread' END, "
                                                           "sent FROM src "
                                                           "WHERE NOT "
                                                           "unresolved "
                                                           "UNION ALL SELECT "
                                                           "id, 'company', "
                                                           "company_id, CASE "
                                                           "WHEN j = 0 THEN "
                                                           "'participant' ELSE "
                                                           "'thread' END, sent "
                                                           "FROM src WHERE NOT "
                                                           "unresolved "
                                                           "AND company_id IS "
                                                           "NOT NULL "
                                                           "UNION ALL SELECT "
                                                           "id, 'deal', "
                                                           "deal_id, CASE WHEN "
                                                           "j = 0 THEN "
                                                           "'open-deal' "
                                                           "ELSE 'thread' END, "
                                                           "sent FROM src "
                                                           "WHERE NOT "
                                                           "unresolved AND "
                                                           "deal_id IS "
                                                           "NOT NULL) "
                                                           "SELECT "
                                                           "to_json(max(t)) "
                                                           "FROM src";

/* Inside each transaction: no JIT (compiling these statements costs more
   than running them) and room to sort a chunk in memory. */
static const char sql_local[] =
    "SET LOCAL jit = off; SET LOCAL work_mem = '128MB'";

/* --- the run ---------------------------------------------------------------
 */

typedef struct {
    db_conn *db;
    seed_progress_fn progress;
    void *data;
    gint64 started;
} run_ctx;

static void step_done(run_ctx *c, const char *stage, guint64 done,
                      guint64 total)
{
    if (c->progress)
        c->progress(stage, done, total,
                    (double)(g_get_monotonic_time() - c->started) / 1e6,
                    c->data);
}

/* Runs sql with the parameters; *count_r (may be NULL) gets the rows it
   changed. */
static crm_result run_sql(run_ctx *c, const char *sql, int n,
                          const char *const *v, guint64 *count_r,
                          char **error_r)
{
    PGresult *res = NULL;
    crm_result r = db_query(c->db, 0, sql, n, v, NULL, NULL, &res, error_r);
    if (r)
        return r;
    if (count_r) {
        const char *t = PQcmdTuples(res);
        *count_r = t && *t ? g_ascii_strtoull(t, NULL, 10) : 0;
    }
    PQclear(res);
    return CRM_OK;
}

static void rollback(run_ctx *c)
{
    char *err = NULL;
    db_exec(c->db, 0, "ROLLBACK", 0, NULL, &err);
    g_free(err);
}

crm_result seed_bulk_check(const seed_bulk_opts *o, char **error_r)
{
    if (o->contacts > SEED_MAX_CONTACTS || o->deals > SEED_MAX_DEALS ||
        o->messages > SEED_MAX_MESSAGES || o->managers < 1 ||
        o->managers > SEED_MAX_MANAGERS) {
        *error_r = g_strdup_printf(
            "out of range: contacts 0-%d, deals 0-%d, messages 0-%d, "
            "managers 1-%d",
            SEED_MAX_CONTACTS, SEED_MAX_DEALS, SEED_MAX_MESSAGES,
            SEED_MAX_MANAGERS);
        return CRM_ERR_USAGE;
    }
    if (o->contacts == 0) {
        *error_r = g_strdup("--contacts must be at least 1 (deals and mail "
                            "belong to the run's contacts)");
        return CRM_ERR_USAGE;
    }
    return CRM_OK;
}

/* The records transaction; *lo_r and *hi_r get the range of the run's
   contact ids. */
static crm_result seed_records(run_ctx *c, const seed_bulk_opts *o,
                               seed_bulk_result *res, gint64 *lo_r,
                               gint64 *hi_r, char **error_r)
{
    g_autofree char *mgrs = g_strdup_printf("%u", o->managers);
    guint64 ncompanies = MAX(1, o->contacts / 5);
    guint64 nleads = o->contacts / 10, nrequests = o->contacts / 20;
    g_autofree char *s_co = g_strdup_printf("%" G_GUINT64_FORMAT, ncompanies);
    g_autofree char *s_ct = g_strdup_printf("%" G_GUINT64_FORMAT, o->contacts);
    g_autofree char *s_ld = g_strdup_printf("%" G_GUINT64_FORMAT, nleads);
    g_autofree char *s_rq = g_strdup_printf("%" G_GUINT64_FORMAT, nrequests);
    g_autofree char *s_dl = g_strdup_printf("%" G_GUINT64_FORMAT, o->deals);
    const char *v_mgr[] = {mgrs};
    const char *v_co[] = {res->tag, s_co};
    const char *v_ct[] = {res->tag, s_ct};
    const char *v_ld[] = {res->tag, s_ld};
    const char *v_rq[] = {s_rq};
    const char *v_dl[] = {s_dl};
    const char *v_tag[] = {res->tag};
    guint64 n = 0;
    crm_result r = db_exec(c->db, 0, "BEGIN", 0, NULL, error_r);
    if (!r)
        r = db_exec_script(c->db, sql_local, error_r);
    if (!r)
        r = db_exec_script(c->db, sql_temp, error_r);
    if (!r)
        r = run_sql(c, sql_staff, 1, v_mgr, NULL, error_r);
    if (!r)
        r = run_sql(c, sql_staff2, 1, v_mgr, NULL, error_r);
    if (!r)
        step_done(c, "staff", o->managers, o->managers);
    if (!r)
        r = run_sql(c, sql_companies, 2, v_co, &res->companies, error_r);
    if (!r)
        step_done(c, "companies", res->companies, ncompanies);
    if (!r)
        r = run_sql(c, sql_contacts, 2, v_ct, &res->contacts, error_r);
    if (!r)
        step_done(c, "contacts", res->contacts, o->contacts);
    if (!r)
        r = run_sql(c, sql_leads, 2, v_ld, &res->leads, error_r);
    if (!r)
        step_done(c, "leads", res->leads, nleads);
    if (!r && nrequests)
        r = run_sql(c, sql_requests, 1, v_rq, NULL, error_r);
    if (!r && nrequests)
        r = run_sql(c, sql_request_tasks, 0, NULL, &n, error_r);
    if (!r) {
        res->requests = nrequests;
        res->tasks += n;
        step_done(c, "requests", nrequests, nrequests);
    }
    if (!r && o->deals) {
        r = run_sql(c, sql_deals, 1, v_dl, &res->deals, error_r);
        if (!r)
            r = run_sql(c, SEED_HISTORY_SQL("SELECT id FROM seed_deal"), 0,
                        NULL, NULL, error_r);
        if (!r)
            step_done(c, "deals", res->deals, o->deals);
        if (!r)
            r = run_sql(c, sql_payments, 0, NULL, &res->payments, error_r);
        if (!r)
            step_done(c, "payments", res->payments, res->payments);
        if (!r)
            r = run_sql(c, sql_tasks, 1, v_tag, &n, error_r);
        if (!r) {
            res->tasks += n;
            r = run_sql(c, sql_subtasks, 0, NULL, &n, error_r);
        }
        if (!r) {
            res->tasks += n;
            r = run_sql(c, sql_task_people, 0, NULL, NULL, error_r);
        }
        if (!r)
            step_done(c, "tasks", res->tasks, res->tasks);
    }
    json_t *range = NULL;
    if (!r)
        r = records_query_json(
            c->db, "SELECT json_build_array(min(id), max(id)) FROM seed_ct", 0,
            NULL, &range, error_r);
    if (!r) {
        *lo_r = json_integer_value(json_array_get(range, 0));
        *hi_r = json_integer_value(json_array_get(range, 1));
        json_decref(range);
        r = db_exec(c->db, 0, "COMMIT", 0, NULL, error_r);
    }
    if (r)
        rollback(c);
    return r;
}

/* The mail, SEED_MESSAGE_CHUNK messages per transaction. */
static crm_result seed_mail(run_ctx *c, const seed_bulk_opts *o,
                            seed_bulk_result *res, gint64 lo, gint64 hi,
                            char **error_r)
{
    g_autofree char *s_lo = g_strdup_printf("%" G_GINT64_FORMAT, lo);
    g_autofree char *s_hi = g_strdup_printf("%" G_GINT64_FORMAT, hi);
    const char *v_mc[] = {res->tag, s_lo, s_hi};
    gint64 t0 = 0;
    crm_result r = CRM_OK;
    while (!r && res->messages < o->messages) {
        guint64 cap =
            MIN((guint64)SEED_MESSAGE_CHUNK, o->messages - res->messages);
        g_autofree char *s_t0 = g_strdup_printf("%" G_GINT64_FORMAT, t0);
        g_autofree char *s_cap = g_strdup_printf("%" G_GUINT64_FORMAT, cap);
        const char *v[] = {res->tag, s_t0, s_cap};
        json_t *last = NULL;
        r = db_exec(c->db, 0, "BEGIN", 0, NULL, error_r);
        if (!r)
            r = db_exec_script(c->db, sql_local, error_r);
        if (!r)
            r = db_exec(c->db, 0, sql_mail_contacts, 0, NULL, error_r);
        if (!r)
            r = run_sql(c, sql_mail_contacts_fill, 3, v_mc, NULL, error_r);
        if (!r)
            r = records_query_json(c->db, sql_mail, 3, v, &last, error_r);
        if (!r)
            r = db_exec(c->db, 0, "COMMIT", 0, NULL, error_r);
        if (r) {
            rollback(c);
            json_decref(last);
            break;
        }
        t0 = json_integer_value(last) + 1;
        json_decref(last);
        res->messages += cap;
        step_done(c, "messages", res->messages, o->messages);
    }
    return r;
}

crm_result seed_bulk(db_conn *db, const seed_bulk_opts *o,
                     seed_progress_fn progress, void *data,
                     seed_bulk_result *res_r, char **error_r)
{
    memset(res_r, 0, sizeof(*res_r));
    crm_result r = seed_bulk_check(o, error_r);
    if (r)
        return r;
    run_ctx c = {.db = db,
                 .progress = progress,
                 .data = data,
                 .started = g_get_monotonic_time()};
    res_r->tag = g_strdup_printf("s%06x", g_random_int() & 0xffffff);
    gint64 lo = 0, hi = 0;
    r = seed_records(&c, o, res_r, &lo, &hi, error_r);
    if (!r && o->messages)
        r = seed_mail(&c, o, res_r, lo, hi, error_r);
    if (!r)
        r = seed_finish(db, &res_r->rollups, error_r);
    if (!r)
        step_done(&c, "analyze", 1, 1);
    return r;
}

void seed_bulk_result_clear(seed_bulk_result *res)
{
    g_free(res->tag);
    res->tag = NULL;
}

crm_result seed_finish(db_conn *db, bool *called_r, char **error_r)
{
    *called_r = false;
    json_t *has = NULL;
    crm_result r = records_query_json(
        db,
        "SELECT to_json(to_regprocedure('crm_report_rollups_rebuild()') IS "
        "NOT NULL)",
        0, NULL, &has, error_r);
    if (r)
        return r;
    bool yes = json_is_true(has);
    json_decref(has);
    if (yes) {
        r = db_exec(db, 0, "SELECT crm_report_rollups_rebuild()", 0, NULL,
                    error_r);
        if (r)
            return r;
        *called_r = true;
    }
    return db_exec(db, 0, "ANALYZE", 0, NULL, error_r);
}
