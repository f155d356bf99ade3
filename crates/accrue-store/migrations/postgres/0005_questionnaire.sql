-- A program's questionnaire (a JSON tree) and members' answers (JSON, by question).
CREATE TABLE questionnaires (
    program_id BIGINT NOT NULL PRIMARY KEY REFERENCES programs(id),
    tree TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE member_answers (
    member_id BIGINT NOT NULL PRIMARY KEY REFERENCES members(id),
    answers TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
