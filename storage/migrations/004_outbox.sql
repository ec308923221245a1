-- Durable outbox of channel and admin posts (bot/publisher.py drains it in id order per chat).
-- Enqueue is idempotent on dedupe_key, so a cycle re-run after a crash never doubles a post.
-- message_ids holds the Telegram message id of every part already accepted (JSON list), written the
-- moment Telegram answers, so a restart resumes after the last accepted part and never re-sends it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT NOT NULL UNIQUE,
    chat_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    text            TEXT NOT NULL,
    image           BLOB,
    image_path      TEXT,
    reply_to_key    TEXT,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    message_id      INTEGER,
    message_ids     TEXT NOT NULL DEFAULT '[]',
    created_at      TEXT NOT NULL,
    handed_at       TEXT,
    sent_at         TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (status, chat_id, id);
