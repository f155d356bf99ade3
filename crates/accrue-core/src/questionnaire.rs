//! A program's questionnaire: a tree of headers and questions (text, date, number,
//! single or multiple choice among fixed answers), and the checks an answer set must
//! pass. Errors are per question, as Loymax reports them.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    String,
    Date,
    Number,
    /// One of the fixed answers.
    Select,
    /// Any number of the fixed answers.
    MultiSelect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedAnswer {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: i64,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A name for integrations, such as `LastName` or `BirthDay`.
    #[serde(default)]
    pub logical_name: Option<String>,
    pub field: Field,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub max_length: Option<u32>,
    /// Dates only: the youngest age allowed, e.g. 18.
    #[serde(default)]
    pub min_age: Option<u32>,
    #[serde(default)]
    pub answers: Vec<FixedAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    Header {
        title: String,
        #[serde(default)]
        description: Option<String>,
        children: Vec<Node>,
    },
    Question(Question),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    pub nodes: Vec<Node>,
}

/// One answer as given: a typed value, or chosen fixed answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub question_id: i64,
    pub value: Option<String>,
    pub answer_ids: Vec<i64>,
}

/// What is wrong with an answer, in no face's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum Problem {
    UnknownQuestion,
    /// A required question is not answered.
    Required,
    /// An answer id the question does not offer.
    NotAnOption,
    /// More than one answer to a single choice.
    OneOptionOnly,
    /// Answer ids for a question without fixed answers.
    NoOptions,
    TooLong {
        max: u32,
    },
    NotANumber,
    NotADate,
    TooYoung {
        min_age: u32,
    },
    InTheFuture,
}

/// Problems by question id.
pub type Problems = BTreeMap<i64, Vec<Problem>>;

fn collect<'a>(nodes: &'a [Node], out: &mut Vec<&'a Question>) {
    for node in nodes {
        match node {
            Node::Header { children, .. } => collect(children, out),
            Node::Question(q) => out.push(q),
        }
    }
}

/// Reads a date as members type it: `1990-05-15` or `15.05.1990`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let text = text.split('T').next().unwrap_or(text);
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%d.%m.%Y"))
        .ok()
}

fn age(born: NaiveDate, today: NaiveDate) -> i32 {
    let years = today.year() - born.year();
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years - 1
    } else {
        years
    }
}

impl Questionnaire {
    pub fn questions(&self) -> Vec<&Question> {
        let mut out = Vec::new();
        collect(&self.nodes, &mut out);
        out
    }

