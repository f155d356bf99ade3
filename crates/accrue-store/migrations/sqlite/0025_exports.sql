-- Exports made in the background (a CSV of a program's members): progress as rows
-- written, the file as parts in order (each part keyed by the last member id it holds).
CREATE TABLE exports (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    -- members
    kind TEXT NOT NULL,
    -- The admin key's name, or console:<login>.
    requested_by TEXT NOT NULL,
    -- running, done or failed.
    state TEXT NOT NULL,
    rows_total INTEGER NOT NULL,
    rows_done INTEGER NOT NULL DEFAULT 0,
    last_key INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX exports_of_program ON exports (program_id, id);
CREATE INDEX exports_running ON exports (state);

CREATE TABLE export_parts (
    export_id INTEGER NOT NULL REFERENCES exports(id),
    part_key INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (export_id, part_key)
);
