-- 0002_mail: captured messages, who took part, why they are linked to
-- records, attachments stored once per SHA-256, and every capture event.
--
-- One row in messages per real message however many times it is captured:
-- the key is (message_id, digest), where message_id is '' when the header is
-- missing and digest is a SHA-256 of the parts of the message that relays do
-- not change. A repeated capture adds a capture_events row and new links only.

CREATE TABLE messages (
    id             bigserial PRIMARY KEY,
    message_id     text NOT NULL,       -- without <>; '' when missing
    digest         text NOT NULL,       -- SHA-256 hex
    direction      text NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
    subject        text NOT NULL DEFAULT '',
    sent_at        timestamptz,         -- the Date header
    from_addr      text,                -- normalised first From address
    text_body      text NOT NULL DEFAULT '',
    text_truncated boolean NOT NULL DEFAULT false,
    snippet        text NOT NULL DEFAULT '',
    size           bigint NOT NULL DEFAULT 0,
    in_reply_to    text,
    refs           text[] NOT NULL DEFAULT '{}',
    thread_id      bigint NOT NULL,     -- id of the thread's first message
    warnings       jsonb NOT NULL DEFAULT '[]',
    captured_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, digest)
);
CREATE INDEX messages_message_id_idx ON messages (message_id) WHERE message_id <> '';
CREATE INDEX messages_thread_idx ON messages (thread_id);
CREATE INDEX messages_sent_at_idx ON messages (sent_at DESC);
-- Unresolved messages are those without a row in message_links.
-- Body text is compressed with lz4: several times cheaper in CPU than pglz
-- for the same ratio on mail text, and the capture path is CPU-bound.
ALTER TABLE messages ALTER COLUMN text_body SET COMPRESSION lz4;
-- Keep compressed bodies up to a page inline instead of in TOAST chunks:
-- most mail text fits, and each captured message saves the chunk inserts.
ALTER TABLE messages SET (toast_tuple_target = 8160);

CREATE TABLE message_participants (
    message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('from', 'sender', 'reply_to', 'to',
                     'cc', 'bcc', 'envelope_from', 'envelope_rcpt')),
    address_norm text NOT NULL,
    address      text NOT NULL,
    name         text,
    user_id      bigint REFERENCES users(id) ON DELETE SET NULL,
    PRIMARY KEY (message_id, role, address_norm)
);
CREATE INDEX message_participants_addr_idx ON message_participants (address_norm);

CREATE TABLE message_links (
    message_id  bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    record_type text NOT NULL
                CHECK (record_type IN ('contact', 'lead', 'company', 'deal', 'request')),
    record_id   bigint NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('capture-token', 'ticket', 'thread',
                    'participant', 'domain', 'open-deal', 'sales-inbox', 'manual')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, record_type, record_id)
);
CREATE INDEX message_links_record_idx ON message_links (record_type, record_id);

CREATE TABLE attachment_blobs (
    sha256     text PRIMARY KEY,
    size       bigint NOT NULL,
    content    bytea,            -- NULL when over the stored-size limit
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE message_attachments (
    message_id   bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position     integer NOT NULL,
    filename     text,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    sha256       text NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX message_attachments_sha_idx ON message_attachments (sha256);

CREATE TABLE capture_events (
    id             bigserial PRIMARY KEY,
    message_id     bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    source         text NOT NULL CHECK (source IN ('milter', 'bcc', 'import',
                       'replay', 'cli')),
    direction      text NOT NULL,
    queue_id       text,
    envelope_from  text,
    envelope_rcpts text[] NOT NULL DEFAULT '{}',
    new_links      integer NOT NULL DEFAULT 0,
    captured_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX capture_events_message_idx ON capture_events (message_id);

-- A thread is named by the row id of its first message (messages.thread_id,
-- decided by crm_capture from In-Reply-To and References); this view lists
-- them for reports and the web view.
CREATE VIEW threads AS
SELECT thread_id AS id,
       (array_agg(subject ORDER BY coalesce(sent_at, captured_at), id))[1] AS subject,
       min(coalesce(sent_at, captured_at)) AS started_at,
       max(coalesce(sent_at, captured_at)) AS last_at,
       count(*) AS messages
  FROM messages
 GROUP BY thread_id;
