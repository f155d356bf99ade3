//! The Integra partner API's records: partners, their users (each a member of the
//! partner's program), payments, cabinet sessions and Yandex.Metrika counters.
//!
//! Keys are sealed (Accrue must use them in clear to open calls); cabinet tokens are
//! kept as SHA-256. A user hash is unique across partners, and a call's identity is
//! always looked up within the partner its path names.

use crate::ledger::{accrue_in, withdraw_in, Cause, Lifetime, Movement};
use crate::notifications::{notification, Notification, COLUMNS};
use crate::outbox::{enqueue, NewMessage};
use crate::{found, Store, StoreError, Tx};
use accrue_core::integra::Scheme;
use accrue_core::money::format_minor;
use accrue_core::mustache;
use accrue_core::outbox::MessageKind;
use accrue_core::template::UrlTemplate;
use accrue_core::Millis;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

/// The placeholders a `paymentNotifyUrl` may use.
pub const NOTIFY_PLACEHOLDERS: [&str; 3] = ["id", "amount", "hash"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerSettings {
    /// Addresses or networks the partner may call from; any when empty.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// The partner's page that holds the cabinet's iframe: links to the cabinet's pages
    /// in messages open `module_url?open=go/payment` there.
    #[serde(default)]
    pub module_url: Option<String>,
    /// Origins that may show the cabinet in a frame; any when empty.
    #[serde(default)]
    pub frame_ancestors: Vec<String>,
    /// How long a top-up waits for the partner's confirmation.
    #[serde(default = "default_payment_ttl")]
    pub payment_ttl_minutes: i64,
    /// How long a cabinet session made by `cryptLogin` lasts.
    #[serde(default = "default_session")]
    pub session_minutes: i64,
    /// The partner's time zone, as an offset from UTC: days of `getFinSummaryByDate`.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// A user is sent a `low_balance` message when a refund leaves less than this
    /// (minor units); never when absent.
    #[serde(default)]
    pub low_balance_below: Option<i64>,
    /// The cabinet's support and help pages (plain text; paragraphs by blank lines).
    #[serde(default)]
    pub support_text: String,
    #[serde(default)]
    pub help_text: String,
}

fn default_payment_ttl() -> i64 {
    24 * 60
}

fn default_session() -> i64 {
    60
}

impl Default for PartnerSettings {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Map::new())).expect("every field has a default")
    }
}

