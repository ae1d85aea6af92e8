//! The organization store (`org.db`): one organization, its accounts and their API keys.

use std::path::Path;
use std::sync::Mutex;

use chrono::Utc;
use mamori_core::db::{self, DbError};
use mamori_core::{AccountId, Caller, OrgId, Role};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::keys;

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the organization store is unavailable")]
    Poisoned,
    #[error("no organization exists yet; start `mamori serve` once to create it")]
    NoOrganization,
    #[error("account {0} does not exist")]
    NoAccount(AccountId),
    #[error("no API key {0} in this account")]
    NoKey(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for OrgError {
    fn from(e: rusqlite::Error) -> Self {
        OrgError::Db(DbError::Sql(e))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "no API key: send `Authorization: Bearer <key>` (the first `mamori serve` printed an admin key; create more with `mamori org keys create`)"
    )]
    Missing,
    #[error("the API key is not valid")]
    Invalid,
    #[error("API key {0} was revoked")]
    Revoked(String),
    #[error("only an admin key of the management account may act on account {0}")]
    CrossAccount(AccountId),
    #[error("account {0} does not exist")]
    NoAccount(AccountId),
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub email: Option<String>,
    pub organization_id: String,
    /// `management` or `member`.
    pub kind: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub key_id: String,
    pub account_id: AccountId,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// What the first start creates; the key is shown once and never stored in clear.
#[derive(Debug)]
pub struct Bootstrap {
    pub organization: OrgId,
    pub account: AccountId,
    pub key: ApiKeyInfo,
    pub token: String,
}

const MIGRATIONS: &[&str] = &["
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    management INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    email           TEXT,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    kind            TEXT NOT NULL CHECK (kind IN ('management', 'member')),
    created_at      TEXT NOT NULL
);
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    account     INTEGER NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'writer', 'reader')),
    secret_hash BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX api_keys_account ON api_keys(account);
"];

pub struct Org {
    conn: Mutex<Connection>,
}

fn now() -> String {
    mamori_core::time::format_cloudtrail(Utc::now())
}

pub fn check_name(what: &str, name: &str) -> Result<(), OrgError> {
    if name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(OrgError::Invalid(format!(
            "{what} name must be 1 to 128 characters without control characters"
        )));
    }
    Ok(())
}

