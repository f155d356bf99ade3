//! Registration: a program's settings, the steps each registering member has done, and
//! each step a member takes as one transaction (BeginRegistration, accepting the offer,
//! confirming a phone or e-mail, the first password, finishing). Confirmation codes live
//! in `confirmations`.

use crate::cards::{assign_card_in, card_by_number, emit_virtual_card_in};
use crate::confirmations::{check_code_in, send_code_in};
use crate::hooks::{self, Happening};
use crate::member_auth::{has_password_in, insert_pair, revoke_token_in, store_password, TokenOwner, TokenPair};
use crate::members::{create_member_in, lock_member, member_in_tx, update_member_in};
use crate::{Card, Member, MemberFields, Sealer, Store, StoreError, Tx};
use accrue_core::member::MemberState;
use accrue_core::questionnaire::{Answer, Questionnaire};
use accrue_core::registration::{Channel, CodeRules, RegistrationSettings, Step};
use accrue_core::Millis;
use serde::de::DeserializeOwned;
use sqlx::Row;

/// Token lifetimes of the sessions a face hands out.
#[derive(Debug, Clone, Copy)]
pub struct Ttls {
    pub access: Millis,
    pub refresh: Millis,
}

/// What BeginRegistration found or made.
#[derive(Debug, Clone)]
pub struct Begun {
    pub member: Member,
    pub created: bool,
    /// A pair when the member may go on without a password.
    pub tokens: Option<TokenPair>,
    /// Going on needs the member's password.
    pub has_password: bool,
}

/// The member of the program matching `condition` on `$2`, read in `tx`.
pub(crate) async fn member_where(
    tx: &mut Tx,
    program_id: i64,
    condition: &str,
    value: &str,
) -> Result<Option<Member>, StoreError> {
    let sql = format!("SELECT id FROM members WHERE program_id = $1 AND {condition}");
    let row = sqlx::query(&sql)
        .bind(program_id)
        .bind(value)
        .fetch_optional(tx.conn())
        .await?;
    match row {
        Some(row) => Ok(Some(member_in_tx(tx, program_id, row.try_get(0)?).await?)),
        None => Ok(None),
    }
}

/// Where BeginRegistration leaves a member: a new one is sent its code (`code`), and one
/// that may go on without a password gets a token pair.
async fn begun(
    tx: &mut Tx,
    member: Member,
    created: bool,
    ttls: Ttls,
    code: Option<((Channel, String), CodeRules, &Sealer)>,
) -> Result<Begun, StoreError> {
    let has_password = has_password_in(tx, member.id).await?;
    if member.state != MemberState::Registering || has_password {
        return Ok(Begun {
            member,
            created,
            tokens: None,
            has_password,
        });
    }
    if let Some((to, rules, sealer)) = code {
        send_code_in(tx, member.program_id, member.id, to, rules, sealer).await?;
    }
    let owner = TokenOwner {
        program_id: member.program_id,
        member_id: member.id,
    };
    let tokens = insert_pair(tx, owner, ttls.access, ttls.refresh).await?;
    Ok(Begun {
        member,
        created,
        tokens: Some(tokens),
        has_password,
    })
}

/// A new token pair for the member; the token the step came with stops working.
async fn rotate_in(tx: &mut Tx, owner: TokenOwner, old: &str, ttls: Ttls) -> Result<TokenPair, StoreError> {
    let tokens = insert_pair(tx, owner, ttls.access, ttls.refresh).await?;
    revoke_token_in(tx, old).await?;
    Ok(tokens)
}

fn steps_of(rows: &[sqlx::any::AnyRow]) -> Vec<Step> {
    rows.iter()
        .filter_map(|r| Step::parse(&r.try_get::<String, _>(0).ok()?))
        .collect()
}

async fn done_steps_in(tx: &mut Tx, member_id: i64) -> Result<Vec<Step>, StoreError> {
    let rows = sqlx::query("SELECT step FROM registration_steps WHERE member_id = $1")
        .bind(member_id)
        .fetch_all(tx.conn())
        .await?;
    Ok(steps_of(&rows))
}

/// Marks a step done in `tx`; a step is done once (a repeat is [`StoreError::StepDone`]).
async fn complete_step_in(tx: &mut Tx, member_id: i64, step: Step) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO registration_steps (member_id, step, done_at) VALUES ($1, $2, $3)")
        .bind(member_id)
        .bind(step.as_str())
        .bind(tx.now)
        .execute(tx.conn())
        .await
        .map_err(StoreError::on_unique(StoreError::StepDone(step.as_str())))?;
    Ok(())
}

/// Marks a step done in `tx` unless it already is.
async fn step_done_in(tx: &mut Tx, member_id: i64, step: Step) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registration_steps (member_id, step, done_at) VALUES ($1, $2, $3)          ON CONFLICT (member_id, step) DO NOTHING",
    )
    .bind(member_id)
    .bind(step.as_str())
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

