//! Where a face serves which program: host names and path prefixes bound to a program.
//! A host or a path prefix belongs to at most one program of a face; requests that match
//! no binding go to the face's default program (a server setting). Values are stored as
//! given: the server checks and normalises them.

use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// The host names and the path prefix under which a face serves a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaceBinding {
    pub program_id: i64,
    /// The program's code.
    pub program: String,
    /// Sorted.
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
}

const HOST: &str = "host";
const PATH_PREFIX: &str = "path_prefix";

impl Store {
    /// Every program's binding to `face`, by program id.
    pub async fn face_bindings(&self, face: &str) -> Result<Vec<FaceBinding>, StoreError> {
        self.bindings_of(face, None).await
    }

    /// The binding of one program to `face`, if it has one.
    pub async fn face_binding(&self, face: &str, program_id: i64) -> Result<Option<FaceBinding>, StoreError> {
        Ok(self.bindings_of(face, Some(program_id)).await?.pop())
    }

    /// Replaces a program's binding to `face`. A host or prefix bound to another program
    /// is a conflict that names it, and changes nothing.
    pub async fn bind_face(
        &self,
        face: &str,
        program_id: i64,
        hosts: Vec<String>,
        path_prefix: Option<String>,
    ) -> Result<(), StoreError> {
        let face = face.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let taken = sqlx::query(
                    "SELECT b.kind, b.value, p.code FROM face_bindings b JOIN programs p ON p.id = b.program_id \
                     WHERE b.face = $1 AND b.program_id <> $2",
                )
                .bind(&face)
                .bind(program_id)
                .fetch_all(tx.conn())
                .await?;
                for row in &taken {
                    let (kind, value, owner): (String, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    let clash = match kind.as_str() {
                        HOST => hosts.contains(&value),
                        _ => path_prefix.as_ref() == Some(&value),
                    };
                    if clash {
                        let what = if kind == HOST { "host" } else { "path prefix" };
                        return Err(StoreError::Conflict(format!("{what} {value} is bound to program {owner}")));
                    }
                }
                sqlx::query("DELETE FROM face_bindings WHERE face = $1 AND program_id = $2")
                    .bind(&face)
                    .bind(program_id)
                    .execute(tx.conn())
                    .await?;
                let values = hosts.iter().map(|h| (HOST, h)).chain(path_prefix.iter().map(|p| (PATH_PREFIX, p)));
                for (kind, value) in values {
                    sqlx::query(
                        "INSERT INTO face_bindings (face, kind, value, program_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&face)
                    .bind(kind)
                    .bind(value)
                    .bind(program_id)
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await
                    .map_err(StoreError::unique(format!("{value} is bound to another program")))?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Removes a program's binding to `face`; whether it had one.
    pub async fn unbind_face(&self, face: &str, program_id: i64) -> Result<bool, StoreError> {
        let face = face.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM face_bindings WHERE face = $1 AND program_id = $2")
                    .bind(&face)
                    .bind(program_id)
                    .execute(tx.conn())
                    .await?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await
    }

    async fn bindings_of(&self, face: &str, program_id: Option<i64>) -> Result<Vec<FaceBinding>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.program_id, p.code, b.kind, b.value FROM face_bindings b JOIN programs p ON p.id = b.program_id \
             WHERE b.face = $1 AND ($2 = 0 OR b.program_id = $2) ORDER BY b.program_id, b.value",
        )
        .bind(face)
        .bind(program_id.unwrap_or(0))
        .fetch_all(self.reads())
        .await?;
        let mut bindings: Vec<FaceBinding> = Vec::new();
        for row in &rows {
            let (program_id, kind, value): (i64, String, String) = (row.try_get(0)?, row.try_get(2)?, row.try_get(3)?);
            if bindings.last().is_none_or(|b| b.program_id != program_id) {
                bindings.push(FaceBinding {
                    program_id,
                    program: row.try_get(1)?,
                    hosts: Vec::new(),
                    path_prefix: None,
                });
            }
            let binding = bindings.last_mut().expect("pushed above");
            match kind.as_str() {
                HOST => binding.hosts.push(value),
                _ => binding.path_prefix = Some(value),
            }
        }
        Ok(bindings)
    }
}
