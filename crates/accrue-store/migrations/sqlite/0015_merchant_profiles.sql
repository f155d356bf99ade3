-- What members see of a merchant: description, address and coordinates, opening hours
-- (JSON, checked by accrue_core::merchant::Profile), and the city it is in. Cities get
-- ids of their own, as member apps group shops by city.
CREATE TABLE cities (
    id INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    name TEXT NOT NULL,
    prefix TEXT,
    UNIQUE (program_id, name)
);
ALTER TABLE merchants ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE merchants ADD COLUMN city_id INTEGER REFERENCES cities(id);