impl PartnerSettings {
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |m: &str| Err(StoreError::Invalid(m.into()));
        if !(1..=60 * 24 * 30).contains(&self.payment_ttl_minutes) {
            return invalid("payment_ttl_minutes must be 1 to 43200");
        }
        if !(1..=24 * 60).contains(&self.session_minutes) {
            return invalid("session_minutes must be 1 to 1440");
        }
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return invalid("utc_offset_minutes must be within ±840");
        }
        let origin_ok = |o: &String| {
            o == "'self'"
                || ((o.starts_with("https://") || o.starts_with("http://"))
                    && o.len() <= 256
                    && !o.contains(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '\''))
        };
        if !self.frame_ancestors.iter().all(origin_ok) {
            return invalid("frame_ancestors are origins such as https://partner.example, or 'self'");
        }
        if let Some(url) = &self.module_url {
            if UrlTemplate::parse(url, &[]).is_err() {
                return invalid("module_url must be an http(s) URL without placeholders");
            }
        }
        if self.low_balance_below.is_some_and(|b| b <= 0) {
            return invalid("low_balance_below must be greater than zero");
        }
        if self.support_text.len() > 20_000 || self.help_text.len() > 20_000 {
            return invalid("support_text and help_text have at most 20000 characters");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partner {
    pub id: i64,
    pub program_id: i64,
    pub currency_id: i64,
    pub path: String,
    pub name: String,
    pub hash: String,
    pub scheme: Scheme,
    pub settings: PartnerSettings,
    pub created_at: Millis,
    #[serde(skip)]
    sealed_key: String,
}

impl Partner {
    /// The partner's cryptKey in clear.
    pub fn crypt_key(&self, store: &Store) -> Result<String, StoreError> {
        store.sealer().open(&self.sealed_key).map_err(StoreError::Internal)
    }
}

#[derive(Debug, Clone)]
pub struct NewPartner {
    pub program_id: i64,
    pub currency_id: i64,
    pub path: String,
    pub name: String,
    pub scheme: Scheme,
    pub settings: PartnerSettings,
}

#[derive(Debug, Clone, Default)]
pub struct PartnerUpdate {
    pub name: Option<String>,
    pub scheme: Option<Scheme>,
    pub settings: Option<PartnerSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegraUser {
    pub id: i64,
    pub partner_id: i64,
    pub member_id: i64,
    pub login: String,
    pub hash: String,
    pub url: Option<String>,
    pub inviter_user_id: Option<String>,
    pub keywords: Vec<String>,
    pub monthly_budget: i64,
    pub archived_at: Option<Millis>,
    pub created_at: Millis,
    #[serde(skip)]
    sealed_key: String,
}

impl IntegraUser {
    pub fn crypt_key(&self, store: &Store) -> Result<String, StoreError> {
        store.sealer().open(&self.sealed_key).map_err(StoreError::Internal)
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewIntegraUser {
    pub login: String,
    pub hash: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub url: Option<String>,
    pub inviter_user_id: Option<String>,
}

/// Who a call's hash names, within the partner of its path.
#[derive(Debug, Clone)]
pub enum Identity {
    Partner,
    User(IntegraUser),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: i64,
    pub partner_id: i64,
    pub user_id: i64,
    /// `direct` (doPayment) or `top_up` (started in the cabinet).
    pub kind: String,
    /// The partner's paymentHash, or the transaction id of a top-up.
    pub reference: String,
    /// Minor units; negative for a refund.
    pub amount: i64,
    pub bonus: i64,
    /// direct: `posted`; top_up: `pending`, then `confirmed`, `declined` or `expired`.
    pub state: String,
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
    pub decided_at: Option<Millis>,
}

/// A partner's answer to a top-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Credit the amount, which must be the one asked for.
    Confirm {
        amount: i64,
    },
    Decline,
}

/// A cabinet session: who it is for, and where top-ups are announced.
#[derive(Debug, Clone)]
pub struct CabinetSession {
    /// The token in the cabinet's URLs.
    pub token: String,
    pub partner: Partner,
    pub user: IntegraUser,
    pub payment_notify_url: Option<String>,
    pub expires_at: Millis,
}

/// Money in and out of a user's wallet over a period, and the balance at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Movements {
    pub balance_at_end: i64,
    pub income: i64,
    /// Zero or less.
    pub outcome: i64,
}

/// An unread message of a partner's user, with the template it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntegraMessage {
    pub id: i64,
    pub login: String,
    pub kind: Option<String>,
    pub title: String,
    pub text: String,
    pub params: Value,
    pub template_id: Option<i64>,
    pub title_template: Option<String>,
    pub text_template: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationTemplate {
    pub id: i64,
    pub kind: String,
    pub title_template: String,
    pub text_template: String,
}

/// The templates every program starts with (its partners' users get these).
pub const DEFAULT_TEMPLATES: [(&str, &str, &str); 3] = [
    (
        "low_balance",
        "Баланс заканчивается",
        "На счёте осталось {{balance}}. Чтобы пополнить баланс, перейдите по <a target=\"_blank\" href=\"{{go/payment}}\">ссылке</a>.",
    ),
    (
        "payment_confirmed",
        "Счёт пополнен",
        "Зачислено {{amount}}. Баланс: {{balance}}.",
    ),
    (
        "payment_declined",
        "Пополнение отклонено",
        "Пополнение на {{amount}} не прошло. Если нужна помощь, напишите в <a href=\"{{go/support}}\">поддержку</a>.",
    ),
];

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `len` random characters of `alphabet`.
fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// A new identity hash: 32 lowercase hex digits, like the MD5 sums partners make.
pub fn new_hash() -> String {
    random_text(b"0123456789abcdef", 32)
}

/// A new cryptKey: 52 lowercase letters and digits (268 bits).
pub fn new_crypt_key() -> String {
    random_text(
        b"abcdefghijklmnopqrstuvwxyz0123456789",
        accrue_core::integra::CRYPT_KEY_LEN,
    )
}

const PARTNER_COLUMNS: &str = "id, program_id, currency_id, path, name, hash, scheme, settings, created_at, crypt_key";

fn partner_from(row: &AnyRow) -> Result<Partner, StoreError> {
    let scheme: String = row.try_get(6)?;
    Ok(Partner {
        id: row.try_get(0)?,
        program_id: row.try_get(1)?,
        currency_id: row.try_get(2)?,
        path: row.try_get(3)?,
        name: row.try_get(4)?,
        hash: row.try_get(5)?,
        scheme: Scheme::parse(&scheme).ok_or_else(|| StoreError::Internal(format!("unknown scheme {scheme}")))?,
        settings: serde_json::from_str(&row.try_get::<String, _>(7)?)?,
        created_at: row.try_get(8)?,
        sealed_key: row.try_get(9)?,
    })
}

const USER_COLUMNS: &str = "id, partner_id, member_id, login, hash, url, inviter_user_id, keywords, \
                            monthly_budget, archived_at, created_at, crypt_key";

fn user_from(row: &AnyRow) -> Result<IntegraUser, StoreError> {
    Ok(IntegraUser {
        id: row.try_get(0)?,
        partner_id: row.try_get(1)?,
        member_id: row.try_get(2)?,
        login: row.try_get(3)?,
        hash: row.try_get(4)?,
        url: row.try_get(5)?,
        inviter_user_id: row.try_get(6)?,
        keywords: serde_json::from_str(&row.try_get::<String, _>(7)?)?,
        monthly_budget: row.try_get(8)?,
        archived_at: row.try_get(9)?,
        created_at: row.try_get(10)?,
        sealed_key: row.try_get(11)?,
    })
}

const PAYMENT_COLUMNS: &str =
    "id, partner_id, user_id, kind, reference, amount, bonus, state, expires_at, created_at, decided_at";

fn payment_from(row: &AnyRow) -> Result<Payment, StoreError> {
    Ok(Payment {
        id: row.try_get(0)?,
        partner_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        kind: row.try_get(3)?,
        reference: row.try_get(4)?,
        amount: row.try_get(5)?,
        bonus: row.try_get(6)?,
        state: row.try_get(7)?,
        expires_at: row.try_get(8)?,
        created_at: row.try_get(9)?,
        decided_at: row.try_get(10)?,
    })
}

async fn user_in(tx: &mut Tx, user_id: i64) -> Result<IntegraUser, StoreError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM integra_users WHERE id = $1"))
        .bind(user_id)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref()
        .map(user_from)
        .transpose()?
        .ok_or(StoreError::NotFound("user"))
}

async fn payment_in(tx: &mut Tx, partner_id: i64, reference: &str) -> Result<Option<Payment>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM integra_payments WHERE partner_id = $1 AND reference = $2"
    ))
    .bind(partner_id)
    .bind(reference)
    .fetch_optional(tx.conn())
    .await?;
    row.as_ref().map(payment_from).transpose()
}

