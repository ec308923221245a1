-- Runtime state as typed key/value (kind: bool, int, str, json), changed only through the control service.
CREATE TABLE runtime_state (
    key        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('bool', 'int', 'float', 'str', 'json')),
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every change of runtime state: who, when, what, old -> new.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    old    TEXT NOT NULL,
    new    TEXT NOT NULL
);

-- One row per (cycle, symbol): snapshot, decision record and guard verdict, stored before execution.
CREATE TABLE decision_log (
    cycle_id     TEXT NOT NULL,
    symbol       TEXT NOT NULL,
    as_of        TEXT NOT NULL,
    signal_id    TEXT NOT NULL,
    snapshot     TEXT,
    record       TEXT,
    verdict      TEXT,
    status       TEXT,
    action       TEXT,
    approved     INTEGER NOT NULL DEFAULT 0,
    reason       TEXT,
    error        TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (cycle_id, symbol)
);
CREATE INDEX decision_log_signal ON decision_log (signal_id);
CREATE INDEX decision_log_as_of ON decision_log (as_of);