impl Org {
    pub fn open(dir: &Path) -> Result<Self, OrgError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            OrgError::Invalid(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("org.db");
        let mut conn = db::open(&path)?;
        db::migrate(&mut conn, &path, MIGRATIONS)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, OrgError> {
        self.conn.lock().map_err(|_| OrgError::Poisoned)
    }

    /// On an empty store: creates the organization, its management account and an admin key.
    /// Returns `None` when the organization already exists.
    pub fn bootstrap(&self) -> Result<Option<Bootstrap>, OrgError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM organizations)", [], |r| {
            r.get(0)
        })?;
        if exists {
            return Ok(None);
        }
        let org_id: OrgId = {
            const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
            let mut rng = rand::rng();
            let s: String = (0..10)
                .map(|_| A[rng.random_range(0..A.len())] as char)
                .collect();
            format!("o-{s}")
                .parse()
                .map_err(|e| OrgError::Invalid(format!("{e}")))?
        };
        let account = random_account_id(&tx)?;
        let created = now();
        tx.execute(
            "INSERT INTO organizations (id, management, created_at) VALUES (?1, ?2, ?3)",
            params![org_id.as_str(), account.as_i64(), created],
        )?;
        tx.execute(
            "INSERT INTO accounts (id, name, email, organization_id, kind, created_at) VALUES (?1, 'management', NULL, ?2, 'management', ?3)",
            params![account.as_i64(), org_id.as_str(), created],
        )?;
        let (key, token) = insert_key(&tx, account, "bootstrap-admin", Role::Admin)?;
        tx.commit()?;
        Ok(Some(Bootstrap {
            organization: org_id,
            account,
            key,
            token,
        }))
    }

    pub fn organization(&self) -> Result<(OrgId, AccountId), OrgError> {
        let conn = self.conn()?;
        let row: Option<(String, i64)> = conn
            .query_row("SELECT id, management FROM organizations", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (id, mgmt) = row.ok_or(OrgError::NoOrganization)?;
        Ok((
            id.parse().map_err(|e| OrgError::Invalid(format!("{e}")))?,
            AccountId::from_i64(mgmt).map_err(|e| OrgError::Invalid(e.to_string()))?,
        ))
    }

    pub fn create_account(&self, name: &str, email: Option<&str>) -> Result<Account, OrgError> {
        check_name("account", name)?;
        if let Some(e) = email
            && (e.len() > 254
                || !e.contains('@')
                || e.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(OrgError::Invalid(format!("{e:?} is not an email address")));
        }
        let (org, _) = self.organization()?;
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let id = random_account_id(&tx)?;
        let created = now();
        tx.execute(
            "INSERT INTO accounts (id, name, email, organization_id, kind, created_at) VALUES (?1, ?2, ?3, ?4, 'member', ?5)",
            params![id.as_i64(), name, email, org.as_str(), created],
        )?;
        tx.commit()?;
        Ok(Account {
            id,
            name: name.into(),
            email: email.map(Into::into),
            organization_id: org.to_string(),
            kind: "member".into(),
            created_at: created,
        })
    }

    /// Every account when `only` is `None`, else just that one.
    pub fn accounts(&self, only: Option<AccountId>) -> Result<Vec<Account>, OrgError> {
        let conn = self.conn()?;
        let mut st = conn.prepare(
            "SELECT id, name, email, organization_id, kind, created_at FROM accounts WHERE ?1 IS NULL OR id = ?1 ORDER BY kind, created_at, id",
        )?;
        let rows = st.query_map([only.map(AccountId::as_i64)], |r| {
            Ok(Account {
                id: AccountId::from_i64(r.get(0)?).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Integer,
                        Box::new(e),
                    )
                })?,
                name: r.get(1)?,
                email: r.get(2)?,
                organization_id: r.get(3)?,
                kind: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn account_exists(&self, id: AccountId) -> Result<bool, OrgError> {
        Ok(self.conn()?.query_row(
            "SELECT EXISTS(SELECT 1 FROM accounts WHERE id = ?1)",
            [id.as_i64()],
            |r| r.get(0),
        )?)
    }

    /// Creates a key; the returned token is the only time the secret exists outside the caller.
    pub fn create_key(
        &self,
        account: AccountId,
        name: &str,
        role: Role,
    ) -> Result<(ApiKeyInfo, String), OrgError> {
        check_name("key", name)?;
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM accounts WHERE id = ?1)",
            [account.as_i64()],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(OrgError::NoAccount(account));
        }
        let out = insert_key(&tx, account, name, role)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn keys(&self, account: AccountId) -> Result<Vec<ApiKeyInfo>, OrgError> {
        let conn = self.conn()?;
        let mut st = conn.prepare("SELECT key_id, account, name, role, created_at, revoked_at FROM api_keys WHERE account = ?1 ORDER BY created_at, key_id")?;
        let rows = st.query_map([account.as_i64()], key_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a key of `account`; revoking twice is harmless.
    pub fn revoke_key(&self, account: AccountId, key_id: &str) -> Result<ApiKeyInfo, OrgError> {
        let conn = self.conn()?;
        conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) WHERE account = ?1 AND key_id = ?2", params![account.as_i64(), key_id, now()])?;
        conn.query_row("SELECT key_id, account, name, role, created_at, revoked_at FROM api_keys WHERE account = ?1 AND key_id = ?2", params![account.as_i64(), key_id], key_row)
            .optional()?
            .ok_or_else(|| OrgError::NoKey(key_id.to_string()))
    }

    /// Resolves a bearer token (and an optional account to act on) to a caller.
    pub fn authenticate(
        &self,
        token: Option<&str>,
        act_on: Option<AccountId>,
    ) -> Result<Caller, AuthErrorOr> {
        let token = token.ok_or(AuthError::Missing)?;
        let (key_id, secret) = keys::split(token).ok_or(AuthError::Invalid)?;
        let conn = self.conn()?;
        let row: Option<KeyRow> = conn
            .query_row(
                "SELECT k.account, k.name, k.role, k.secret_hash, k.revoked_at, a.kind, o.id
                 FROM api_keys k JOIN accounts a ON a.id = k.account JOIN organizations o ON o.id = a.organization_id
                 WHERE k.key_id = ?1",
                [key_id],
                |r| {
                    Ok(KeyRow {
                        account: r.get(0)?,
                        name: r.get(1)?,
                        role: r.get(2)?,
                        hash: r.get(3)?,
                        revoked: r.get(4)?,
                        kind: r.get(5)?,
                        org: r.get(6)?,
                    })
                },
            )
            .optional()?;
        // Verify the secret even when the key is unknown, so timing does not reveal which ids exist.
        let KeyRow {
            account,
            name,
            role,
            hash,
            revoked,
            kind,
            org,
        } = match row {
            Some(r) => r,
            None => {
                keys::verify(secret, &[0u8; 32]);
                return Err(AuthError::Invalid.into());
            }
        };
        if !keys::verify(secret, &hash) {
            return Err(AuthError::Invalid.into());
        }
        if revoked.is_some() {
            return Err(AuthError::Revoked(key_id.to_string()).into());
        }
        let key_account =
            AccountId::from_i64(account).map_err(|e| OrgError::Invalid(e.to_string()))?;
        let role: Role = role.parse().map_err(OrgError::Invalid)?;
        let target = match act_on {
            None => key_account,
            Some(t) if t == key_account => t,
            Some(t) => {
                if kind != "management" || role != Role::Admin {
                    return Err(AuthError::CrossAccount(t).into());
                }
                let exists: bool = conn.query_row(
                    "SELECT EXISTS(SELECT 1 FROM accounts WHERE id = ?1 AND organization_id = ?2)",
                    params![t.as_i64(), org],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Err(AuthError::NoAccount(t).into());
                }
                t
            }
        };
        Ok(Caller {
            account: target,
            key_account,
            org: org.parse().map_err(|e| OrgError::Invalid(format!("{e}")))?,
            key_id: key_id.to_string(),
            key_name: name,
            role,
        })
    }
}

struct KeyRow {
    account: i64,
    name: String,
    role: String,
    hash: Vec<u8>,
    revoked: Option<String>,
    kind: String,
    org: String,
}

/// Either the caller's fault ([`AuthError`]) or the store's ([`OrgError`]).
#[derive(Debug, thiserror::Error)]
pub enum AuthErrorOr {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] OrgError),
}

