//! Programs (tenants) and their currencies.

use crate::cache::{memoized, memoized_in_tx};
use crate::{Store, StoreError, Tx};
use accrue_core::ledger::AccountKind;
use accrue_core::member::normalize_text;
use accrue_core::money::{MAX_AMOUNT, MAX_SCALE};
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::sync::Arc;

pub const DEFAULT_PROGRAM: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// Region for phone numbers written without a country code (ISO 3166, e.g. `RU`).
    pub phone_region: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProgram {
    pub code: String,
    pub name: String,
    pub phone_region: String,
    /// The program's default bonus currency.
    pub currency: NewCurrency,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    pub id: i64,
    pub program_id: i64,
    pub code: String,
    /// Decimal places: amounts are stored as integers of 10^-scale.
    pub scale: u32,
    pub description: String,
    pub name_nominative: String,
    pub name_genitive: String,
    pub name_plural: String,
    pub abbreviation: String,
    pub is_default: bool,
    /// The bounds in force, in minor units (the defaults where none are set).
    pub limits: Limits,
}

/// Bounds of a currency, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest single accrual, withdrawal or hold.
    pub max_operation: i64,
    /// The largest balance an accrual may bring a wallet to.
    pub max_balance: i64,
}

impl Limits {
    /// 10^12 minor units an operation (10 000 000 000.00 at two decimals) and
    /// [`MAX_AMOUNT`] a balance.
    pub const DEFAULT: Limits = Limits {
        max_operation: 1_000_000_000_000,
        max_balance: MAX_AMOUNT,
    };

    /// Chosen bounds (`None`: the default) checked: at least 1, at most [`MAX_AMOUNT`].
    pub fn chosen(max_operation: Option<i64>, max_balance: Option<i64>) -> Result<ChosenLimits, StoreError> {
        for (name, value) in [("max_operation", max_operation), ("max_balance", max_balance)] {
            if value.is_some_and(|v| !(1..=MAX_AMOUNT).contains(&v)) {
                return Err(StoreError::Invalid(format!(
                    "{name} must be greater than zero and at most {MAX_AMOUNT} minor units"
                )));
            }
        }
        Ok(ChosenLimits {
            max_operation,
            max_balance,
        })
    }
}

/// Limits as an operator set them: `None` follows the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenLimits {
    pub max_operation: Option<i64>,
    pub max_balance: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCurrency {
    pub code: String,
    pub scale: u32,
    pub description: String,
    pub name_nominative: String,
    pub name_genitive: String,
    pub name_plural: String,
    pub abbreviation: String,
    pub limits: ChosenLimits,
}

impl NewCurrency {
    /// The bonus points every new program starts with.
    pub fn bonus() -> NewCurrency {
        NewCurrency {
            code: "BONUS".into(),
            scale: 2,
            description: "Bonus points".into(),
            name_nominative: "бонус".into(),
            name_genitive: "бонуса".into(),
            name_plural: "бонусов".into(),
            abbreviation: "Б".into(),
            limits: ChosenLimits::default(),
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        let code_ok = !self.code.is_empty()
            && self.code.len() <= 32
            && self
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !code_ok {
            return Err(StoreError::Invalid(
                "currency code must be 1 to 32 letters, digits, '_' or '-'".into(),
            ));
        }
        if self.scale > MAX_SCALE {
            return Err(StoreError::Invalid(format!("currency scale must be 0 to {MAX_SCALE}")));
        }
        Limits::chosen(self.limits.max_operation, self.limits.max_balance)?;
        Ok(())
    }
}

fn validate_program_code(code: &str) -> Result<(), StoreError> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "program code must be 1 to 64 lowercase letters, digits, '-' or '_'".into(),
        ))
    }
}

const PROGRAM_COLUMNS: &str = "id, code, name, phone_region, created_at";
const CURRENCY_COLUMNS: &str = "id, program_id, code, scale, description, name_nominative, \
     name_genitive, name_plural, abbreviation, is_default, max_operation, max_balance";