/// A movement of the partner's currency for the user's member; its description is what
/// the cabinet's history shows, the payment's reference goes with its event.
fn movement(partner: &Partner, user: &IntegraUser, amount: i64, description: String, reference: &str) -> Movement {
    Movement {
        member_id: user.member_id,
        currency_id: partner.currency_id,
        amount,
        card: None,
        description,
        cause: Cause::operation(&format!("integra:{reference}")),
    }
}

/// Seeds the program's default message templates (kept when it has its own).
async fn seed_templates(tx: &mut Tx, program_id: i64) -> Result<(), StoreError> {
    for (kind, title, text) in DEFAULT_TEMPLATES {
        sqlx::query(
            "INSERT INTO notification_templates (program_id, kind, title_template, text_template, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, kind) DO NOTHING",
        )
        .bind(program_id)
        .bind(kind)
        .bind(title)
        .bind(text)
        .bind(tx.now)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// Writes a message of `kind` to a member from the program's template, rendered with
/// `params`; links to cabinet pages stay as `{{go/…}}` for whoever shows it.
pub(crate) async fn send_templated_in(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    kind: &str,
    params: Map<String, Value>,
) -> Result<Notification, StoreError> {
    let row = sqlx::query(
        "SELECT id, title_template, text_template FROM notification_templates WHERE program_id = $1 AND kind = $2",
    )
    .bind(program_id)
    .bind(kind)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("message template"))?;
    let template_id: i64 = row.try_get(0)?;
    let keep_links = |_: &str| None;
    let render = |source: String| -> Result<String, StoreError> {
        let template = mustache::Template::parse(&source).map_err(StoreError::Internal)?;
        Ok(template.render(&params, &keep_links))
    };
    let title = render(row.try_get(1)?)?;
    let text = render(row.try_get(2)?)?;
    let row = sqlx::query(&format!(
        "INSERT INTO notifications (program_id, member_id, title, body, summary, created_at, kind, params, template_id) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(program_id)
    .bind(member_id)
    .bind(&title)
    .bind(&text)
    .bind(tx.now)
    .bind(kind)
    .bind(Value::Object(params.clone()).to_string())
    .bind(template_id)
    .fetch_one(tx.conn())
    .await?;
    notification(&row)
}

impl Store {
    /// Registers a partner; returns it and its cryptKey (shown once).
    pub async fn create_partner(&self, new: NewPartner) -> Result<(Partner, String), StoreError> {
        new.settings.validate()?;
        check_path(&new.path)?;
        let key = new_crypt_key();
        let sealed = self.sealer().seal(&key);
        let partner = self
            .write(move |tx| {
                Box::pin(async move {
                    let row = sqlx::query(&format!(
                        "INSERT INTO integra_partners (program_id, currency_id, path, name, hash, crypt_key, scheme, \
                         settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                         RETURNING {PARTNER_COLUMNS}"
                    ))
                    .bind(new.program_id)
                    .bind(new.currency_id)
                    .bind(&new.path)
                    .bind(&new.name)
                    .bind(new_hash())
                    .bind(&sealed)
                    .bind(new.scheme.as_str())
                    .bind(serde_json::to_string(&new.settings)?)
                    .bind(tx.now)
                    .fetch_one(tx.conn())
                    .await
                    .map_err(StoreError::unique("a partner has this path already"))?;
                    seed_templates(tx, new.program_id).await?;
                    partner_from(&row)
                })
            })
            .await?;
        Ok((partner, key))
    }

    pub async fn partners(&self) -> Result<Vec<Partner>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {PARTNER_COLUMNS} FROM integra_partners ORDER BY id"))
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(partner_from).collect()
    }

    pub async fn partner(&self, path: &str) -> Result<Partner, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PARTNER_COLUMNS} FROM integra_partners WHERE path = $1"
        ))
        .bind(path)
        .fetch_optional(self.reads())
        .await?;
        row.as_ref()
            .map(partner_from)
            .transpose()?
            .ok_or(StoreError::NotFound("partner"))
    }

    pub async fn update_partner(&self, path: &str, update: PartnerUpdate) -> Result<Partner, StoreError> {
        let mut partner = self.partner(path).await?;
        if let Some(settings) = update.settings {
            settings.validate()?;
            partner.settings = settings;
        }
        partner.name = update.name.unwrap_or(partner.name);
        partner.scheme = update.scheme.unwrap_or(partner.scheme);
        let saved = partner.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE integra_partners SET name = $2, scheme = $3, settings = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(saved.id)
                .bind(&saved.name)
                .bind(saved.scheme.as_str())
                .bind(serde_json::to_string(&saved.settings)?)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                found(done.rows_affected(), "partner")
            })
        })
        .await?;
        Ok(partner)
    }

    /// Gives the partner a new cryptKey (shown once); the old one stops working.
    pub async fn rotate_partner_key(&self, path: &str) -> Result<String, StoreError> {
        let partner = self.partner(path).await?;
        let key = new_crypt_key();
        let sealed = self.sealer().seal(&key);
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("UPDATE integra_partners SET crypt_key = $2, updated_at = $3 WHERE id = $1")
                    .bind(partner.id)
                    .bind(&sealed)
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await?;
        Ok(key)
    }

    /// Who `hash` is within the partner: the partner itself or one of its users.
    pub async fn integra_identity(&self, partner: &Partner, hash: &str) -> Result<Option<Identity>, StoreError> {
        if accrue_core::signature::constant_time_eq(hash.as_bytes(), partner.hash.as_bytes()) {
            return Ok(Some(Identity::Partner));
        }
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM integra_users WHERE partner_id = $1 AND hash = $2"
        ))
        .bind(partner.id)
        .bind(hash)
        .fetch_optional(self.reads())
        .await?;
        Ok(row.as_ref().map(user_from).transpose()?.map(Identity::User))
    }

    pub async fn integra_user(&self, partner: &Partner, hash: &str) -> Result<IntegraUser, StoreError> {
        match self.integra_identity(partner, hash).await? {
            Some(Identity::User(user)) => Ok(user),
            _ => Err(StoreError::NotFound("user")),
        }
    }

    /// Registers a partner's user as a member of the partner's program; returns it and
    /// its cryptKey. A hash in use anywhere is [`StoreError::Conflict`]; a login the
    /// partner used already, or an e-mail or phone of another member, is invalid.
    pub async fn create_integra_user(
        &self,
        partner: &Partner,
        new: NewIntegraUser,
    ) -> Result<(IntegraUser, String), StoreError> {
        let key = new_crypt_key();
        let sealed = self.sealer().seal(&key);
        let (partner_id, program_id) = (partner.id, partner.program_id);
        let user = self
            .write(move |tx| {
                Box::pin(async move {
                    let taken = sqlx::query(
                        "SELECT 1 FROM integra_users WHERE hash = $1 UNION ALL SELECT 1 FROM integra_partners WHERE hash = $1",
                    )
                    .bind(&new.hash)
                    .fetch_optional(tx.conn())
                    .await?;
                    if taken.is_some() {
                        return Err(StoreError::Conflict("this user hash is taken; generate a new one".into()));
                    }
                    let fields = crate::MemberFields {
                        email: new.email.clone(),
                        phone: new.phone.clone(),
                        external_ids: BTreeMap::from([(format!("integra:{partner_id}"), new.login.clone())]),
                        ..Default::default()
                    };
                    let member = crate::members::create_member_in(tx, program_id, fields)
                        .await
                        .map_err(|e| match e {
                            // The login is the member's external id under an internal name.
                            StoreError::Conflict(m) if m.starts_with("external id") => {
                                StoreError::Invalid(format!("username {} is taken", new.login))
                            }
                            StoreError::Conflict(m) => StoreError::Invalid(m),
                            e => e,
                        })?;
                    let row = sqlx::query(&format!(
                        "INSERT INTO integra_users (partner_id, member_id, login, hash, crypt_key, url, inviter_user_id, \
                         keywords, monthly_budget, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, '[]', 0, $8) \
                         RETURNING {USER_COLUMNS}"
                    ))
                    .bind(partner_id)
                    .bind(member.id)
                    .bind(&new.login)
                    .bind(&new.hash)
                    .bind(&sealed)
                    .bind(&new.url)
                    .bind(&new.inviter_user_id)
                    .bind(tx.now)
                    .fetch_one(tx.conn())
                    .await
                    .map_err(StoreError::on_unique(StoreError::Invalid(
                        "a user of this partner has this login already".into(),
                    )))?;
                    user_from(&row)
                })
            })
            .await?;
        Ok((user, key))
    }

    /// A page of the partner's users, oldest first.
    pub async fn integra_users(
        &self,
        partner_id: i64,
        offset: i64,
        count: i64,
    ) -> Result<Vec<IntegraUser>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM integra_users WHERE partner_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
        ))
        .bind(partner_id)
        .bind(count)
        .bind(offset)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(user_from).collect()
    }

    /// Archives a user (or brings one back); returns the user as it is now.
    pub async fn set_integra_archived(&self, user_id: i64, archived: bool) -> Result<IntegraUser, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let sql = if archived {
                    "UPDATE integra_users SET archived_at = COALESCE(archived_at, $2) WHERE id = $1"
                } else {
                    "UPDATE integra_users SET archived_at = NULL WHERE id = $1 AND $2 > 0"
                };
                sqlx::query(sql).bind(user_id).bind(tx.now).execute(tx.conn()).await?;
                user_in(tx, user_id).await
            })
        })
        .await
    }

    /// Sets the user's project URL; returns the one before.
    pub async fn change_integra_url(&self, user_id: i64, url: String) -> Result<Option<String>, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let old = user_in(tx, user_id).await?.url;
                sqlx::query("UPDATE integra_users SET url = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(&url)
                    .execute(tx.conn())
                    .await?;
                Ok(old)
            })
        })
        .await
    }

    /// Sets what the operator knows of a user's campaign: keywords, monthly budget.
    pub async fn set_integra_campaign(
        &self,
        user_id: i64,
        keywords: Option<Vec<String>>,
        monthly_budget: Option<i64>,
    ) -> Result<IntegraUser, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let user = user_in(tx, user_id).await?;
                let keywords = keywords.unwrap_or(user.keywords);
                sqlx::query("UPDATE integra_users SET keywords = $2, monthly_budget = $3 WHERE id = $1")
                    .bind(user_id)
                    .bind(serde_json::to_string(&keywords)?)
                    .bind(monthly_budget.unwrap_or(user.monthly_budget))
                    .execute(tx.conn())
                    .await?;
                user_in(tx, user_id).await
            })
        })
        .await
    }

    /// Keeps a Yandex.Metrika counter of the user (its token sealed); the same counter
    /// again replaces the token. Returns the counter's id in Accrue.
    pub async fn attach_counter(&self, user_id: i64, counter_id: String, token: String) -> Result<i64, StoreError> {
        let sealed = self.sealer().seal(&token);
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "INSERT INTO integra_counters (user_id, counter_id, access_token, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, counter_id) DO UPDATE SET access_token = excluded.access_token RETURNING id",
                )
                .bind(user_id)
                .bind(&counter_id)
                .bind(&sealed)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await?;
                Ok(row.try_get(0)?)
            })
        })
        .await
    }

    /// Opens a cabinet session for the user; returns its token (kept only hashed).
    pub async fn open_cabinet_session(
        &self,
        partner: &Partner,
        user_id: i64,
        payment_notify_url: Option<String>,
    ) -> Result<String, StoreError> {
        let mut bytes = [0_u8; 24];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        let token = hex::encode(bytes);
        let token_hash = sha256_hex(&token);
        let ttl = partner.settings.session_minutes * 60_000;
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM integra_sessions WHERE expires_at <= $1")
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                sqlx::query(
                    "INSERT INTO integra_sessions (token_hash, user_id, payment_notify_url, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&token_hash)
                .bind(user_id)
                .bind(&payment_notify_url)
                .bind(tx.now + ttl)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await?;
        Ok(token)
    }

    /// The live session of a token of the partner's cabinet, if there is one.
    pub async fn cabinet_session(&self, partner: &Partner, token: &str) -> Result<Option<CabinetSession>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, payment_notify_url, expires_at FROM integra_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(sha256_hex(token))
        .bind(self.now())
        .fetch_optional(self.reads())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: i64 = row.try_get(0)?;
        let user = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM integra_users WHERE id = $1"))
            .bind(user_id)
            .fetch_one(self.reads())
            .await?;
        let user = user_from(&user)?;
        if user.partner_id != partner.id || user.archived_at.is_some() {
            return Ok(None);
        }
        Ok(Some(CabinetSession {
            token: token.to_string(),
            partner: partner.clone(),
            user,
            payment_notify_url: row.try_get(1)?,
            expires_at: row.try_get(2)?,
        }))
    }

    /// Posts a payment the partner made (`doPayment`) once per reference: `amount` is
    /// credited (or, negative, taken back) and `bonus` credited beside it. The same
    /// reference with the same arguments answers the first payment (`true`); with other
    /// arguments it is a conflict.
    pub async fn direct_payment(
        &self,
        partner: &Partner,
        user: &IntegraUser,
        reference: String,
        amount: i64,
        bonus: i64,
    ) -> Result<(Payment, bool), StoreError> {
        let (p, u) = (partner.clone(), user.clone());
        let key = reference.clone();
        let made = self
            .write(move |tx| {
                Box::pin(async move {
                    // A replay is found before the insert, so that it spends no id.
                    if payment_in(tx, p.id, &reference).await?.is_some() {
                        return Err(StoreError::IdempotencyMismatch);
                    }
                    let row = sqlx::query(&format!(
                        "INSERT INTO integra_payments (partner_id, user_id, kind, reference, amount, bonus, state, created_at) \
                         VALUES ($1, $2, 'direct', $3, $4, $5, 'posted', $6) RETURNING {PAYMENT_COLUMNS}"
                    ))
                    .bind(p.id)
                    .bind(u.id)
                    .bind(&reference)
                    .bind(amount)
                    .bind(bonus)
                    .bind(tx.now)
                    .fetch_one(tx.conn())
                    .await
                    .map_err(StoreError::on_unique(StoreError::IdempotencyMismatch))?;
                    let payment = payment_from(&row)?;
                    post_payment(tx, &p, &u, &payment).await?;
                    Ok(payment)
                })
            })
            .await;
        match made {
            Ok(payment) => Ok((payment, false)),
            Err(StoreError::IdempotencyMismatch) => {
                let earlier = self.integra_payment(partner, &key).await?;
                if earlier.user_id == user.id && earlier.amount == amount && earlier.bonus == bonus {
                    Ok((earlier, true))
                } else {
                    Err(StoreError::Conflict(
                        "this paymentHash was used for another payment".into(),
                    ))
                }
            }
            Err(e) => Err(e),
        }
    }

    pub async fn integra_payment(&self, partner: &Partner, reference: &str) -> Result<Payment, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM integra_payments WHERE partner_id = $1 AND reference = $2"
        ))
        .bind(partner.id)
        .bind(reference)
        .fetch_optional(self.reads())
        .await?;
        row.as_ref()
            .map(payment_from)
            .transpose()?
            .ok_or(StoreError::NotFound("payment"))
    }

    /// A page of the partner's payments (one user's when given), newest first.
    pub async fn integra_payments(
        &self,
        partner_id: i64,
        user_id: Option<i64>,
        offset: i64,
        count: i64,
    ) -> Result<Vec<Payment>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM integra_payments WHERE partner_id = $1 AND ($2 = 0 OR user_id = $2) \
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(partner_id)
        .bind(user_id.unwrap_or(0))
        .bind(count)
        .bind(offset)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(payment_from).collect()
    }

    /// A top-up the user asked for in the cabinet: a pending payment, and the partner's
    /// notify URL (if the session has one) called through the outbox, in one write.
    pub async fn start_top_up(&self, session: &CabinetSession, amount: i64, scale: u32) -> Result<Payment, StoreError> {
        let notify = match &session.payment_notify_url {
            Some(url) => Some(
                UrlTemplate::parse(url, &NOTIFY_PLACEHOLDERS)
                    .map_err(|e| StoreError::Invalid(format!("paymentNotifyUrl: {e}")))?,
            ),
            None => None,
        };
        let (partner, user) = (session.partner.clone(), session.user.clone());
        let ttl = partner.settings.payment_ttl_minutes * 60_000;
        self.write(move |tx| {
            Box::pin(async move {
                let reference = new_hash();
                let row = sqlx::query(&format!(
                    "INSERT INTO integra_payments (partner_id, user_id, kind, reference, amount, bonus, state, expires_at, \
                     created_at) VALUES ($1, $2, 'top_up', $3, $4, 0, 'pending', $5, $6) RETURNING {PAYMENT_COLUMNS}"
                ))
                .bind(partner.id)
                .bind(user.id)
                .bind(&reference)
                .bind(amount)
                .bind(tx.now + ttl)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await?;
                if let Some(template) = notify {
                    let values = BTreeMap::from([
                        ("id".to_string(), reference.clone()),
                        ("amount".to_string(), format_minor(amount, scale)),
                        ("hash".to_string(), user.hash.clone()),
                    ]);
                    let message = NewMessage::new(MessageKind::HttpGet, template.render(&values), Value::Object(Map::new()));
                    enqueue(tx, partner.program_id, &message).await?;
                }
                payment_from(&row)
            })
        })
        .await
    }

    /// The partner's answer to a pending top-up of the user. Confirming credits the
    /// amount once; the same answer again returns the payment as it is; another answer
    /// to a decided, or any answer to an expired, payment is a conflict.
    pub async fn decide_top_up(
        &self,
        partner: &Partner,
        user: &IntegraUser,
        reference: String,
        decision: Decision,
        scale: u32,
    ) -> Result<Payment, StoreError> {
        let (p, u) = (partner.clone(), user.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let state = match decision {
                    Decision::Confirm { .. } => "confirmed",
                    Decision::Decline => "declined",
                };
                let claimed = sqlx::query(&format!(
                    "UPDATE integra_payments SET state = $4, decided_at = $5 WHERE partner_id = $1 AND reference = $2 \
                     AND user_id = $3 AND kind = 'top_up' AND state = 'pending' AND expires_at > $5 \
                     RETURNING {PAYMENT_COLUMNS}"
                ))
                .bind(p.id)
                .bind(&reference)
                .bind(u.id)
                .bind(state)
                .bind(tx.now)
                .fetch_optional(tx.conn())
                .await?;
                let Some(row) = claimed else {
                    return already_decided(tx, &p, &u, &reference, state).await;
                };
                let payment = payment_from(&row)?;
                if let Decision::Confirm { amount } = decision {
                    if amount != payment.amount {
                        return Err(StoreError::Invalid(format!(
                            "the amount must be the one asked for: {}",
                            format_minor(payment.amount, scale)
                        )));
                    }
                }
                let kind = if state == "confirmed" {
                    post_payment(tx, &p, &u, &payment).await?;
                    "payment_confirmed"
                } else {
                    "payment_declined"
                };
                tell(tx, &p, &u, kind, payment.amount, scale).await?;
                Ok(payment)
            })
        })
        .await
    }

    /// Marks top-ups nobody answered in time as expired, up to `batch`; how many. A read
    /// comes first, so that the scheduled run writes nothing when none is due.
    pub async fn expire_top_ups(&self, batch: i64) -> Result<u64, StoreError> {
        let due = sqlx::query("SELECT 1 FROM integra_payments WHERE state = 'pending' AND expires_at <= $1 LIMIT 1")
            .bind(self.now())
            .fetch_optional(self.reads())
            .await?;
        if due.is_none() {
            return Ok(0);
        }
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE integra_payments SET state = 'expired', decided_at = $1 WHERE id IN \
                     (SELECT id FROM integra_payments WHERE state = 'pending' AND expires_at <= $1 ORDER BY id LIMIT $2)",
                )
                .bind(tx.now)
                .bind(batch)
                .execute(tx.conn())
                .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    /// What moved in and out of the member's wallet in `[from, to)`, and its balance at
    /// `to`.
    pub async fn wallet_movements(
        &self,
        member_id: i64,
        currency_id: i64,
        from: Millis,
        to: Millis,
    ) -> Result<Movements, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN e.created_at < $4 THEN e.amount ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN e.created_at >= $3 AND e.created_at < $4 AND e.amount > 0 THEN e.amount ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN e.created_at >= $3 AND e.created_at < $4 AND e.amount < 0 THEN e.amount ELSE 0 END), 0) AS BIGINT) \
             FROM entries e JOIN accounts a ON a.id = e.account_id \
             WHERE a.member_id = $1 AND a.currency_id = $2 AND a.kind = 'wallet'",
        )
        .bind(member_id)
        .bind(currency_id)
        .bind(from)
        .bind(to)
        .fetch_one(self.reads())
        .await?;
        Ok(Movements {
            balance_at_end: row.try_get(0)?,
            income: row.try_get(1)?,
            outcome: row.try_get(2)?,
        })
    }

    /// Whether anything was ever credited to the member's wallet.
    pub async fn ever_credited(&self, member_id: i64, currency_id: i64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM entries e JOIN accounts a ON a.id = e.account_id \
             WHERE a.member_id = $1 AND a.currency_id = $2 AND a.kind = 'wallet' AND e.amount > 0 LIMIT 1",
        )
        .bind(member_id)
        .bind(currency_id)
        .fetch_optional(self.reads())
        .await?;
        Ok(row.is_some())
    }

    pub async fn notification_templates(&self, program_id: i64) -> Result<Vec<NotificationTemplate>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, title_template, text_template FROM notification_templates WHERE program_id = $1 ORDER BY id",
        )
        .bind(program_id)
        .fetch_all(self.reads())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NotificationTemplate {
                    id: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    title_template: row.try_get(2)?,
                    text_template: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Sets the program's template of a message type (both parts checked first).
    pub async fn set_notification_template(
        &self,
        program_id: i64,
        kind: String,
        title_template: String,
        text_template: String,
    ) -> Result<(), StoreError> {
        let kind_ok = !kind.is_empty()
            && kind.len() <= 64
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !kind_ok {
            return Err(StoreError::Invalid(
                "a message type has 1 to 64 letters, digits, _ and .".into(),
            ));
        }
        for (part, source) in [("title", &title_template), ("text", &text_template)] {
            mustache::Template::parse(source).map_err(|e| StoreError::Invalid(format!("{part}: {e}")))?;
        }
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO notification_templates (program_id, kind, title_template, text_template, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, kind) DO UPDATE SET \
                     title_template = excluded.title_template, text_template = excluded.text_template, \
                     updated_at = excluded.updated_at",
                )
                .bind(program_id)
                .bind(&kind)
                .bind(&title_template)
                .bind(&text_template)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Sends a member a message of `kind` made from the program's template.
    pub async fn send_templated(
        &self,
        program_id: i64,
        member_id: i64,
        kind: String,
        params: Map<String, Value>,
    ) -> Result<Notification, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                crate::members::lock_member(tx, program_id, member_id).await?;
                send_templated_in(tx, program_id, member_id, &kind, params).await
            })
        })
        .await
    }

    /// The unread messages of the partner's users (of one user when given), oldest
    /// first; marked read in the same write when `mark_read`.
    pub async fn integra_messages(
        &self,
        partner_id: i64,
        user_id: Option<i64>,
        mark_read: bool,
    ) -> Result<Vec<IntegraMessage>, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT n.id, u.login, n.kind, n.title, n.body, n.params, n.template_id, t.title_template, \
                     t.text_template, n.created_at FROM notifications n \
                     JOIN integra_users u ON u.member_id = n.member_id \
                     LEFT JOIN notification_templates t ON t.id = n.template_id \
                     WHERE u.partner_id = $1 AND ($2 = 0 OR u.id = $2) AND n.read_at IS NULL AND n.deleted_at IS NULL \
                     ORDER BY n.id LIMIT 1000",
                )
                .bind(partner_id)
                .bind(user_id.unwrap_or(0))
                .fetch_all(tx.conn())
                .await?;
                let messages = rows.iter().map(message_from).collect::<Result<Vec<_>, _>>()?;
                if mark_read {
                    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
                    mark_read_in(tx, partner_id, &ids).await?;
                }
                Ok(messages)
            })
        })
        .await
    }

    /// Marks messages of the partner's users read; how many were unread.
    pub async fn read_integra_messages(&self, partner_id: i64, ids: Vec<i64>) -> Result<u64, StoreError> {
        self.write(move |tx| Box::pin(async move { mark_read_in(tx, partner_id, &ids).await }))
            .await
    }
}

