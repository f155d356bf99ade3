//! Members and their identifiers.

use crate::{found, outbox, Store, StoreError, Tx};
use accrue_core::member::{
    normalize_email, normalize_phone, normalize_text, referral_code, IdentifierError, MemberState, REFERRAL_CODE_LEN,
};
use accrue_core::outbox::EventType;
use accrue_core::Millis;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: i64,
    pub program_id: i64,
    pub state: MemberState,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub login: Option<String>,
    pub referral_code: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// External ids by source, e.g. `{"imshop": "u-42"}`.
    pub external_ids: BTreeMap<String, String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The fields of a member. Creating takes them as the new member; updating changes
/// only the fields given (`None` leaves one as it is) and merges the attributes and
/// external ids given into the existing ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberFields {
    /// `active` when a new member has none.
    pub state: Option<MemberState>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub login: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// External ids by source, e.g. `{"imshop": "u-42"}`.
    pub external_ids: BTreeMap<String, String>,
}

/// One way to find a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberSearch {
    Phone(String),
    Email(String),
    Login(String),
    ExternalId { source: String, id: String },
    Card(String),
    ReferralCode(String),
}

const COLUMNS: &str = "id, program_id, state, phone, email, login, referral_code, first_name, \
     last_name, attributes, created_at, updated_at";

fn invalid(e: IdentifierError) -> StoreError {
    StoreError::Invalid(e.to_string())
}

/// The identifiers of a member, normalised and validated.
struct Identifiers {
    phone: Option<String>,
    email: Option<String>,
    login: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    external_ids: BTreeMap<String, String>,
}

impl Identifiers {
    fn normalize(region: &str, f: &MemberFields) -> Result<Identifiers, StoreError> {
        let text = |field, value: Option<&str>, max| value.map(|v| normalize_text(field, v, max)).transpose();
        let mut ids = BTreeMap::new();
        for (source, id) in &f.external_ids {
            ids.insert(
                normalize_text("external id source", source, 64).map_err(invalid)?,
                normalize_text("external id", id, 255).map_err(invalid)?,
            );
        }
        Ok(Identifiers {
            phone: f
                .phone
                .as_deref()
                .map(|p| normalize_phone(p, region))
                .transpose()
                .map_err(invalid)?,
            email: f.email.as_deref().map(normalize_email).transpose().map_err(invalid)?,
            login: text("login", f.login.as_deref(), 255).map_err(invalid)?,
            first_name: text("first name", f.first_name.as_deref(), 200).map_err(invalid)?,
            last_name: text("last name", f.last_name.as_deref(), 200).map_err(invalid)?,
            external_ids: ids,
        })
    }
}

async fn member_from(tx_or_pool: impl sqlx::AnyExecutor<'_>, row: &AnyRow) -> Result<Member, StoreError> {
    let id: i64 = row.try_get("id")?;
    let ids = sqlx::query("SELECT source, external_id FROM member_external_ids WHERE member_id = $1")
        .bind(id)
        .fetch_all(tx_or_pool)
        .await?;
    let state: String = row.try_get("state")?;
    let attributes: String = row.try_get("attributes")?;
    Ok(Member {
        id,
        program_id: row.try_get("program_id")?,
        state: MemberState::parse(&state).ok_or_else(|| StoreError::Internal(format!("bad member state {state}")))?,
        phone: row.try_get("phone")?,
        email: row.try_get("email")?,
        login: row.try_get("login")?,
        referral_code: row.try_get("referral_code")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        attributes: serde_json::from_str(&attributes)?,
        external_ids: ids
            .iter()
            .map(|r| Ok((r.try_get("source")?, r.try_get("external_id")?)))
            .collect::<Result<_, sqlx::Error>>()?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Refuses identifiers that another member of the program already has.
async fn ensure_free(tx: &mut Tx, program_id: i64, member_id: i64, ids: &Identifiers) -> Result<(), StoreError> {
    for (column, value) in [("phone", &ids.phone), ("email", &ids.email), ("login", &ids.login)] {
        let Some(value) = value else { continue };
        let taken = sqlx::query(&format!(
            "SELECT id FROM members WHERE program_id = $1 AND {column} = $2 AND id <> $3"
        ))
        .bind(program_id)
        .bind(value)
        .bind(member_id)
        .fetch_optional(tx.conn())
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "{column} {value} belongs to another member"
            )));
        }
    }
    for (source, id) in &ids.external_ids {
        let taken = sqlx::query(
            "SELECT member_id FROM member_external_ids WHERE program_id = $1 AND source = $2 AND external_id = $3 AND member_id <> $4",
        )
        .bind(program_id)
        .bind(source)
        .bind(id)
        .bind(member_id)
        .fetch_optional(tx.conn())
        .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "external id {source}:{id} belongs to another member"
            )));
        }
    }
    Ok(())
}

