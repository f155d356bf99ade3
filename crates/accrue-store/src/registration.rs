//! Registration state: a program's settings, and the steps each registering member
//! has done. Confirmation codes live in `confirmations`.

use crate::members::member_in_tx;
use crate::{Member, MemberFields, MemberSearch, Store, StoreError};
use accrue_core::member::MemberState;
use accrue_core::questionnaire::{Answer, Questionnaire};
use accrue_core::registration::{RegistrationSettings, Step};
use serde::de::DeserializeOwned;
use sqlx::Row;

impl Store {
    /// The member with this phone, or a new one in state `registering`; `true` when new.
    pub async fn begin_registration(&self, program_id: i64, phone: &str) -> Result<(Member, bool), StoreError> {
        let search = || MemberSearch::Phone(phone.to_string());
        match self.find_member(program_id, search()).await {
            Ok(member) => return Ok((member, false)),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let fields = MemberFields {
            state: Some(MemberState::Registering),
            phone: Some(phone.to_string()),
            ..Default::default()
        };
        match self.create_member(program_id, fields).await {
            Ok(member) => Ok((member, true)),
            // Someone registered the same phone a moment earlier.
            Err(StoreError::Conflict(_)) => Ok((self.find_member(program_id, search()).await?, false)),
            Err(e) => Err(e),
        }
    }

    /// The member registering with this card of the pool: its owner, or a new member in
    /// state `registering` who gets the card; `true` when new. An unknown card is
    /// `NotFound`, a blocked one a conflict.
    pub async fn begin_registration_by_card(
        &self,
        program_id: i64,
        number: &str,
    ) -> Result<(Member, bool), StoreError> {
        match self
            .find_member(program_id, MemberSearch::Card(number.to_string()))
            .await
        {
            Ok(member) => return Ok((member, false)),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        if self.card(program_id, number).await?.state == "blocked" {
            return Err(StoreError::CardBlocked(number.to_string()));
        }
        let fields = MemberFields {
            state: Some(MemberState::Registering),
            ..Default::default()
        };
        let member = self.create_member(program_id, fields).await?;
        match self.assign_card(program_id, number.to_string(), member.id).await {
            Ok(_) => Ok((self.member(program_id, member.id).await?, true)),
            Err(e) => {
                // Taken by someone else a moment earlier: the member made for it is archived.
                let archived = MemberFields {
                    state: Some(MemberState::Archived),
                    ..Default::default()
                };
                self.update_member(program_id, member.id, archived).await?;
                Err(e)
            }
        }
    }

    pub async fn done_steps(&self, member_id: i64) -> Result<Vec<Step>, StoreError> {
        let rows = sqlx::query("SELECT step FROM registration_steps WHERE member_id = $1")
            .bind(member_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Step::parse(&r.try_get::<String, _>(0).ok()?))
            .collect())
    }

    /// Marks a step done; a step is done once (a repeat is a conflict).
    pub async fn complete_step(&self, program_id: i64, member_id: i64, step: Step) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                member_in_tx(tx, program_id, member_id).await?;
                sqlx::query("INSERT INTO registration_steps (member_id, step, done_at) VALUES ($1, $2, $3)")
                    .bind(member_id)
                    .bind(step.as_str())
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await
                    .map_err(StoreError::on_unique(StoreError::StepDone(step.as_str())))?;
                Ok(())
            })
        })
        .await
    }

    /// Finishes the member's registration when no required step is missing; returns the
    /// missing ones otherwise (and changes nothing).
    pub async fn finish_registration(
        &self,
        program_id: i64,
        member_id: i64,
        settings: &RegistrationSettings,
    ) -> Result<Vec<Step>, StoreError> {
        let missing = settings.missing(&self.done_steps(member_id).await?);
        if missing.is_empty() {
            let fields = MemberFields {
                state: Some(MemberState::Active),
                ..Default::default()
            };
            self.update_member(program_id, member_id, fields).await?;
        }
        Ok(missing)
    }

    /// The program's registration settings (the defaults until some are saved).
    pub async fn registration_settings(&self, program_id: i64) -> Result<RegistrationSettings, StoreError> {
        self.json_of(
            "SELECT registration FROM program_settings WHERE program_id = $1",
            program_id,
        )
        .await
    }

    pub async fn set_registration_settings(
        &self,
        program_id: i64,
        settings: RegistrationSettings,
    ) -> Result<(), StoreError> {
        settings.validate().map_err(StoreError::Invalid)?;
        let sql = "INSERT INTO program_settings (program_id, registration, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET registration = excluded.registration, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, serde_json::to_string(&settings)?).await
    }

    /// The program's questionnaire (empty until one is saved).
    pub async fn questionnaire(&self, program_id: i64) -> Result<Questionnaire, StoreError> {
        self.json_of("SELECT tree FROM questionnaires WHERE program_id = $1", program_id)
            .await
    }

    pub async fn set_questionnaire(&self, program_id: i64, questionnaire: Questionnaire) -> Result<(), StoreError> {
        questionnaire.validate().map_err(StoreError::Invalid)?;
        let sql = "INSERT INTO questionnaires (program_id, tree, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET tree = excluded.tree, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, serde_json::to_string(&questionnaire)?)
            .await
    }

    pub async fn answers(&self, member_id: i64) -> Result<Vec<Answer>, StoreError> {
        self.json_of("SELECT answers FROM member_answers WHERE member_id = $1", member_id)
            .await
    }

    /// Stores answers (already checked), replacing earlier answers to the same questions.
    pub async fn save_answers(&self, program_id: i64, member_id: i64, given: Vec<Answer>) -> Result<(), StoreError> {
        self.member(program_id, member_id).await?;
        let mut answers = self.answers(member_id).await?;
        answers.retain(|a| !given.iter().any(|g| g.question_id == a.question_id));
        answers.extend(given);
        let sql = "INSERT INTO member_answers (member_id, answers, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (member_id) DO UPDATE SET answers = excluded.answers, updated_at = excluded.updated_at";
        self.save_json(sql, member_id, serde_json::to_string(&answers)?).await
    }

    /// A JSON document kept in one row, or the type's default when there is none.
    pub(crate) async fn json_of<T: DeserializeOwned + Default>(&self, sql: &str, id: i64) -> Result<T, StoreError> {
        match sqlx::query(sql).bind(id).fetch_optional(self.pool()).await? {
            Some(row) => Ok(serde_json::from_str(&row.try_get::<String, _>(0)?)?),
            None => Ok(T::default()),
        }
    }

    /// Writes a JSON document with an upsert taking `$1` id, `$2` JSON, `$3` now.
    pub(crate) async fn save_json(&self, sql: &'static str, id: i64, json: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(sql)
                    .bind(id)
                    .bind(&json)
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await
    }
}