fn message_from(row: &AnyRow) -> Result<IntegraMessage, StoreError> {
    let params: Option<String> = row.try_get(5)?;
    Ok(IntegraMessage {
        id: row.try_get(0)?,
        login: row.try_get(1)?,
        kind: row.try_get(2)?,
        title: row.try_get(3)?,
        text: row.try_get(4)?,
        params: params
            .map(|p| serde_json::from_str(&p))
            .transpose()?
            .unwrap_or(Value::Object(Map::new())),
        template_id: row.try_get(6)?,
        title_template: row.try_get(7)?,
        text_template: row.try_get(8)?,
        created_at: row.try_get(9)?,
    })
}

async fn mark_read_in(tx: &mut Tx, partner_id: i64, ids: &[i64]) -> Result<u64, StoreError> {
    let mut marked = 0;
    for chunk in ids.chunks(500) {
        let list = crate::placeholders(3, chunk.len());
        let sql = format!(
            "UPDATE notifications SET read_at = $1 WHERE read_at IS NULL AND id IN ({list}) AND member_id IN \
             (SELECT member_id FROM integra_users WHERE partner_id = $2)"
        );
        let mut query = sqlx::query(&sql).bind(tx.now).bind(partner_id);
        for id in chunk {
            query = query.bind(*id);
        }
        marked += query.execute(tx.conn()).await?.rows_affected();
    }
    Ok(marked)
}