fn program_from(row: &AnyRow) -> Result<Program, sqlx::Error> {
    Ok(Program {
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        phone_region: row.try_get("phone_region")?,
        created_at: row.try_get("created_at")?,
    })
}

fn currency_from(row: &AnyRow) -> Result<Currency, sqlx::Error> {
    Ok(Currency {
        id: row.try_get("id")?,
        program_id: row.try_get("program_id")?,
        code: row.try_get("code")?,
        scale: row.try_get::<i64, _>("scale")? as u32,
        description: row.try_get("description")?,
        name_nominative: row.try_get("name_nominative")?,
        name_genitive: row.try_get("name_genitive")?,
        name_plural: row.try_get("name_plural")?,
        abbreviation: row.try_get("abbreviation")?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
        limits: Limits {
            max_operation: row
                .try_get::<Option<i64>, _>("max_operation")?
                .unwrap_or(Limits::DEFAULT.max_operation),
            max_balance: row
                .try_get::<Option<i64>, _>("max_balance")?
                .unwrap_or(Limits::DEFAULT.max_balance),
        },
    })
}

pub(crate) async fn ensure_default(store: &Store) -> Result<(), StoreError> {
    match store.program(DEFAULT_PROGRAM).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound(_)) => {
            let new = NewProgram {
                code: DEFAULT_PROGRAM.into(),
                name: "Default program".into(),
                phone_region: "RU".into(),
                currency: NewCurrency::bonus(),
            };
            match store.create_program(new).await {
                Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

async fn insert_currency(
    tx: &mut Tx,
    program_id: i64,
    c: &NewCurrency,
    is_default: bool,
) -> Result<Currency, StoreError> {
    c.validate()?;
    tx.changes_config().await?;
    let row = sqlx::query(&format!(
        "INSERT INTO currencies (program_id, code, scale, description, name_nominative, name_genitive, \
         name_plural, abbreviation, is_default, created_at, max_operation, max_balance) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {CURRENCY_COLUMNS}"
    ))
    .bind(program_id)
    .bind(&c.code)
    .bind(c.scale as i64)
    .bind(&c.description)
    .bind(&c.name_nominative)
    .bind(&c.name_genitive)
    .bind(&c.name_plural)
    .bind(&c.abbreviation)
    .bind(is_default as i64)
    .bind(tx.now)
    .bind(c.limits.max_operation)
    .bind(c.limits.max_balance)
    .fetch_one(tx.conn())
    .await
    .map_err(StoreError::unique(format!(
        "currency {} already exists in this program",
        c.code
    )))?;
    let currency = currency_from(&row)?;
    for kind in AccountKind::SYSTEM {
        sqlx::query("INSERT INTO accounts (program_id, currency_id, kind, member_id) VALUES ($1, $2, $3, 0)")
            .bind(program_id)
            .bind(currency.id)
            .bind(kind.as_str())
            .execute(tx.conn())
            .await?;
    }
    Ok(currency)
}

impl Store {
    pub async fn create_program(&self, new: NewProgram) -> Result<Program, StoreError> {
        validate_program_code(&new.code)?;
        let name = normalize_text("program name", &new.name, 200).map_err(|e| StoreError::Invalid(e.to_string()))?;
        accrue_core::member::validate_region(&new.phone_region).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(&format!(
                    "INSERT INTO programs (code, name, phone_region, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING {PROGRAM_COLUMNS}"
                ))
                .bind(&new.code)
                .bind(&name)
                .bind(&new.phone_region)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await
                .map_err(StoreError::unique(format!("program {} already exists", new.code)))?;
                let program = program_from(&row)?;
                insert_currency(tx, program.id, &new.currency, true).await?;
                Ok(program)
            })
        })
        .await
    }

    pub async fn programs(&self) -> Result<Vec<Program>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {PROGRAM_COLUMNS} FROM programs ORDER BY id"))
            .fetch_all(self.reads())
            .await?;
        Ok(rows.iter().map(program_from).collect::<Result<_, _>>()?)
    }

    /// The program with this code, from the cache: every admin request looks it up.
    pub async fn program(&self, code: &str) -> Result<Program, StoreError> {
        memoized!(self, programs, code.to_string(), {
            let row = sqlx::query(&format!("SELECT {PROGRAM_COLUMNS} FROM programs WHERE code = $1"))
                .bind(code)
                .fetch_optional(self.reads())
                .await?
                .ok_or(StoreError::NotFound("program"))?;
            program_from(&row)
        })
    }

    pub async fn create_currency(&self, program_id: i64, new: NewCurrency) -> Result<Currency, StoreError> {
        self.write(move |tx| Box::pin(async move { insert_currency(tx, program_id, &new, false).await }))
            .await
    }

    /// Sets a currency's bounds (`None`: the default).
    pub async fn set_currency_limits(
        &self,
        program_id: i64,
        code: &str,
        limits: ChosenLimits,
    ) -> Result<Currency, StoreError> {
        Limits::chosen(limits.max_operation, limits.max_balance)?;
        let code = code.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(&format!(
                    "UPDATE currencies SET max_operation = $1, max_balance = $2 WHERE program_id = $3 AND code = $4 \
                     RETURNING {CURRENCY_COLUMNS}"
                ))
                .bind(limits.max_operation)
                .bind(limits.max_balance)
                .bind(program_id)
                .bind(&code)
                .fetch_optional(tx.conn())
                .await?
                .ok_or(StoreError::NotFound("currency"))?;
                tx.changes_config().await?;
                Ok(currency_from(&row)?)
            })
        })
        .await
    }

    pub async fn currencies(&self, program_id: i64) -> Result<Vec<Currency>, StoreError> {
        Ok(self.program_currencies(program_id).await?.to_vec())
    }

    /// The program's currencies, from the cache.
    async fn program_currencies(&self, program_id: i64) -> Result<Arc<[Currency]>, StoreError> {
        memoized!(
            self,
            currencies,
            program_id,
            load_currencies(self.reads(), program_id).await
        )
    }

    /// The currency with `code`, or the program's default one.
    pub async fn currency(&self, program_id: i64, code: Option<&str>) -> Result<Currency, StoreError> {
        let currencies = self.program_currencies(program_id).await?;
        let wanted = |c: &&Currency| match code {
            Some(code) => c.code == code,
            None => c.is_default,
        };
        currencies
            .iter()
            .find(wanted)
            .cloned()
            .ok_or(StoreError::NotFound("currency"))
    }
}

