-- The paper broker's book (core.book): one row per open position, every order, fill, closed leg,
-- equity point and a few numbers (cash, peak equity, day start). Positions/orders are JSON documents
-- written whole on each change, inside one transaction per broker step.
CREATE TABLE book_positions (
    id         TEXT PRIMARY KEY,
    symbol     TEXT NOT NULL UNIQUE,
    doc        TEXT NOT NULL,
    cursor_ms  INTEGER NOT NULL,
    mark       REAL NOT NULL
);

CREATE TABLE book_orders (
    id          TEXT PRIMARY KEY,
    symbol      TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'filled', 'cancelled'))
);
CREATE INDEX book_orders_status ON book_orders (status);

CREATE TABLE book_fills (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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

CREATE TABLE book_trades (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX book_trades_exit_time ON book_trades (exit_time);

CREATE TABLE book_equity (
    time    TEXT PRIMARY KEY,
    equity  REAL NOT NULL
);

CREATE TABLE book_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
