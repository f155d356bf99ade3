//! The questionnaire step: `User/Questions` renders the program's tree as Loymax nodes
//! (with the member's answers filled in) and `User/Answers` takes answers in the v1 form
//! (`{"answers":[{"groupID","id","value","selected"}]}`) or the v1.2 one (a bare array of
//! `{"questionId","questionGroupId","value","fixedAnswerIds"}`).

use super::auth::Member;
use super::envelope::{Answer, Body};
use crate::service::registration;
use crate::AppState;
use accrue_core::questionnaire::{self, Field, Node, Problem, Question};
use accrue_store::StoreError;
use axum::extract::{Query, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn node(kind: &str, title: &str, description: Option<&str>) -> Value {
    json!({
        "nodeType": kind, "displayName": title, "description": description, "logicalName": null, "value": null,
        "readOnly": false, "required": null, "id": null, "groupID": null, "selected": null, "maxLength": null,
        "fieldType": null, "children": null,
    })
}

fn question(q: &Question, given: Option<&questionnaire::Answer>) -> Value {
    let mut n = node("Question", &q.title, q.description.as_deref());
    n["logicalName"] = json!(q.logical_name);
    n["value"] = json!(given.and_then(|a| a.value.clone()));
    n["required"] = json!(q.required);
    n["id"] = json!(q.id);
    n["selected"] = json!(false);
    n["maxLength"] = json!(q.max_length);
    n["fieldType"] = json!(format!("{:?}", q.field));
    if !q.answers.is_empty() {
        let chosen = given.map(|a| a.answer_ids.clone()).unwrap_or_default();
        let answers: Vec<Value> = q
            .answers
            .iter()
            .map(|f| {
                let mut a = node("Answer", &f.title, None);
                a["id"] = json!(f.id);
                a["groupID"] = json!(q.id);
                a["selected"] = json!(chosen.contains(&f.id));
                a
            })
            .collect();
        n["children"] = json!(answers);
    }
    n
}

fn render(nodes: &[Node], given: &[questionnaire::Answer], only_required: bool) -> Vec<Value> {
    nodes
        .iter()
        .filter_map(|n| match n {
            Node::Header {
                title,
                description,
                children,
            } => {
                let children = render(children, given, only_required);
                if children.is_empty() {
                    return None;
                }
                let mut h = node("Header", title, description.as_deref());
                h["children"] = json!(children);
                Some(h)
            }
            Node::Question(q) if only_required && !q.required => None,
            Node::Question(q) => Some(question(q, given.iter().find(|a| a.question_id == q.id))),
        })
        .collect()
}

pub async fn questions(
    State(state): State<AppState>,
    m: Member,
    Query(params): Query<BTreeMap<String, String>>,
) -> Answer {
    let only_required = params
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("filter.onlyRequired") && v == "true");
    let result = async {
        let tree = state.store.questionnaire(m.owner.program_id).await?;
        let given = state.store.answers(m.owner.member_id).await?;
        Ok::<_, StoreError>(json!({"questions": render(&tree.nodes, &given, only_required)}))
    };
    match result.await {
        Ok(data) => Answer::success(m.version, data),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}

/// Reads both body forms into answers by question.
fn parse(body: &Value, tree: &questionnaire::Questionnaire) -> Result<Vec<questionnaire::Answer>, String> {
    let mut by_question: BTreeMap<i64, questionnaire::Answer> = BTreeMap::new();
    let int = |v: &Value| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    let text = |v: &Value| {
        v.as_str()
            .map(String::from)
            .or_else(|| v.as_number().map(|n| n.to_string()))
    };
    let items = match body {
        Value::Array(items) => items,
        Value::Object(o) => o
            .get("answers")
            .and_then(Value::as_array)
            .ok_or("expected {\"answers\": [...]}")?,
        _ => return Err("expected a list of answers".into()),
    };
    for item in items {
        if let Some(id) = item.get("questionId").and_then(int) {
            let a = by_question.entry(id).or_insert_with(|| questionnaire::Answer {
                question_id: id,
                ..Default::default()
            });
            a.value = item.get("value").and_then(text);
            let fixed = item
                .get("fixedAnswerIds")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            a.answer_ids.extend(fixed.iter().filter_map(int));
            continue;
        }
        let id = item.get("id").and_then(int).ok_or("each answer needs an id")?;
        let selected = item.get("selected").and_then(Value::as_bool).unwrap_or(false);
        let group = item.get("groupID").and_then(int);
        match (selected, group) {
            // A fixed answer of a choice: `groupID` is the question, `id` the answer.
            (true, Some(question)) => by_question
                .entry(question)
                .or_insert_with(|| questionnaire::Answer {
                    question_id: question,
                    ..Default::default()
                })
                .answer_ids
                .push(id),
            _ => {
                let a = by_question.entry(id).or_insert_with(|| questionnaire::Answer {
                    question_id: id,
                    ..Default::default()
                });
                a.value = item.get("value").and_then(text);
            }
        }
    }
    // A choice answered with its answer's id in `value` (some clients do that).
    for a in by_question.values_mut() {
        let choice = tree
            .questions()
            .into_iter()
            .find(|q| q.id == a.question_id)
            .filter(|q| matches!(q.field, Field::Select | Field::MultiSelect));
        if let (Some(_), true, Some(v)) = (
            choice,
            a.answer_ids.is_empty(),
            a.value.as_deref().and_then(|v| v.parse().ok()),
        ) {
            a.answer_ids.push(v);
            a.value = None;
        }
    }
    Ok(by_question.into_values().collect())
}

/// What the member is told of a problem with an answer.
fn problem_text(problem: &Problem) -> String {
    match problem {
        Problem::UnknownQuestion => "Вопрос не найден.".into(),
        Problem::Required => "Обязательный вопрос.".into(),
        Problem::NotAnOption => "Недопустимый вариант ответа.".into(),
        Problem::OneOptionOnly => "Выберите один вариант.".into(),
        Problem::NoOptions => "У вопроса нет вариантов ответа.".into(),
        Problem::TooLong { max } => format!("Не более {max} символов."),
        Problem::NotANumber => "Ожидается число.".into(),
        Problem::NotADate => "Неверный формат даты.".into(),
        Problem::TooYoung { min_age } => format!("Не допускается участие в программе лиц младше {min_age} лет"),
        Problem::InTheFuture => "Дата не может быть в будущем.".into(),
    }
}

pub async fn answers(State(state): State<AppState>, m: Member, body: Body<Value>) -> Answer {
    let v = m.version;
    let result = async {
        let tree = state.store.questionnaire(m.owner.program_id).await?;
        let given = match parse(&body.0, &tree) {
            Ok(given) => given,
            Err(message) => return Ok::<_, StoreError>(Answer::invalid(v, "answers", message)),
        };
        match registration::answer_questions(&state.store, m.owner, &tree, given).await? {
            Ok(()) => Ok(Answer::success(v, Value::Null)),
            Err(problems) => {
                let errors: Vec<Value> = problems
                    .iter()
                    .map(|(id, found)| {
                        let texts: Vec<String> = found.iter().map(problem_text).collect();
                        json!({"idQuestion": id.to_string(), "errors": texts})
                    })
                    .collect();
                Ok(Answer::error_with(
                    v,
                    "Анкета заполнена с ошибками.",
                    json!({"errors": errors}),
                ))
            }
        }
    };
    match result.await {
        Ok(answer) => answer,
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}