async fn save_external_ids(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    ids: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    for (source, id) in ids {
        sqlx::query("DELETE FROM member_external_ids WHERE member_id = $1 AND source = $2")
            .bind(member_id)
            .bind(source)
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "INSERT INTO member_external_ids (program_id, source, external_id, member_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(program_id)
        .bind(source)
        .bind(id)
        .bind(member_id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::unique(format!(
            "external id {source}:{id} belongs to another member"
        )))?;
    }
    Ok(())
}

async fn unused_referral_code(tx: &mut Tx, program_id: i64) -> Result<String, StoreError> {
    loop {
        let mut random = [0_u8; REFERRAL_CODE_LEN];
        rand::thread_rng().fill_bytes(&mut random);
        let code = referral_code(random);
        let taken = sqlx::query("SELECT id FROM members WHERE program_id = $1 AND referral_code = $2")
            .bind(program_id)
            .bind(&code)
            .fetch_optional(tx.conn())
            .await?;
        if taken.is_none() {
            return Ok(code);
        }
    }
}

/// How the program reads phone numbers without a country code.
async fn phone_region<'e>(db: impl sqlx::AnyExecutor<'e>, program_id: i64) -> Result<String, StoreError> {
    let row = sqlx::query("SELECT phone_region FROM programs WHERE id = $1")
        .bind(program_id)
        .fetch_optional(db)
        .await?
        .ok_or(StoreError::NotFound("program"))?;
    Ok(row.try_get(0)?)
}

/// The member, locked for the rest of the transaction where the database has locks.
pub(crate) async fn member_in_tx(tx: &mut Tx, program_id: i64, id: i64) -> Result<Member, StoreError> {
    let row = locked_member_row(tx, program_id, id, COLUMNS).await?;
    member_from(tx.conn(), &row).await
}

/// Locks the member for the rest of the transaction (where the database has locks) and
/// returns its state: one statement, for writes that need no more of the member.
pub(crate) async fn lock_member(tx: &mut Tx, program_id: i64, id: i64) -> Result<MemberState, StoreError> {
    if let Some((_, state)) = tx.locked_members.iter().find(|(member, _)| *member == (program_id, id)) {
        return Ok(*state);
    }
    let row = locked_member_row(tx, program_id, id, "state").await?;
    let state: String = row.try_get(0)?;
    let state = MemberState::parse(&state).ok_or_else(|| StoreError::Internal(format!("bad member state {state}")))?;
    locked(tx, program_id, id, state);
    Ok(state)
}

/// Remembers that this write locked the member, found in `state`.
pub(crate) fn locked(tx: &mut Tx, program_id: i64, id: i64, state: MemberState) {
    if !holds_member_lock(tx, program_id, id) {
        tx.locked_members.push(((program_id, id), state));
    }
}

/// Whether this write has locked the member.
pub(crate) fn holds_member_lock(tx: &Tx, program_id: i64, id: i64) -> bool {
    tx.locked_members.iter().any(|(member, _)| *member == (program_id, id))
}

/// `columns` of the member's row, locked where the database has locks.
async fn locked_member_row(
    tx: &mut Tx,
    program_id: i64,
    id: i64,
    columns: &str,
) -> Result<sqlx::any::AnyRow, StoreError> {
    let sql = format!(
        "SELECT {columns} FROM members WHERE program_id = $1 AND id = $2{}",
        tx.for_update()
    );
    sqlx::query(&sql)
        .bind(program_id)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("member"))
}

/// Tells subscribed webhook endpoints about a member.
async fn announce(tx: &mut Tx, member: &Member, event: EventType) -> Result<(), StoreError> {
    let endpoints = outbox::subscribers(tx, member.program_id, event, None).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let data = serde_json::json!({ "member": {
        "id": member.id,
        "state": member.state,
        "phone": member.phone,
        "email": member.email,
        "login": member.login,
        "referral_code": member.referral_code,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "attributes": member.attributes,
        "external_ids": member.external_ids,
        "created_at": outbox::rfc3339(member.created_at),
        "updated_at": outbox::rfc3339(member.updated_at),
    }});
    outbox::emit_to(tx, member.program_id, &endpoints, event, data).await
}