impl Store {
    /// BeginRegistration by phone, in one transaction: the member with this phone, or a
    /// new one in state `registering` who is sent a code. A member who may go on without a
    /// password (registering, none set) gets a token pair.
    pub async fn begin_registration(
        &self,
        program_id: i64,
        phone: &str,
        rules: CodeRules,
        ttls: Ttls,
    ) -> Result<Begun, StoreError> {
        let attempt = || {
            let (phone, sealer) = (phone.to_string(), self.sealer().clone());
            self.write(move |tx| {
                Box::pin(async move {
                    let found = member_where(tx, program_id, "phone = $2", &phone).await?;
                    let (member, created) = match found {
                        Some(member) => (member, false),
                        None => {
                            let fields = MemberFields {
                                state: Some(MemberState::Registering),
                                phone: Some(phone.clone()),
                                ..Default::default()
                            };
                            (create_member_in(tx, program_id, fields).await?, true)
                        }
                    };
                    let code = created.then_some((Channel::Phone, phone));
                    begun(tx, member, created, ttls, code.map(|to| (to, rules, &sealer))).await
                })
            })
        };
        match attempt().await {
            // Someone registered the same phone a moment earlier: theirs is found now.
            Err(StoreError::Conflict(_)) => attempt().await,
            other => other,
        }
    }

    /// BeginRegistration by a card of the pool, in one transaction: the card's owner, or a
    /// new member in state `registering` who gets the card. An unknown card is
    /// `NotFound`, a blocked one [`StoreError::CardBlocked`].
    pub async fn begin_registration_by_card(
        &self,
        program_id: i64,
        number: &str,
        ttls: Ttls,
    ) -> Result<Begun, StoreError> {
        let number = crate::cards::validate_number(number)?;
        self.write(move |tx| {
            Box::pin(async move {
                let owner = "id = (SELECT member_id FROM cards WHERE program_id = $1 AND number = $2)";
                if let Some(member) = member_where(tx, program_id, owner, &number).await? {
                    return begun(tx, member, false, ttls, None).await;
                }
                let card = card_by_number(tx, program_id, &number).await?;
                match card.map(|c| c.state) {
                    None => return Err(StoreError::NotFound("card")),
                    Some(state) if state == "blocked" => return Err(StoreError::CardBlocked(number)),
                    Some(_) => {}
                }
                let fields = MemberFields {
                    state: Some(MemberState::Registering),
                    ..Default::default()
                };
                let member = create_member_in(tx, program_id, fields).await?;
                assign_card_in(tx, program_id, number, member.id).await?;
                let member = member_in_tx(tx, program_id, member.id).await?;
                begun(tx, member, true, ttls, None).await
            })
        })
        .await
    }