/// A currency of the program, inside a write: from the cache (see
/// [`crate::cache::memoized_in_tx`]).
pub(crate) async fn currency_in(tx: &mut Tx, program_id: i64, id: i64) -> Result<Currency, StoreError> {
    currency_where(tx, program_id, |c| c.id == id).await
}

/// The program's default currency, inside a write.
pub(crate) async fn default_currency_in(tx: &mut Tx, program_id: i64) -> Result<Currency, StoreError> {
    currency_where(tx, program_id, |c| c.is_default).await
}

async fn currency_where(
    tx: &mut Tx,
    program_id: i64,
    wanted: impl Fn(&Currency) -> bool,
) -> Result<Currency, StoreError> {
    let currencies = memoized_in_tx!(tx, currencies, program_id, load_currencies(tx.conn(), program_id).await)?;
    currencies
        .iter()
        .find(|c| wanted(c))
        .cloned()
        .ok_or(StoreError::NotFound("currency"))
}

async fn load_currencies(db: impl sqlx::AnyExecutor<'_>, program_id: i64) -> Result<Arc<[Currency]>, StoreError> {
    let sql = format!("SELECT {CURRENCY_COLUMNS} FROM currencies WHERE program_id = $1 ORDER BY id");
    let rows = sqlx::query(&sql).bind(program_id).fetch_all(db).await?;
    Ok(rows.iter().map(currency_from).collect::<Result<Arc<[Currency]>, _>>()?)
}
