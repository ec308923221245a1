-- News and sentiment as the bot saw them (#17), times in UTC ms. first_seen_ms is the point-in-time stamp: a replay at as_of reads
-- only headlines first seen at or before it; published is the feed's own claim, kept for reference only.
CREATE TABLE news_headlines (
    guid TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    published_ms INTEGER,
    first_seen_ms INTEGER NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
);
CREATE INDEX news_headlines_first_seen ON news_headlines (first_seen_ms);

-- one Fear & Greed reading per UTC day, known from 00:00 that day
CREATE TABLE fear_greed (
    day TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    fetched_at TEXT NOT NULL
);

-- the news analyst's scores, once per analyst identity (endpoint, model, prompt version) and headline
CREATE TABLE news_scores (
    scorer TEXT NOT NULL,
    guid TEXT NOT NULL,
    impact INTEGER NOT NULL,
    coins TEXT NOT NULL DEFAULT '',
    scored_at TEXT NOT NULL,
    PRIMARY KEY (scorer, guid)
);