    /// Checks the tree an operator saves: ids unique, choices have answers.
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        for q in self.questions() {
            if !ids.insert(q.id) {
                return Err(format!("question id {} is used twice", q.id));
            }
            let choice = matches!(q.field, Field::Select | Field::MultiSelect);
            if choice && q.answers.is_empty() {
                return Err(format!("question {} offers no answers to choose from", q.id));
            }
            if !choice && !q.answers.is_empty() {
                return Err(format!("question {} has fixed answers but is not a choice", q.id));
            }
            if q.min_age.is_some() && q.field != Field::Date {
                return Err(format!("question {}: min_age applies to dates only", q.id));
            }
            let mut answer_ids = BTreeSet::new();
            if let Some(a) = q.answers.iter().find(|a| !answer_ids.insert(a.id)) {
                return Err(format!("question {}: answer id {} is used twice", q.id, a.id));
            }
        }
        Ok(())
    }

    /// Checks a member's answers against the questions; `today` is for age rules.
    pub fn check(&self, given: &[Answer], today: NaiveDate) -> Result<(), Problems> {
        let mut problems = Problems::new();
        let questions = self.questions();
        for a in given {
            let Some(q) = questions.iter().find(|q| q.id == a.question_id) else {
                problems
                    .entry(a.question_id)
                    .or_default()
                    .push(Problem::UnknownQuestion);
                continue;
            };
            if let Err(problem) = check_one(q, a, today) {
                problems.entry(q.id).or_default().push(problem);
            }
        }
        for q in questions.iter().filter(|q| q.required) {
            let answered = given.iter().any(|a| {
                a.question_id == q.id
                    && (!a.answer_ids.is_empty() || a.value.as_deref().is_some_and(|v| !v.trim().is_empty()))
            });
            if !answered {
                problems.entry(q.id).or_default().push(Problem::Required);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn check_one(q: &Question, a: &Answer, today: NaiveDate) -> Result<(), Problem> {
    let value = a.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    match q.field {
        Field::Select | Field::MultiSelect => {
            if a.answer_ids.iter().any(|id| !q.answers.iter().any(|f| f.id == *id)) {
                return Err(Problem::NotAnOption);
            }
            if q.field == Field::Select && a.answer_ids.len() > 1 {
                return Err(Problem::OneOptionOnly);
            }
            Ok(())
        }
        _ if !a.answer_ids.is_empty() => Err(Problem::NoOptions),
        Field::String => match (value, q.max_length) {
            (Some(v), Some(max)) if v.chars().count() > max as usize => Err(Problem::TooLong { max }),
            _ => Ok(()),
        },
        Field::Number => match value {
            Some(v) if v.replace(',', ".").parse::<f64>().is_err() => Err(Problem::NotANumber),
            _ => Ok(()),
        },
        Field::Date => {
            let Some(v) = value else { return Ok(()) };
            let born = parse_date(v).ok_or(Problem::NotADate)?;
            match q.min_age {
                Some(min_age) if age(born, today) < min_age as i32 => Err(Problem::TooYoung { min_age }),
                _ if born > today => Err(Problem::InTheFuture),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Questionnaire {
        serde_json::from_value(serde_json::json!({"nodes": [
            {"type": "header", "title": "Личные данные", "children": [
                {"type": "question", "id": 2, "title": "Фамилия", "logical_name": "LastName", "field": "String", "required": true, "max_length": 5},
                {"type": "question", "id": 7, "title": "Дата рождения", "field": "Date", "required": true, "min_age": 18},
            ]},
            {"type": "question", "id": 5, "title": "Пол", "field": "Select", "answers": [{"id": 1, "title": "М"}, {"id": 2, "title": "Ж"}]},
            {"type": "question", "id": 9, "title": "Детей", "field": "Number"},
        ]}))
        .unwrap()
    }

    fn answer(question_id: i64, value: Option<&str>, answer_ids: &[i64]) -> Answer {
        Answer {
            question_id,
            value: value.map(String::from),
            answer_ids: answer_ids.to_vec(),
        }
    }

    const TODAY: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 23) {
        Some(d) => d,
        None => panic!(),
    };

    #[test]
    fn a_good_answer_set_passes() {
        let q = tree();
        assert!(q.validate().is_ok());
        let given = [
            answer(2, Some("Ивано"), &[]),
            answer(7, Some("15.05.1990"), &[]),
            answer(5, None, &[2]),
        ];
        assert_eq!(q.check(&given, TODAY), Ok(()));
    }

    #[test]
    fn each_problem_is_reported_by_question() {
        let q = tree();
        let given = [
            answer(2, Some("Петровский"), &[]),
            answer(7, Some("2010-01-01"), &[]),
            answer(5, None, &[3]),
            answer(9, Some("много"), &[]),
            answer(42, Some("x"), &[]),
        ];
        let problems = q.check(&given, TODAY).unwrap_err();
        assert_eq!(problems[&2], vec![Problem::TooLong { max: 5 }]);
        assert_eq!(problems[&7], vec![Problem::TooYoung { min_age: 18 }]);
        assert_eq!(problems[&5], vec![Problem::NotAnOption]);
        assert_eq!(problems[&9], vec![Problem::NotANumber]);
        assert_eq!(problems[&42], vec![Problem::UnknownQuestion]);
        let missing = q.check(&[answer(5, None, &[1])], TODAY).unwrap_err();
        assert_eq!(
            missing.keys().copied().collect::<Vec<_>>(),
            vec![2, 7],
            "required questions"
        );
    }

    #[test]
    fn ages_count_birthdays() {
        let q = tree();
        let turning_18_tomorrow = [answer(2, Some("Ли"), &[]), answer(7, Some("2008-11-24"), &[])];
        assert!(q.check(&turning_18_tomorrow, TODAY).is_err());
        let eighteen_today = [answer(2, Some("Ли"), &[]), answer(7, Some("2008-11-23"), &[])];
        assert!(q.check(&eighteen_today, TODAY).is_ok());
    }

    #[test]
    fn bad_trees_are_refused() {
        let twice = Questionnaire {
            nodes: vec![tree().nodes[1].clone(), tree().nodes[1].clone()],
        };
        assert!(twice.validate().unwrap_err().contains("used twice"));
        let choice: Questionnaire = serde_json::from_value(serde_json::json!({"nodes": [
            {"type": "question", "id": 1, "title": "?", "field": "Select"}]}))
        .unwrap();
        assert!(choice.validate().is_err());
    }
}
