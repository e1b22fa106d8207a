-- 0005_capture_trust: capture tokens trusted only on outbound mail from
-- staff, attachment contents stored by the capture functions themselves,
-- results without record ids, and re-threading of early replies.
--
-- crm_capture(doc, body, blobs) replaces crm_capture(doc, body) of 0003;
-- crm_capture_batch(docs, bodies, blobs, safe) replaces its batch form. New
-- in doc (see 0003 for the rest):
--   outbound_evidence  "auth" | "submission" | "sendmail" | "forced" | null
--                      (why the C side holds the mail outbound: {auth_authen},
--                      the submission service's {daemon_name}, Postfix's
--                      non-SMTP path, or the CLI's --direction out)
--   auth_login         the SASL login ({auth_authen}), or absent
--   token_require_login  true: tokens also need auth_login to name the user
--   attachments[].blob 1-based index of the attachment's content in blobs
--   blobs              (batch only) how many contents in the batch's blobs
--                      array belong to this document, in order
-- returns {new, new_links, tokens_ignored (null or "not-outbound",
--          "unknown-sender", "login-mismatch"), rethreaded (messages moved
--          into this one's thread), links[{type, reason, n}]}
-- and no ids: the milter's role calls these and learns nothing of the CRM.

DROP FUNCTION crm_capture_batch(jsonb, text[], boolean);
DROP FUNCTION crm_capture(jsonb, text);

-- Replies stored before their parent (see the re-threading step). Only
-- messages that name a parent yet head their own thread are in it, so
-- ordinary captures do not pay for it; fastupdate off: lookups never scan
-- a pending list.
CREATE INDEX messages_orphan_refs_idx ON messages
 USING gin ((refs || in_reply_to)) WITH (fastupdate = off)
 WHERE thread_id = id AND (in_reply_to IS NOT NULL OR refs <> '{}');

CREATE FUNCTION crm_capture(doc jsonb, body text DEFAULT NULL,
                            blobs bytea[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_text       text := coalesce(body, doc->>'text', '');
    v_id         bigint;
    v_new        boolean := false;
    v_msgid      text := coalesce(doc->>'message_id', '');
    v_digest     text := doc->>'digest';
    v_refs       text[];
    v_external   text[];
    v_thread     bigint;
    v_added      integer := 0;
    v_n          integer;
    v_ignored    text;             -- why tokens were ignored, or NULL
    v_user_login text;             -- the sender's user row: login matching
    v_user_email text;
    v_login      text := lower(btrim(doc->>'auth_login'));
    v_moved      bigint[];
    v_lead       bigint;
    v_request    bigint;
    v_source     bigint;
    v_owner      bigint;
    v_sender     text := doc->>'sender_norm';
    v_from       text := coalesce(doc->>'from_norm', doc->>'sender_norm');
    v_name       text;
BEGIN
    -- Each statement here costs a trip through the executor, so related
    -- work is folded into as few statements as possible.
    SELECT ARRAY(SELECT jsonb_array_elements_text(coalesce(doc->'references', '[]'))
                 UNION SELECT doc->>'in_reply_to' WHERE doc->>'in_reply_to' IS NOT NULL),
           ARRAY(SELECT jsonb_array_elements_text(coalesce(doc->'external', '[]'))),
           m.id, m.thread_id
      INTO v_refs, v_external, v_id, v_thread
      FROM (SELECT 1) one
      LEFT JOIN messages m ON m.message_id = v_msgid AND m.digest = v_digest;
    IF v_id IS NULL THEN
        -- The thread (the row id of its first message) is decided before
        -- the insert, so the row is written once (only re-threading, below,
        -- moves a reply that came before its parent).
        v_id := nextval(pg_get_serial_sequence('messages', 'id'));
        IF cardinality(v_refs) > 0 THEN
            SELECT m.thread_id INTO v_thread FROM messages m
             WHERE m.message_id = ANY (v_refs) AND m.message_id <> ''
             ORDER BY m.sent_at DESC NULLS LAST LIMIT 1;
        END IF;
        INSERT INTO messages (id, message_id, digest, direction, subject, sent_at,
                              from_addr, text_body, text_truncated, snippet,
                              size, in_reply_to, refs, warnings, thread_id)
        VALUES (v_id, v_msgid, v_digest, doc->>'direction',
                coalesce(doc->>'subject', ''), (doc->>'date')::timestamptz,
                v_from, v_text,
                coalesce((doc->>'text_truncated')::boolean, false),
                coalesce(doc->>'snippet', ''),
                coalesce((doc->>'size')::bigint, 0), doc->>'in_reply_to',
                ARRAY(SELECT jsonb_array_elements_text(
                      coalesce(doc->'references', '[]'))),
                coalesce(doc->'warnings', '[]'), coalesce(v_thread, v_id))
        ON CONFLICT (message_id, digest) DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 0 THEN
            -- A concurrent capture of the same message won the insert (we
            -- waited for its commit): use its row.
            SELECT id, thread_id INTO v_id, v_thread FROM messages
             WHERE message_id = v_msgid AND digest = v_digest;
        ELSE
            v_new := true;
            v_thread := coalesce(v_thread, v_id);
        END IF;
    END IF;

    -- Attachment contents: attachments[].blob is the 1-based index of the
    -- content in blobs. Stored only when the bytes hash to the claimed
    -- SHA-256 (no caller can plant content under another file's hash),
    -- once per hash (DO NOTHING: a stored content, say a logo in every
    -- signature, is neither rewritten nor locked). Before the content-less
    -- rows below, so a new content is inserted once, never inserted empty
    -- and updated; a row an earlier capture kept without content (over its
    -- size limit) gets it by the UPDATE, which locks only such rows.
    IF cardinality(blobs) > 0 THEN
        INSERT INTO attachment_blobs (sha256, size, content)
        SELECT DISTINCT ON (a.sha256) a.sha256, octet_length(blobs[a.blob]),
               blobs[a.blob]
          FROM jsonb_to_recordset(coalesce(doc->'attachments', '[]'))
               AS a(sha256 text, blob integer)
         WHERE a.blob BETWEEN 1 AND cardinality(blobs)
           AND encode(sha256(blobs[a.blob]), 'hex') = a.sha256
        ON CONFLICT (sha256) DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n < cardinality(blobs) THEN
            UPDATE attachment_blobs b SET content = blobs[a.blob]
              FROM jsonb_to_recordset(coalesce(doc->'attachments', '[]'))
                   AS a(sha256 text, blob integer)
             WHERE b.sha256 = a.sha256 AND b.content IS NULL
               AND a.blob BETWEEN 1 AND cardinality(blobs)
               AND encode(sha256(blobs[a.blob]), 'hex') = a.sha256;
        END IF;
    END IF;

    IF v_new AND jsonb_array_length(coalesce(doc->'attachments', '[]')) > 0 THEN
        INSERT INTO message_attachments (message_id, position, filename,
                                         content_type, size, sha256)
        SELECT v_id, a.ord - 1, a.e->>'filename', a.e->>'content_type',
               (a.e->>'size')::bigint, a.e->>'sha256'
          FROM jsonb_array_elements(doc->'attachments') WITH ORDINALITY AS a(e, ord);
        INSERT INTO attachment_blobs (sha256, size)
        SELECT a.sha256, a.size
          FROM jsonb_to_recordset(doc->'attachments') AS a(sha256 text, size bigint)
         WHERE a.sha256 IS NOT NULL
        ON CONFLICT (sha256) DO NOTHING;
    END IF;

    INSERT INTO message_participants (message_id, role, address_norm, address,
                                      name, user_id)
    SELECT v_id, p.role, p.norm, p.address, p.name, u.id
      FROM jsonb_to_recordset(coalesce(doc->'participants', '[]'))
           AS p(role text, address text, norm text, name text)
      LEFT JOIN users u ON u.email_norm = p.norm
    ON CONFLICT DO NOTHING;

    -- 1. Capture tokens, trusted only on mail outbound by evidence (SASL
    -- login, the submission service, sendmail, or the CLI's --direction
    -- out) whose sender is a known, active user; with token_require_login
    -- also only when the SASL login names that user: the user's address or
    -- its local part, case-insensitive. A staff address in MAIL FROM or
    -- From proves nothing by itself.
    IF jsonb_array_length(coalesce(doc->'tokens', '[]')) > 0 THEN
        IF doc->>'outbound_evidence' IS NULL THEN
            v_ignored := 'not-outbound';
        ELSE
            SELECT email_norm INTO v_user_email FROM users
             WHERE email_norm = v_sender AND active;
            v_user_login := split_part(v_user_email, '@', 1);
            IF v_user_email IS NULL THEN
                v_ignored := 'unknown-sender';
            ELSIF coalesce((doc->>'token_require_login')::boolean, false)
                  AND (v_login IS NULL OR
                       v_login NOT IN (v_user_email, v_user_login)) THEN
                v_ignored := 'login-mismatch';
            END IF;
        END IF;
        IF v_ignored IS NULL THEN
            INSERT INTO message_links (message_id, record_type, record_id, reason)
            SELECT v_id, t.type, t.id, 'capture-token'
              FROM jsonb_to_recordset(doc->'tokens') AS t(type text, id bigint)
             WHERE (t.type = 'deal' AND EXISTS (SELECT 1 FROM deals WHERE id = t.id))
                OR (t.type = 'contact' AND EXISTS (SELECT 1 FROM contacts WHERE id = t.id))
                OR (t.type = 'lead' AND EXISTS (SELECT 1 FROM leads WHERE id = t.id))
                OR (t.type = 'company' AND EXISTS (SELECT 1 FROM companies WHERE id = t.id))
                OR (t.type = 'request' AND EXISTS (SELECT 1 FROM requests WHERE id = t.id))
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_added := v_added + v_n;
        END IF;
    END IF;

    -- 2. [ticket:XXXX] in the subject.
    IF doc->>'ticket' IS NOT NULL THEN
        INSERT INTO message_links (message_id, record_type, record_id, reason)
        SELECT v_id, 'deal', id, 'ticket' FROM deals WHERE ticket = doc->>'ticket'
        UNION ALL
        SELECT v_id, 'request', id, 'ticket' FROM requests WHERE ticket = doc->>'ticket'
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_added := v_added + v_n;
    END IF;

    -- 3. Thread: inherit the links of the messages this one answers.
    IF cardinality(v_refs) > 0 THEN
        -- LATERAL ... OFFSET 0 keeps this a nested loop over the primary
        -- key of message_links: during a bulk import the table grows faster
        -- than its statistics, and a hash join would scan all of it.
        INSERT INTO message_links (message_id, record_type, record_id, reason)
        SELECT DISTINCT v_id, l.record_type, l.record_id, 'thread'
          FROM messages m
         CROSS JOIN LATERAL (SELECT record_type, record_id FROM message_links
                              WHERE message_id = m.id OFFSET 0) l
         WHERE m.message_id = ANY (v_refs) AND m.message_id <> '' AND m.id <> v_id
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_added := v_added + v_n;
    END IF;

    -- 4. Participants: external addresses to contacts and leads (exact),
    -- the companies of matched contacts; 5. companies by domain (free-mail
    -- already filtered out). One statement: the order of the UNION ALL
    -- branches keeps the stronger reason for a company.
    IF cardinality(v_external) > 0 THEN
        WITH c AS (
            SELECT id, company_id FROM contacts WHERE email_norm = ANY (v_external)
            UNION
            SELECT id, company_id FROM contacts
             WHERE secondary_email_norm = ANY (v_external))
        INSERT INTO message_links (message_id, record_type, record_id, reason)
        SELECT v_id, 'contact', c.id, 'participant' FROM c
        UNION ALL
        SELECT v_id, 'lead', l.id, 'participant' FROM leads l
         WHERE l.email_norm = ANY (v_external) AND NOT l.disqualified
        UNION ALL
        SELECT DISTINCT v_id, 'company', c.company_id, 'participant' FROM c
         WHERE c.company_id IS NOT NULL
        UNION ALL
        SELECT DISTINCT v_id, 'company', d.company_id, 'domain'
          FROM company_domains d
         WHERE d.domain = ANY (ARRAY(SELECT jsonb_array_elements_text(
                                      coalesce(doc->'domains', '[]'))))
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_added := v_added + v_n;

        -- 6. Open deals of the matched contacts, most recent first.
        IF doc->>'open_deals_limit' IS DISTINCT FROM '0' THEN
            INSERT INTO message_links (message_id, record_type, record_id, reason)
            SELECT v_id, 'deal', d.id, 'open-deal'
              FROM deals d
             WHERE d.status = 'open'
               AND d.contact_id = ANY (ARRAY(
                       SELECT record_id FROM message_links
                        WHERE message_id = v_id AND record_type = 'contact'))
             ORDER BY d.created_at DESC, d.id DESC
             LIMIT coalesce((doc->>'open_deals_limit')::integer, 3)
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_added := v_added + v_n;
        END IF;
    END IF;

    -- Sales inbox: an unknown external sender becomes a lead with a request.
    -- (Nested IFs: a condition holding a subquery always runs the executor.)
    IF jsonb_typeof(doc->'sales_inbox') = 'object'
       AND v_from IS NOT NULL AND v_from = ANY (v_external) THEN
    IF NOT EXISTS (SELECT 1 FROM message_links WHERE message_id = v_id
                   AND record_type IN ('contact', 'lead')) THEN
        PERFORM pg_advisory_xact_lock(hashtext('crmgate-lead:' || v_from));
        SELECT id INTO v_lead FROM leads WHERE email_norm = v_from
         ORDER BY id DESC LIMIT 1;
        IF v_lead IS NULL AND NOT EXISTS (SELECT 1 FROM contacts
                                           WHERE email_norm = v_from) THEN
            INSERT INTO lead_sources (name) VALUES (doc->'sales_inbox'->>'lead_source')
            ON CONFLICT (name) DO NOTHING;
            SELECT id INTO v_source FROM lead_sources
             WHERE name = doc->'sales_inbox'->>'lead_source';
            SELECT id INTO v_owner FROM users
             WHERE email_norm = doc->'sales_inbox'->>'owner';
            v_name := nullif(btrim(coalesce(doc->>'from_name', '')), '');
            INSERT INTO leads (first_name, last_name, email, email_norm, owner_id,
                               lead_source_id, description)
            VALUES (coalesce(split_part(v_name, ' ', 1), split_part(v_from, '@', 1)),
                    coalesce(nullif(btrim(substr(v_name, length(split_part(v_name, ' ', 1)) + 1)), ''), ''),
                    v_from, v_from, v_owner, v_source,
                    coalesce(doc->>'subject', ''))
            RETURNING id INTO v_lead;
            INSERT INTO requests (subject, description, first_name, last_name,
                                  email, email_norm, lead_source_id, owner_id, lead_id)
            SELECT coalesce(doc->>'subject', ''), left(v_text, 4000),
                   l.first_name, l.last_name, l.email, l.email_norm, v_source,
                   v_owner, l.id
              FROM leads l WHERE l.id = v_lead
            RETURNING id INTO v_request;
            INSERT INTO message_links (message_id, record_type, record_id, reason)
            VALUES (v_id, 'lead', v_lead, 'sales-inbox'),
                   (v_id, 'request', v_request, 'sales-inbox')
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_added := v_added + v_n;
        ELSIF v_lead IS NOT NULL THEN
            INSERT INTO message_links (message_id, record_type, record_id, reason)
            VALUES (v_id, 'lead', v_lead, 'participant')
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_added := v_added + v_n;
            v_lead := NULL;
        END IF;
    END IF;
    END IF;

    -- Re-threading: replies stored before this message (they name its
    -- Message-ID in In-Reply-To or References, and started a thread of
    -- their own because it was missing) join its thread, with everything
    -- that joined theirs, and inherit its links (reason thread), as if it
    -- had arrived first. messages_orphan_refs_idx holds only such
    -- messages, so the probe is cheap. (A reply committed concurrently
    -- with its parent can still miss it.)
    IF v_new AND v_msgid <> '' THEN
        WITH o AS (
            SELECT m.id FROM messages m
             WHERE m.thread_id = m.id
               AND (m.in_reply_to IS NOT NULL OR m.refs <> '{}')
               AND (m.refs || m.in_reply_to) @> ARRAY[v_msgid]
               AND m.id <> v_id AND m.id <> v_thread),
        u AS (
            UPDATE messages m SET thread_id = v_thread
              FROM o WHERE m.thread_id = o.id
            RETURNING m.id)
        SELECT array_agg(id) INTO v_moved FROM u;
        IF v_moved IS NOT NULL THEN
            INSERT INTO message_links (message_id, record_type, record_id, reason)
            SELECT mv.id, l.record_type, l.record_id, 'thread'
              FROM unnest(v_moved) AS mv(id)
             CROSS JOIN message_links l
             WHERE l.message_id = v_id
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;

    INSERT INTO capture_events (message_id, source, direction, queue_id,
                                envelope_from, envelope_rcpts, new_links)
    VALUES (v_id, coalesce(doc->'event'->>'source', 'cli'), doc->>'direction',
            doc->'event'->>'queue_id', doc->'event'->>'envelope_from',
            ARRAY(SELECT jsonb_array_elements_text(
                  coalesce(doc->'event'->'envelope_rcpts', '[]'))),
            v_added);

    -- No record ids (message, thread, lead, request, link targets): the
    -- caller may be the milter, which learns nothing about the CRM.
    RETURN jsonb_build_object(
        'new', v_new, 'new_links', v_added, 'tokens_ignored', v_ignored,
        'rethreaded', coalesce(cardinality(v_moved), 0),
        'links', CASE WHEN doc->'want_links' = 'false' THEN '[]'::jsonb
                 ELSE coalesce((SELECT jsonb_agg(jsonb_build_object(
                     'type', record_type, 'reason', reason, 'n', n)
                     ORDER BY first_at, record_type, reason)
                   FROM (SELECT record_type, reason, count(*) AS n,
                                min(created_at) AS first_at
                           FROM message_links WHERE message_id = v_id
                          GROUP BY record_type, reason) s), '[]') END);
END
$$;

-- Captures several documents in one transaction, one result row per
-- document in order; bodies[i] is the text of docs[i]; blobs holds the
-- attachment contents of all documents in order, docs[i]->'blobs' of them
-- belonging to docs[i] (both arrays sent as binary parameters: no text or
-- content is escaped or parsed as JSON). safe as in 0003: false = one
-- plain transaction, any error fails it whole; true = a failing document
-- rolls back alone and yields {"error": "..."}.
CREATE FUNCTION crm_capture_batch(docs jsonb, bodies text[],
                                  blobs bytea[] DEFAULT NULL,
                                  safe boolean DEFAULT true)
RETURNS SETOF jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n     integer := jsonb_array_length(docs);
    off   integer := 0;
    k     integer;
    mine  bytea[];
BEGIN
    FOR i IN 0 .. n - 1 LOOP
        k := coalesce((docs->i->>'blobs')::integer, 0);
        mine := CASE WHEN k > 0 THEN blobs[off + 1 : off + k] END;
        off := off + k;
        IF NOT safe THEN
            RETURN NEXT crm_capture(docs->i, bodies[i + 1], mine);
            CONTINUE;
        END IF;
        BEGIN
            RETURN NEXT crm_capture(docs->i, bodies[i + 1], mine);
        EXCEPTION WHEN OTHERS THEN
            RETURN NEXT jsonb_build_object('error', SQLERRM);
        END;
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION crm_capture(jsonb, text, bytea[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crm_capture_batch(jsonb, text[], bytea[], boolean)
    FROM PUBLIC;