/// Credits a payment's amount and bonus, or takes a refund back.
async fn post_payment(tx: &mut Tx, partner: &Partner, user: &IntegraUser, payment: &Payment) -> Result<(), StoreError> {
    let reference = &payment.reference;
    let program_id = partner.program_id;
    if payment.amount > 0 {
        let m = movement(partner, user, payment.amount, "Пополнение".into(), reference);
        accrue_in(tx, program_id, m, Lifetime::default()).await?;
    }
    if payment.bonus > 0 {
        let m = movement(partner, user, payment.bonus, "Бонус к пополнению".into(), reference);
        accrue_in(tx, program_id, m, Lifetime::default()).await?;
    }
    if payment.amount < 0 {
        let m = movement(partner, user, -payment.amount, "Возврат".into(), reference);
        let receipt = withdraw_in(tx, program_id, m).await?;
        if partner
            .settings
            .low_balance_below
            .is_some_and(|below| receipt.balance < below)
        {
            let scale = crate::programs::currency_in(tx, program_id, partner.currency_id)
                .await?
                .scale;
            let params = Map::from_iter([("balance".into(), Value::String(format_minor(receipt.balance, scale)))]);
            send_templated_in(tx, program_id, user.member_id, "low_balance", params).await?;
        }
    }
    Ok(())
}