impl From<rusqlite::Error> for AuthErrorOr {
    fn from(e: rusqlite::Error) -> Self {
        AuthErrorOr::Store(e.into())
    }
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
    let conv = |i, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    Ok(ApiKeyInfo {
        key_id: r.get(0)?,
        account_id: AccountId::from_i64(r.get(1)?).map_err(|e| conv(1, Box::new(e)))?,
        name: r.get(2)?,
        role: r
            .get::<_, String>(3)?
            .parse()
            .map_err(|e: String| conv(3, e.into()))?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

fn insert_key(
    tx: &rusqlite::Transaction<'_>,
    account: AccountId,
    name: &str,
    role: Role,
) -> Result<(ApiKeyInfo, String), OrgError> {
    let key_id = keys::new_key_id();
    let secret = keys::new_secret();
    let created = now();
    tx.execute(
        "INSERT INTO api_keys (key_id, account, name, role, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![key_id, account.as_i64(), name, role.as_str(), keys::hash_secret(&secret), created],
    )?;
    let token = format!("{key_id}.{secret}");
    Ok((
        ApiKeyInfo {
            key_id,
            account_id: account,
            name: name.into(),
            role,
            created_at: created,
            revoked_at: None,
        },
        token,
    ))
}

fn random_account_id(tx: &rusqlite::Transaction<'_>) -> Result<AccountId, OrgError> {
    let mut rng = rand::rng();
    loop {
        let n: u64 = rng.random_range(100_000_000_000..=AccountId::MAX);
        let id = AccountId::new(n).map_err(|e| OrgError::Invalid(e.to_string()))?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM accounts WHERE id = ?1)",
            [id.as_i64()],
            |r| r.get(0),
        )?;
        if !taken {
            return Ok(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_once_then_authenticate_and_scope() {
        let dir = tempfile::tempdir().unwrap();
        let org = Org::open(dir.path()).unwrap();
        let b = org.bootstrap().unwrap().unwrap();
        assert!(org.bootstrap().unwrap().is_none());
        let admin = org.authenticate(Some(&b.token), None).unwrap();
        assert_eq!(admin.account, b.account);
        assert_eq!(admin.role, Role::Admin);

        let member = org.create_account("team-a", Some("a@example.com")).unwrap();
        let acting = org.authenticate(Some(&b.token), Some(member.id)).unwrap();
        assert_eq!(acting.account, member.id);
        assert_eq!(acting.key_account, b.account);

        let (_, member_token) = org.create_key(member.id, "ci", Role::Admin).unwrap();
        let err = org
            .authenticate(Some(&member_token), Some(b.account))
            .unwrap_err();
        assert!(
            matches!(err, AuthErrorOr::Auth(AuthError::CrossAccount(_))),
            "{err}"
        );

        let (reader, reader_token) = org.create_key(b.account, "ro", Role::Reader).unwrap();
        assert!(matches!(
            org.authenticate(Some(&reader_token), Some(member.id)),
            Err(AuthErrorOr::Auth(AuthError::CrossAccount(_)))
        ));
        org.revoke_key(b.account, &reader.key_id).unwrap();
        assert!(matches!(
            org.authenticate(Some(&reader_token), None),
            Err(AuthErrorOr::Auth(AuthError::Revoked(_)))
        ));

        let (id, _) = keys::split(&b.token).unwrap();
        let forged = format!("{id}.{}", keys::new_secret());
        assert!(matches!(
            org.authenticate(Some(&forged), None),
            Err(AuthErrorOr::Auth(AuthError::Invalid))
        ));
        assert!(matches!(
            org.authenticate(None, None),
            Err(AuthErrorOr::Auth(AuthError::Missing))
        ));
    }

    #[test]
    fn secrets_are_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let org = Org::open(dir.path()).unwrap();
        let b = org.bootstrap().unwrap().unwrap();
        let (_, secret) = keys::split(&b.token).unwrap();
        drop(org);
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        assert!(
            !all.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is on disk"
        );
    }
}
