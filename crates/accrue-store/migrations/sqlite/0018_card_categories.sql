-- Card categories of a program (Loymax's cardCategory: "Gold", "Virtual"…): kept by the
-- operator, given to the cards of an imported pool, seen by offers (card_category).
CREATE TABLE card_categories (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    -- Virtual cards emitted get the category that says so (one per program).
    for_virtual INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (program_id, code)
);
ALTER TABLE cards ADD COLUMN category_id INTEGER REFERENCES card_categories(id);
