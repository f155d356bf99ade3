-- Where a face serves which program: host names and path prefixes bound to a program.
-- A host or a prefix belongs to one program of a face at most. Requests that match no
-- binding go to the server's default program of that face.
CREATE TABLE face_bindings (
    face TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('host', 'path_prefix')),
    value TEXT NOT NULL,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (face, kind, value)
);

CREATE INDEX face_bindings_by_program ON face_bindings (program_id, face);
