-- The live broker's ledger (core.exchange_ledger): one JSON document per open position with the ids
-- linking it to the exchange (entry, stop generations, targets), and the legs it closed.
CREATE TABLE exchange_positions (
    symbol      TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    doc         TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE exchange_trades (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    position_id TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    exit_time   TEXT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX exchange_trades_exit_time ON exchange_trades (exit_time);