    /// `AcceptTenderOffer` done, with a virtual card (and `AssignCard` done) when
    /// `with_card`; one transaction.
    pub async fn accept_offer(&self, owner: TokenOwner, with_card: bool) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let (program_id, member_id) = (owner.program_id, owner.member_id);
                lock_member(tx, program_id, member_id).await?;
                complete_step_in(tx, member_id, Step::AcceptTenderOffer).await?;
                if with_card {
                    emit_virtual_card_in(tx, program_id, member_id).await?;
                    step_done_in(tx, member_id, Step::AssignCard).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// A card for the member's `AssignCard` step — a new virtual card, or the pool's card
    /// `number` — and the step done; one transaction.
    pub async fn take_card(&self, owner: TokenOwner, number: Option<String>) -> Result<Card, StoreError> {
        let number = number.map(|n| crate::cards::validate_number(&n)).transpose()?;
        self.write(move |tx| {
            Box::pin(async move {
                let (program_id, member_id) = (owner.program_id, owner.member_id);
                let card = match number {
                    Some(number) => assign_card_in(tx, program_id, number, member_id).await?,
                    None => emit_virtual_card_in(tx, program_id, member_id).await?,
                };
                step_done_in(tx, member_id, Step::AssignCard).await?;
                Ok(card)
            })
        })
        .await
    }

    /// Confirms the phone or e-mail with the typed code, in one transaction: the value is
    /// stored (replacing the old one, which stays until then), its step done, and the member's token (when given) replaced by a new pair.
    /// A wrong code is counted (and committed): [`StoreError::Code`].
    pub async fn confirm_contact(
        &self,
        owner: TokenOwner,
        channel: Channel,
        code: &str,
        rules: CodeRules,
        rotate: Option<(String, Ttls)>,
    ) -> Result<Option<TokenPair>, StoreError> {
        let code = code.trim().to_string();
        let checked = self
            .write(move |tx| {
                Box::pin(async move {
                    let (program_id, member_id) = (owner.program_id, owner.member_id);
                    let target = match check_code_in(tx, program_id, member_id, channel, &code, rules).await? {
                        Ok(target) => target,
                        Err(wrong) => return Ok(Err(wrong)),
                    };
                    let (fields, step) = match channel {
                        Channel::Phone => (
                            MemberFields {
                                phone: Some(target),
                                ..Default::default()
                            },
                            Step::ChangePhone,
                        ),
                        Channel::Email => (
                            MemberFields {
                                email: Some(target),
                                ..Default::default()
                            },
                            Step::ChangeEmail,
                        ),
                    };
                    update_member_in(tx, program_id, member_id, fields).await?;
                    // A registered member changing the value confirms a step done before.
                    step_done_in(tx, member_id, step).await?;
                    match rotate {
                        Some((token, ttls)) => Ok(Ok(Some(rotate_in(tx, owner, &token, ttls).await?))),
                        None => Ok(Ok(None)),
                    }
                })
            })
            .await?;
        Ok(checked?)
    }

    /// Sets the first password (the `PasswordRequired` step while registering) and
    /// replaces the member's token by a new pair; one transaction. A member who has a
    /// password already is refused with [`StoreError::PasswordSet`].
    pub async fn set_first_password(
        &self,
        owner: TokenOwner,
        password_hash: String,
        token: String,
        ttls: Ttls,
    ) -> Result<TokenPair, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let member = member_in_tx(tx, owner.program_id, owner.member_id).await?;
                if member.state == MemberState::Registering {
                    complete_step_in(tx, member.id, Step::PasswordRequired).await?;
                } else if has_password_in(tx, member.id).await? {
                    return Err(StoreError::PasswordSet);
                }
                store_password(tx, member.id, &password_hash).await?;
                rotate_in(tx, owner, &token, ttls).await
            })
        })
        .await
    }

    /// Finishes the registration when no required step is missing — the member becomes
    /// active, the hooks run, the token is replaced by a new pair — in one transaction;
    /// the missing steps otherwise (and nothing changes).
    pub async fn finish_registration(
        &self,
        owner: TokenOwner,
        settings: &RegistrationSettings,
        token: String,
        ttls: Ttls,
    ) -> Result<Result<TokenPair, Vec<Step>>, StoreError> {
        let settings = settings.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let (program_id, member_id) = (owner.program_id, owner.member_id);
                lock_member(tx, program_id, member_id).await?;
                let missing = settings.missing(&done_steps_in(tx, member_id).await?);
                if !missing.is_empty() {
                    return Ok(Err(missing));
                }
                let active = MemberFields {
                    state: Some(MemberState::Active),
                    ..Default::default()
                };
                update_member_in(tx, program_id, member_id, active).await?;
                hooks::run(tx, program_id, Happening::RegistrationFinished { member_id }).await?;
                Ok(Ok(rotate_in(tx, owner, &token, ttls).await?))
            })
        })
        .await
    }

    pub async fn done_steps(&self, member_id: i64) -> Result<Vec<Step>, StoreError> {
        let rows = sqlx::query("SELECT step FROM registration_steps WHERE member_id = $1")
            .bind(member_id)
            .fetch_all(self.reads())
            .await?;
        Ok(steps_of(&rows))
    }

    /// Marks a step done; a step is done once (a repeat is [`StoreError::StepDone`]).
    pub async fn complete_step(&self, program_id: i64, member_id: i64, step: Step) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                lock_member(tx, program_id, member_id).await?;
                complete_step_in(tx, member_id, step).await
            })
        })
        .await
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

    /// Stores answers (already checked), replacing earlier answers to the same questions,
    /// and marks the `Questions` step done; one transaction.
    pub async fn save_answers(&self, program_id: i64, member_id: i64, given: Vec<Answer>) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                lock_member(tx, program_id, member_id).await?;
                let row = sqlx::query("SELECT answers FROM member_answers WHERE member_id = $1")
                    .bind(member_id)
                    .fetch_optional(tx.conn())
                    .await?;
                let mut answers: Vec<Answer> = match row {
                    Some(row) => serde_json::from_str(&row.try_get::<String, _>(0)?)?,
                    None => Vec::new(),
                };
                answers.retain(|a| !given.iter().any(|g| g.question_id == a.question_id));
                answers.extend(given);
                sqlx::query(
                    "INSERT INTO member_answers (member_id, answers, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (member_id) DO UPDATE SET answers = excluded.answers, updated_at = excluded.updated_at",
                )
                .bind(member_id)
                .bind(serde_json::to_string(&answers)?)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                step_done_in(tx, member_id, Step::Questions).await
            })
        })
        .await
    }

    /// A JSON document kept in one row, or the type's default when there is none.
    pub(crate) async fn json_of<T: DeserializeOwned + Default>(&self, sql: &str, id: i64) -> Result<T, StoreError> {
        match sqlx::query(sql).bind(id).fetch_optional(self.reads()).await? {
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
                tx.changes_config().await
            })
        })
        .await
    }
}
