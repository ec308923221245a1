-- The versioned leaderboard (#13, DESIGN §4.8): one row per version, source, symbols, window and oos flag.
CREATE TABLE strategy_results (
    version TEXT NOT NULL,
    engine TEXT NOT NULL,
    model TEXT,
    source TEXT NOT NULL,
    symbols TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    oos INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    total_return_pct REAL,
    sharpe REAL,
    max_drawdown_pct REAL,
    profit_factor REAL,
    descriptor TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (version, source, symbols, window_start, window_end, oos)
);
