-- Every LLM HTTP call, failed ones included: what it cost and how it went.
CREATE TABLE llm_calls (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                TEXT NOT NULL,
    day               TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    model             TEXT NOT NULL,
    mode              TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_ms        REAL NOT NULL,
    status            TEXT NOT NULL,
    cost_usd          REAL NOT NULL
);
CREATE INDEX llm_calls_day ON llm_calls (day);

-- UTC days on which the admins were told that the token budget is spent (told once per day).
CREATE TABLE llm_budget_alerts (
    day TEXT PRIMARY KEY,
    at  TEXT NOT NULL
);

-- The structured-output mode each endpoint + model accepts, so a downgrade is paid once.
CREATE TABLE llm_capabilities (
    endpoint   TEXT NOT NULL,
    model      TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('json_schema', 'json_object', 'prompt')),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (endpoint, model)
);

-- Decision records by sha256(model, prompt version, snapshot, account context); ok and rejected only.
CREATE TABLE llm_decision_cache (
    key        TEXT PRIMARY KEY,
    record     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