/// Creates a member in `tx`, announcing it.
pub(crate) async fn create_member_in(tx: &mut Tx, program_id: i64, new: MemberFields) -> Result<Member, StoreError> {
    let region = phone_region(tx.conn(), program_id).await?;
    let ids = Identifiers::normalize(&region, &new)?;
    ensure_free(tx, program_id, 0, &ids).await?;
    let code = unused_referral_code(tx, program_id).await?;
    let state = new.state.unwrap_or(MemberState::Active);
    let row = sqlx::query(
        "INSERT INTO members (program_id, state, phone, email, login, referral_code, first_name, \
         last_name, attributes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(program_id)
    .bind(state.as_str())
    .bind(&ids.phone)
    .bind(&ids.email)
    .bind(&ids.login)
    .bind(&code)
    .bind(&ids.first_name)
    .bind(&ids.last_name)
    .bind(serde_json::Value::Object(new.attributes).to_string())
    .bind(tx.now)
    .fetch_one(tx.conn())
    .await
    .map_err(StoreError::unique(
        "an identifier of this member belongs to another member",
    ))?;
    let id: i64 = row.try_get(0)?;
    save_external_ids(tx, program_id, id, &ids.external_ids).await?;
    let member = member_in_tx(tx, program_id, id).await?;
    announce(tx, &member, EventType::MemberRegistered).await?;
    Ok(member)
}

/// Updates a member in `tx`, announcing it.
pub(crate) async fn update_member_in(
    tx: &mut Tx,
    program_id: i64,
    id: i64,
    update: MemberFields,
) -> Result<Member, StoreError> {
    let member = member_in_tx(tx, program_id, id).await?;
    let region = phone_region(tx.conn(), program_id).await?;
    let ids = Identifiers::normalize(&region, &update)?;
    ensure_free(tx, program_id, id, &ids).await?;
    let mut attributes = member.attributes.clone();
    let changed: Vec<(String, serde_json::Value)> = update
        .attributes
        .iter()
        .filter(|(name, value)| member.attributes.get(*name) != Some(*value))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    attributes.extend(update.attributes);
    let rows = sqlx::query(
        "UPDATE members SET state = $1, phone = $2, email = $3, login = $4, first_name = $5, \
         last_name = $6, attributes = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(update.state.unwrap_or(member.state).as_str())
    .bind(ids.phone.or(member.phone))
    .bind(ids.email.or(member.email))
    .bind(ids.login.or(member.login))
    .bind(ids.first_name.or(member.first_name))
    .bind(ids.last_name.or(member.last_name))
    .bind(serde_json::Value::Object(attributes).to_string())
    .bind(tx.now)
    .bind(id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::unique(
        "an identifier of this member belongs to another member",
    ))?;
    found(rows.rows_affected(), "member")?;
    // The state remembered with this write's lock of the member is stale now.
    tx.locked_members.retain(|(member, _)| *member != (program_id, id));
    save_external_ids(tx, program_id, id, &ids.external_ids).await?;
    let member = member_in_tx(tx, program_id, id).await?;
    announce(tx, &member, EventType::MemberUpdated).await?;
    for (name, value) in changed {
        crate::events::attribute_changed_in(tx, program_id, id, name, value).await?;
    }
    Ok(member)
}

impl Store {
    pub async fn create_member(&self, program_id: i64, new: MemberFields) -> Result<Member, StoreError> {
        self.write(move |tx| Box::pin(create_member_in(tx, program_id, new)))
            .await
    }

    pub async fn member(&self, program_id: i64, id: i64) -> Result<Member, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM members WHERE program_id = $1 AND id = $2"
        ))
        .bind(program_id)
        .bind(id)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("member"))?;
        member_from(self.reads(), &row).await
    }

    pub async fn find_member(&self, program_id: i64, search: MemberSearch) -> Result<Member, StoreError> {
        let region = phone_region(self.reads(), program_id).await?;
        let (sql, values) = match search {
            MemberSearch::Phone(p) => ("phone = $2", vec![normalize_phone(&p, &region).map_err(invalid)?]),
            MemberSearch::Email(e) => ("email = $2", vec![normalize_email(&e).map_err(invalid)?]),
            MemberSearch::Login(l) => ("login = $2", vec![l.trim().to_string()]),
            MemberSearch::ReferralCode(c) => ("referral_code = $2", vec![c.trim().to_uppercase()]),
            MemberSearch::Card(n) => (
                "id = (SELECT member_id FROM cards WHERE program_id = $1 AND number = $2)",
                vec![n.trim().to_string()],
            ),
            MemberSearch::ExternalId { source, id } => (
                "id = (SELECT member_id FROM member_external_ids WHERE program_id = $1 AND source = $2 AND external_id = $3)",
                vec![source, id],
            ),
        };
        let sql = format!("SELECT {COLUMNS} FROM members WHERE program_id = $1 AND {sql}");
        let mut query = sqlx::query(&sql).bind(program_id);
        for v in values {
            query = query.bind(v);
        }
        let row = query
            .fetch_optional(self.reads())
            .await?
            .ok_or(StoreError::NotFound("member"))?;
        member_from(self.reads(), &row).await
    }

    /// Members of a program, newest first.
    pub async fn members(&self, program_id: i64, offset: i64, count: i64) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM members WHERE program_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(program_id)
        .bind(count)
        .bind(offset)
        .fetch_all(self.reads())
        .await?;
        let mut members = Vec::with_capacity(rows.len());
        for row in &rows {
            members.push(member_from(self.reads(), row).await?);
        }
        Ok(members)
    }

    pub async fn update_member(&self, program_id: i64, id: i64, update: MemberFields) -> Result<Member, StoreError> {
        self.write(move |tx| Box::pin(update_member_in(tx, program_id, id, update)))
            .await
    }
}
