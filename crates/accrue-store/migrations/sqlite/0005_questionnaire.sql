-- A program's questionnaire (a JSON tree) and members' answers (JSON, by question).
CREATE TABLE questionnaires (
    program_id INTEGER NOT NULL PRIMARY KEY REFERENCES programs(id),
    tree TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE member_answers (
    member_id INTEGER NOT NULL PRIMARY KEY REFERENCES members(id),
    answers TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
