-- The arena (#15): each contestant's own paper book, the same shape as the book_* tables of 003 with the
-- contestant's name in every key, so a restart resumes every contestant where it was.
CREATE TABLE arena_positions (
    contestant TEXT NOT NULL,
    id         TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    doc        TEXT NOT NULL,
    cursor_ms  INTEGER NOT NULL,
    mark       REAL NOT NULL,
    PRIMARY KEY (contestant, id),
    UNIQUE (contestant, symbol)
);

CREATE TABLE arena_orders (
    contestant  TEXT NOT NULL,
    id          TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'filled', 'cancelled')),
    PRIMARY KEY (contestant, id)
);

CREATE TABLE arena_fills (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    contestant   TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    position_id  TEXT NOT NULL,
    symbol       TEXT NOT NULL,
    side         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    time         TEXT NOT NULL,
    price        REAL NOT NULL,
    qty          REAL NOT NULL,
    fee          REAL NOT NULL,
    reason       TEXT NOT NULL DEFAULT ''
);

CREATE TABLE arena_trades (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    contestant   TEXT NOT NULL,
    position_id  TEXT NOT NULL,
    symbol       TEXT NOT NULL,
    side         TEXT NOT NULL,
    entry_time   TEXT NOT NULL,
    entry_price  REAL NOT NULL,
    exit_time    TEXT NOT NULL,
    exit_price   REAL NOT NULL,
    qty          REAL NOT NULL,
    leverage     INTEGER NOT NULL,
    stop_loss    REAL NOT NULL,
    exit_reason  TEXT NOT NULL,
    gross_pnl    REAL NOT NULL,
    fees         REAL NOT NULL,
    funding      REAL NOT NULL,
    net_pnl      REAL NOT NULL,
    signal_id    TEXT NOT NULL DEFAULT '',
    confidence   REAL NOT NULL DEFAULT 0
);
CREATE INDEX arena_trades_contestant ON arena_trades (contestant, exit_time);

CREATE TABLE arena_equity (
    contestant TEXT NOT NULL,
    time       TEXT NOT NULL,
    equity     REAL NOT NULL,
    PRIMARY KEY (contestant, time)
);

CREATE TABLE arena_meta (
    contestant TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (contestant, key)
);