/// Tells the user how a top-up ended, with the balance after it.
async fn tell(
    tx: &mut Tx,
    partner: &Partner,
    user: &IntegraUser,
    kind: &str,
    amount: i64,
    scale: u32,
) -> Result<(), StoreError> {
    let balance = crate::ledger::wallet_balance_of(tx, partner.program_id, partner.currency_id, user.member_id).await?;
    let params = Map::from_iter([
        ("amount".into(), Value::String(format_minor(amount, scale))),
        ("balance".into(), Value::String(format_minor(balance, scale))),
    ]);
    send_templated_in(tx, partner.program_id, user.member_id, kind, params).await?;
    Ok(())
}

/// Why a top-up could not be decided now: the same answer again is the payment as it
/// is; anything else is a conflict, or the payment is not the user's.
async fn already_decided(
    tx: &mut Tx,
    partner: &Partner,
    user: &IntegraUser,
    reference: &str,
    wanted: &str,
) -> Result<Payment, StoreError> {
    let payment = payment_in(tx, partner.id, reference).await?;
    match payment {
        Some(p) if p.user_id != user.id || p.kind != "top_up" => Err(StoreError::NotFound("payment")),
        Some(p) if p.state == wanted => Ok(p),
        Some(p) if p.state == "pending" => Err(StoreError::Conflict("the payment has expired".into())),
        Some(p) => Err(StoreError::Conflict(format!("the payment is {} already", p.state))),
        None => Err(StoreError::NotFound("payment")),
    }
}

/// A partner path: one URL segment of letters, digits, `-` and `_`.
fn check_path(path: &str) -> Result<(), StoreError> {
    let ok = !path.is_empty()
        && path.len() <= 64
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "a partner path has 1 to 64 letters, digits, - and _".into(),
        ))
    }
}
