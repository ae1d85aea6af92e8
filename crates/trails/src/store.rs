//! `trails.db`: trails, their delivery state (cursor, pending delivery, Merkle log), digest
//! chains and signing keys. Its own file, so delivery never contends with ingest's writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use mamori_core::AccountId;
use mamori_core::db::{self, DbError};
use mamori_core::seal::Keyring;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::signing::{self, SigningKey};
use crate::spec::TrailSpec;

#[derive(Debug, thiserror::Error)]
pub enum TrailsError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("signing key: {0}")]
    Key(#[from] signing::KeyError),
    #[error("Merkle log: {0}")]
    Proof(#[from] crate::merkle::ProofError),
    #[error("event history: {0}")]
    History(#[from] mamori_trail::history::store::StoreError),
    #[error("stored data is damaged: {0}")]
    Damaged(String),
    #[error("secrets: {0}")]
    Seal(#[from] mamori_core::seal::SealError),
}

impl mamori_core::service::ServiceError for TrailsError {
    fn code(&self) -> mamori_core::ErrorCode {
        use mamori_core::ErrorCode;
        match self {
            TrailsError::NotFound(_) => ErrorCode::NotFound,
            TrailsError::Conflict(_) => ErrorCode::Conflict,
            TrailsError::Invalid(_) => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }
}

impl From<rusqlite::Error> for TrailsError {
    fn from(e: rusqlite::Error) -> Self {
        TrailsError::Db(DbError::Sql(e))
    }
}

const MIGRATIONS: &[&str] = &["
CREATE TABLE trails (
    id                      INTEGER PRIMARY KEY,
    account                 INTEGER NOT NULL,
    name                    TEXT NOT NULL,
    spec                    TEXT NOT NULL,
    logging                 INTEGER NOT NULL,
    created_at              TEXT NOT NULL,
    -- the seq of the last event considered for delivery
    cursor                  INTEGER NOT NULL,
    -- records in the Merkle log
    leaves                  INTEGER NOT NULL DEFAULT 0,
    -- set by StopLogging: deliver up to this seq, write the final digests, then rest
    stop_seq                INTEGER,
    -- a delivery planned and not yet committed (JSON): redone exactly after a crash
    pending                 TEXT,
    logging_started_at      TEXT,
    logging_stopped_at      TEXT,
    latest_delivery_time    TEXT,
    latest_delivery_attempt TEXT,
    latest_delivery_error   TEXT,
    latest_digest_time      TEXT,
    latest_digest_object    TEXT,
    latest_digest_error     TEXT,
    -- unix seconds: when the next digest period ends
    next_digest_at          INTEGER NOT NULL,
    checkpoint_put          INTEGER NOT NULL DEFAULT 0,
    note_skey               TEXT NOT NULL,
    note_vkey               TEXT NOT NULL,
    UNIQUE (account, name)
);
CREATE TABLE log_files (
    trail         INTEGER NOT NULL,
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    key           TEXT NOT NULL,
    hash          TEXT NOT NULL,
    oldest        TEXT,
    newest        TEXT,
    delivered_at  INTEGER NOT NULL,
    digested      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (trail, key)
);
CREATE INDEX log_files_undigested ON log_files (trail, digested, account, region);
CREATE TABLE chains (
    trail           INTEGER NOT NULL,
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    prev_bucket     TEXT,
    prev_object     TEXT,
    prev_hash       TEXT,
    prev_signature  TEXT,
    last_end        INTEGER NOT NULL,
    PRIMARY KEY (trail, account, region)
);
CREATE TABLE keys (
    id          INTEGER PRIMARY KEY,
    trail       INTEGER NOT NULL,
    region      TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_der  BLOB NOT NULL,
    private_key BLOB NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_to    TEXT
);
CREATE INDEX keys_by_trail ON keys (trail, region);
CREATE TABLE tlog_hashes (trail INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (trail, idx)) WITHOUT ROWID;
CREATE TABLE tlog_leaves (
    trail    INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    account  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    object   TEXT NOT NULL,
    PRIMARY KEY (trail, n)
) WITHOUT ROWID;
CREATE INDEX tlog_leaves_by_event ON tlog_leaves (trail, event_id);
CREATE TABLE checkpoints (trail INTEGER NOT NULL, size INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (trail, size));
", "
-- Public keys of deleted trails: what they delivered must stay verifiable. Private keys are not kept.
CREATE TABLE retired_keys (
    account     INTEGER NOT NULL,
    trail       TEXT NOT NULL,
    region      TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_der  BLOB NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_to    TEXT NOT NULL
);
CREATE TABLE retired_checkpoint_keys (
    account    INTEGER NOT NULL,
    trail      TEXT NOT NULL,
    vkey       TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);
"];

/// A trail with its delivery state, as stored.
#[derive(Clone, Debug)]
pub struct TrailRow {
    pub id: i64,
    pub account: AccountId,
    pub spec: TrailSpec,
    pub logging: bool,
    pub created_at: String,
    pub cursor: i64,
    pub leaves: u64,
    pub stop_seq: Option<i64>,
    pub pending: Option<String>,
    pub logging_started_at: Option<String>,
    pub logging_stopped_at: Option<String>,
    pub latest_delivery_time: Option<String>,
    pub latest_delivery_attempt: Option<String>,
    pub latest_delivery_error: Option<String>,
    pub latest_digest_time: Option<String>,
    pub latest_digest_object: Option<String>,
    pub latest_digest_error: Option<String>,
    pub next_digest_at: i64,
    pub checkpoint_put: u64,
    pub note_skey: String,
    pub note_vkey: String,
}

const COLUMNS: &str = "id, account, spec, logging, created_at, cursor, leaves, stop_seq, pending, logging_started_at, logging_stopped_at, latest_delivery_time, latest_delivery_attempt, latest_delivery_error, latest_digest_time, latest_digest_object, latest_digest_error, next_digest_at, checkpoint_put, note_skey, note_vkey";

fn row(r: &rusqlite::Row) -> rusqlite::Result<(TrailRow, String)> {
    let spec: String = r.get(2)?;
    Ok((
        TrailRow {
            id: r.get(0)?,
            account: r.get(1)?,
            spec: TrailSpec {
                name: String::new(),
                destination: String::new(),
                key_prefix: String::new(),
                event_selectors: None,
                advanced_event_selectors: None,
                is_organization_trail: false,
                delivery_interval_seconds: 0,
                digest_interval_seconds: 0,
                max_file_events: 0,
                digest_signature_algorithm: String::new(),
                home_region: String::new(),
            },
            logging: r.get(3)?,
            created_at: r.get(4)?,
            cursor: r.get(5)?,
            leaves: r.get::<_, i64>(6)? as u64,
            stop_seq: r.get(7)?,
            pending: r.get(8)?,
            logging_started_at: r.get(9)?,
            logging_stopped_at: r.get(10)?,
            latest_delivery_time: r.get(11)?,
            latest_delivery_attempt: r.get(12)?,
            latest_delivery_error: r.get(13)?,
            latest_digest_time: r.get(14)?,
            latest_digest_object: r.get(15)?,
            latest_digest_error: r.get(16)?,
            next_digest_at: r.get(17)?,
            checkpoint_put: r.get::<_, i64>(18)? as u64,
            note_skey: r.get(19)?,
            note_vkey: r.get(20)?,
        },
        spec,
    ))
}

fn finish((mut t, spec): (TrailRow, String)) -> Result<TrailRow, TrailsError> {
    t.spec = serde_json::from_str(&spec)
        .map_err(|e| TrailsError::Damaged(format!("settings of trail {}: {e}", t.id)))?;
    Ok(t)
}

/// A published digest-signing public key.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicKey {
    pub trail: String,
    pub region: String,
    pub algorithm: String,
    pub fingerprint: String,
    /// base64 DER (PKCS#1 RSAPublicKey for RSA, SubjectPublicKeyInfo for Ed25519)
    pub value: String,
    pub validity_start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_end_time: Option<String>,
}

/// A deleted trail's digest keys, and (trail name, checkpoint verifier key) pairs.
pub type RetiredKeys = (Vec<PublicKey>, Vec<(String, String)>);

/// Where one event sits in a trail's log, with its proof.
pub struct Inclusion {
    pub size: u64,
    pub checkpoint: String,
    pub leaf_index: u64,
    pub account: String,
    /// The delivered log file that holds the record.
    pub object: String,
    pub proof: Vec<crate::merkle::Hash>,
}

/// Two checkpoints (size, signed note) of a log and the proof that the newer extends the older.
pub struct Consistency {
    pub old: (u64, String),
    pub new: (u64, String),
    pub proof: Vec<crate::merkle::Hash>,
}

fn checkpoint_note(
    c: &Connection,
    trail: i64,
    size: Option<u64>,
) -> Result<(u64, String), TrailsError> {
    let row: Option<(i64, String)> = match size {
        Some(n) => c.query_row(
            "SELECT size, note FROM checkpoints WHERE trail = ?1 AND size = ?2",
            params![trail, n as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ),
        None => c.query_row(
            "SELECT size, note FROM checkpoints WHERE trail = ?1 ORDER BY size DESC LIMIT 1",
            [trail],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ),
    }
    .optional()?;
    row.map(|(n, note)| (n as u64, note)).ok_or_else(|| {
        TrailsError::NotFound(match size {
            Some(n) => format!(
                "no checkpoint of size {n}; checkpoints exist only for sizes the log had after a delivery"
            ),
            None => "the trail has delivered nothing yet, so it has no checkpoint".into(),
        })
    })
}

/// A chain's state before its next digest: (account, region, previous digest's bucket, object,
/// hash and signature, end of the last digested period).
pub type ChainState = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

/// A delivered log file not yet in a digest: (account, region, key, hash, oldest, newest).
pub type UndigestedFile = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The digest just written for one (account, region) chain.
pub struct ChainLink<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub bucket: &'a str,
    pub object: &'a str,
    pub hash: &'a str,
    pub signature: &'a str,
    pub end: i64,
}

/// A log file a delivery wrote, with the Merkle leaves of its records (hash, eventID).
pub struct DeliveredFile<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub key: &'a str,
    pub hash: &'a str,
    pub oldest: Option<&'a str>,
    pub newest: Option<&'a str>,
    pub leaves: &'a [(crate::merkle::Hash, String)],
}

pub struct TrailsDb {
    path: PathBuf,
    conn: Mutex<Connection>,
    keyring: Arc<Keyring>,
}

pub fn now_text(t: DateTime<Utc>) -> String {
    mamori_core::time::format_cloudtrail(t)
}

impl TrailsDb {
    /// Opens `<dir>/trails.db`; digest signing private keys are sealed with `keyring`, and any
    /// stored in plaintext (before sealing) or under a previous key are resealed now.
    pub fn open(dir: &Path, keyring: Arc<Keyring>) -> Result<Self, TrailsError> {
        let path = dir.join("trails.db");
        let mut conn = db::open(&path)?;
        db::migrate(&mut conn, &path, MIGRATIONS)?;
        let db = Self {
            path,
            conn: Mutex::new(conn),
            keyring,
        };
        let n = db.reseal()?;
        if n > 0 {
            tracing::info!(
                keys = n,
                "digest signing keys sealed under the current key-encryption key"
            );
        }
        Ok(db)
    }

    fn key_label(fingerprint: &str) -> String {
        format!("trails.keys/{fingerprint}")
    }

    /// Seals every private key not sealed under the current key; returns how many.
    fn reseal(&self) -> Result<usize, TrailsError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let rows: Vec<(i64, String, Vec<u8>)> = {
            let mut st = tx.prepare("SELECT id, fingerprint, private_key FROM keys")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut n = 0;
        for (id, fp, stored) in rows {
            if self.keyring.is_current(&stored) {
                continue;
            }
            let label = Self::key_label(&fp);
            let plain = if Keyring::is_sealed(&stored) {
                self.keyring.unseal(&stored, &label)?
            } else {
                stored
            };
            let sealed = self.keyring.seal(&plain, &label)?;
            tx.execute(
                "UPDATE keys SET private_key = ?2 WHERE id = ?1",
                params![id, sealed],
            )?;
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failed delivery or digest attempt (`column`: which error it was).
    pub fn set_error(
        &self,
        id: i64,
        column: &'static str,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TrailsError> {
        debug_assert!(matches!(
            column,
            "latest_delivery_error" | "latest_digest_error"
        ));
        self.conn().execute(
            &format!("UPDATE trails SET {column} = ?2, latest_delivery_attempt = ?3 WHERE id = ?1"),
            params![id, message, now_text(now)],
        )?;
        Ok(())
    }

    /// Saves a planned delivery (JSON) before anything is put: after a crash it is redone
    /// exactly.
    pub fn set_pending(&self, id: i64, plan: &str) -> Result<(), TrailsError> {
        self.conn().execute(
            "UPDATE trails SET pending = ?2 WHERE id = ?1",
            params![id, plan],
        )?;
        Ok(())
    }

    /// The signed checkpoint of `trail`'s log at exactly `size`, if one was made.
    pub fn checkpoint_at(&self, trail: i64, size: u64) -> Result<Option<String>, TrailsError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT note FROM checkpoints WHERE trail = ?1 AND size = ?2",
                params![trail, size as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The checkpoint of `size` is in the destination.
    pub fn set_checkpoint_put(&self, id: i64, size: u64) -> Result<(), TrailsError> {
        self.conn().execute(
            "UPDATE trails SET checkpoint_put = ?2 WHERE id = ?1",
            params![id, size as i64],
        )?;
        Ok(())
    }

    /// The digests of a period are written: the next is due at `next`; after the final one
    /// (StopLogging) the stop mark is cleared.
    pub fn digests_written(
        &self,
        id: i64,
        next: i64,
        final_digest: bool,
    ) -> Result<(), TrailsError> {
        self.conn().execute(
            "UPDATE trails SET next_digest_at = ?2, stop_seq = CASE WHEN ?3 THEN NULL ELSE stop_seq END, latest_digest_error = NULL WHERE id = ?1",
            params![id, next, final_digest],
        )?;
        Ok(())
    }

    /// What the digests of the period ending at `end` need: each chain's state, and the log
    /// files delivered by then and not yet digested (by key).
    pub fn digest_inputs(
        &self,
        trail: i64,
        end: i64,
    ) -> Result<(Vec<ChainState>, Vec<UndigestedFile>), TrailsError> {
        let c = self.conn();
        let chains: Vec<ChainState> = c
            .prepare("SELECT account, region, prev_bucket, prev_object, prev_hash, prev_signature, last_end FROM chains WHERE trail = ?1")?
            .query_map([trail], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))?
            .collect::<Result<_, _>>()?;
        let files: Vec<UndigestedFile> = c
            .prepare("SELECT account, region, key, hash, oldest, newest FROM log_files WHERE trail = ?1 AND digested = 0 AND delivered_at <= ?2 ORDER BY key")?
            .query_map(params![trail, end], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
            .collect::<Result<_, _>>()?;
        Ok((chains, files))
    }

    /// One chain's digest is in the destination: its files are digested, the chain points at
    /// it, the trail's status shows it — in one transaction.
    pub fn record_digest(
        &self,
        trail: i64,
        digested: &[&str],
        link: &ChainLink<'_>,
    ) -> Result<(), TrailsError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        for key in digested {
            tx.execute(
                "UPDATE log_files SET digested = 1 WHERE trail = ?1 AND key = ?2",
                params![trail, key],
            )?;
        }
        tx.execute(
            "INSERT INTO chains (trail, account, region, prev_bucket, prev_object, prev_hash, prev_signature, last_end) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (trail, account, region) DO UPDATE SET prev_bucket = ?4, prev_object = ?5, prev_hash = ?6, prev_signature = ?7, last_end = ?8",
            params![trail, link.account, link.region, link.bucket, link.object, link.hash, link.signature, link.end],
        )?;
        tx.execute(
            "UPDATE trails SET latest_digest_time = ?2, latest_digest_object = ?3 WHERE id = ?1",
            params![trail, now_text(Utc::now()), link.object],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A delivery becomes durable state in one transaction: the Merkle leaves and log files,
    /// a checkpoint of the new size (`sign` writes its signed note from size and root), and
    /// the trail's cursor.
    pub fn commit_delivery(
        &self,
        t: &TrailRow,
        files: &[DeliveredFile<'_>],
        to: i64,
        now: DateTime<Utc>,
        sign: impl FnOnce(u64, crate::merkle::Hash) -> Result<String, TrailsError>,
    ) -> Result<(), TrailsError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let mut n = t.leaves;
        {
            let tree = crate::merkle::TreeHashes::new(&tx, t.id);
            let mut leaf_row = tx.prepare_cached(
                "INSERT INTO tlog_leaves (trail, n, account, event_id, object) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for f in files {
                for (hash, event_id) in f.leaves {
                    tree.append(n, *hash)?;
                    leaf_row.execute(params![t.id, n as i64, f.account, event_id, f.key])?;
                    n += 1;
                }
                tx.execute(
                    "INSERT OR REPLACE INTO log_files (trail, account, region, key, hash, oldest, newest, delivered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![t.id, f.account, f.region, f.key, f.hash, f.oldest, f.newest, now.timestamp()],
                )?;
            }
            if n > t.leaves {
                let note = sign(n, tree.root(n)?)?;
                tx.execute(
                    "INSERT OR REPLACE INTO checkpoints (trail, size, note) VALUES (?1, ?2, ?3)",
                    params![t.id, n as i64, note],
                )?;
            }
        }
        tx.execute(
            "UPDATE trails SET cursor = ?2, leaves = ?3, pending = NULL, latest_delivery_time = CASE WHEN ?5 THEN ?4 ELSE latest_delivery_time END, latest_delivery_attempt = ?4, latest_delivery_error = NULL WHERE id = ?1",
            params![t.id, to, n as i64, now_text(now), !files.is_empty()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The signed checkpoint of `trail`'s log at `size` (the newest when `None`).
    pub fn checkpoint(&self, trail: i64, size: Option<u64>) -> Result<(u64, String), TrailsError> {
        checkpoint_note(&self.conn(), trail, size)
    }

    /// The inclusion proof of `event_id` in `trail`'s log at a checkpointed size.
    pub fn inclusion(
        &self,
        trail: i64,
        event_id: &str,
        size: Option<u64>,
    ) -> Result<Inclusion, TrailsError> {
        let c = self.conn();
        let (size, checkpoint) = checkpoint_note(&c, trail, size)?;
        let leaf: Option<(i64, String, String)> = c
            .query_row(
                "SELECT n, account, object FROM tlog_leaves
                 WHERE trail = ?1 AND event_id = ?2 AND n < ?3 ORDER BY n LIMIT 1",
                params![trail, event_id, size as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (n, account, object) = leaf.ok_or_else(|| {
            TrailsError::NotFound(format!(
                "event {event_id:?} is not in the log at size {size}"
            ))
        })?;
        let proof = crate::merkle::TreeHashes::new(&c, trail).inclusion(n as u64, size)?;
        Ok(Inclusion {
            size,
            checkpoint,
            leaf_index: n as u64,
            account,
            object,
            proof,
        })
    }

    /// The consistency proof between two checkpointed sizes of `trail`'s log (new: the newest
    /// when `None`): (old size, old note, new size, new note, proof).
    pub fn consistency(
        &self,
        trail: i64,
        old: u64,
        new: Option<u64>,
    ) -> Result<Consistency, TrailsError> {
        let c = self.conn();
        let (new_size, new_note) = checkpoint_note(&c, trail, new)?;
        let (old_size, old_note) = checkpoint_note(&c, trail, Some(old))?;
        if old_size > new_size {
            return Err(TrailsError::Invalid(format!(
                "old size {old_size} is larger than new size {new_size}"
            )));
        }
        let proof = crate::merkle::TreeHashes::new(&c, trail).consistency(old_size, new_size)?;
        Ok(Consistency {
            old: (old_size, old_note),
            new: (new_size, new_note),
            proof,
        })
    }

    pub fn create(
        &self,
        account: AccountId,
        spec: &TrailSpec,
        cursor: i64,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<TrailRow, TrailsError> {
        let (skey, vkey) = signing::generate_note_key(origin);
        let c = self.conn();
        let exists: bool = c.query_row(
            "SELECT count(*) > 0 FROM trails WHERE account = ?1 AND name = ?2",
            params![account, spec.name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(TrailsError::Conflict(format!(
                "a trail named {:?} already exists in this account",
                spec.name
            )));
        }
        let period = spec.digest_interval_seconds as i64;
        let next = (now.timestamp().div_euclid(period) + 1) * period;
        c.execute(
            "INSERT INTO trails (account, name, spec, logging, created_at, cursor, logging_started_at, next_digest_at, note_skey, note_vkey)
             VALUES (?1, ?2, ?3, 1, ?4, ?5, ?4, ?6, ?7, ?8)",
            params![
                account,
                spec.name,
                serde_json::to_string(spec).map_err(|e| TrailsError::Invalid(e.to_string()))?,
                now_text(now),
                cursor,
                next,
                skey,
                vkey
            ],
        )?;
        let id = c.last_insert_rowid();
        drop(c);
        self.get_by_id(id)
    }

    pub fn get_by_id(&self, id: i64) -> Result<TrailRow, TrailsError> {
        let c = self.conn();
        let r = c
            .query_row(
                &format!("SELECT {COLUMNS} FROM trails WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?
            .ok_or_else(|| TrailsError::NotFound(format!("trail {id} no longer exists")))?;
        finish(r)
    }

    pub fn get(&self, account: AccountId, name: &str) -> Result<TrailRow, TrailsError> {
        let c = self.conn();
        let r = c
            .query_row(
                &format!("SELECT {COLUMNS} FROM trails WHERE account = ?1 AND name = ?2"),
                params![account, name],
                row,
            )
            .optional()?
            .ok_or_else(|| {
                TrailsError::NotFound(format!(
                    "no trail named {name:?} in account {account}; `mamori trail list` shows them"
                ))
            })?;
        finish(r)
    }

    /// Trails of `account`, or every trail when `None`.
    pub fn list(&self, account: Option<AccountId>) -> Result<Vec<TrailRow>, TrailsError> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "SELECT {COLUMNS} FROM trails WHERE ?1 IS NULL OR account = ?1 ORDER BY account, name"
        ))?;
        let rows = st
            .query_map([account], row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish).collect()
    }

    pub fn save_spec(&self, id: i64, spec: &TrailSpec) -> Result<(), TrailsError> {
        self.conn().execute(
            "UPDATE trails SET spec = ?2 WHERE id = ?1",
            params![
                id,
                serde_json::to_string(spec).map_err(|e| TrailsError::Invalid(e.to_string()))?
            ],
        )?;
        Ok(())
    }

    pub fn delete(&self, id: i64) -> Result<(), TrailsError> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        tx.execute(
            "INSERT INTO retired_keys SELECT t.account, t.name, k.region, k.algorithm, k.fingerprint, \
             k.public_der, k.valid_from, COALESCE(k.valid_to, ?2) \
             FROM keys k JOIN trails t ON t.id = k.trail WHERE k.trail = ?1",
            params![id, now],
        )?;
        tx.execute(
            "INSERT INTO retired_checkpoint_keys SELECT account, name, note_vkey, ?2 FROM trails WHERE id = ?1",
            params![id, now],
        )?;
        for table in [
            "trails WHERE id",
            "log_files WHERE trail",
            "chains WHERE trail",
            "keys WHERE trail",
            "tlog_hashes WHERE trail",
            "tlog_leaves WHERE trail",
            "checkpoints WHERE trail",
        ] {
            tx.execute(&format!("DELETE FROM {table} = ?1"), [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// StartLogging: deliver events after `cursor`; digest chains start afresh (their first
    /// digest has null previous-digest fields, as CloudTrail's does after a restart).
    pub fn start_logging(
        &self,
        t: &TrailRow,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<(), TrailsError> {
        let period = t.spec.digest_interval_seconds as i64;
        let next = (now.timestamp().div_euclid(period) + 1) * period;
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "UPDATE trails SET logging = 1, stop_seq = NULL, cursor = max(cursor, ?2), logging_started_at = ?3, next_digest_at = ?4 WHERE id = ?1",
            params![t.id, cursor, now_text(now), next],
        )?;
        tx.execute("DELETE FROM chains WHERE trail = ?1", [t.id])?;
        tx.commit()?;
        Ok(())
    }

    /// StopLogging: everything up to `stop_seq` (the StopLogging event included) is still
    /// delivered, then the final digests are written.
    pub fn stop_logging(
        &self,
        t: &TrailRow,
        stop_seq: i64,
        now: DateTime<Utc>,
    ) -> Result<(), TrailsError> {
        self.conn().execute(
            "UPDATE trails SET logging = 0, stop_seq = ?2, logging_stopped_at = ?3 WHERE id = ?1",
            params![t.id, stop_seq, now_text(now)],
        )?;
        Ok(())
    }

    /// The digest key of (trail, region) valid now, created on first use.
    pub fn digest_key(
        &self,
        t: &TrailRow,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<(SigningKey, String), TrailsError> {
        let found: Option<(String, Vec<u8>, String)> = self
            .conn()
            .query_row(
                "SELECT algorithm, private_key, fingerprint FROM keys WHERE trail = ?1 AND region = ?2 AND valid_to IS NULL ORDER BY id DESC LIMIT 1",
                params![t.id, region],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((alg, private, fp)) = found
            && alg == t.spec.digest_signature_algorithm
        {
            let private = self.keyring.unseal(&private, &Self::key_label(&fp))?;
            return Ok((SigningKey::from_private_bytes(&alg, &private)?, fp));
        }
        self.rotate_key(t, region, now)
    }

    /// Retires the current key of (trail, region) and makes a new one.
    pub fn rotate_key(
        &self,
        t: &TrailRow,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<(SigningKey, String), TrailsError> {
        let key = SigningKey::generate(&t.spec.digest_signature_algorithm)?;
        let der = key.public_der()?;
        let fp = signing::fingerprint(&der);
        let sealed = self
            .keyring
            .seal(&key.to_private_bytes()?, &Self::key_label(&fp))?;
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "UPDATE keys SET valid_to = ?3 WHERE trail = ?1 AND region = ?2 AND valid_to IS NULL",
            params![t.id, region, now_text(now)],
        )?;
        tx.execute(
            "INSERT INTO keys (trail, region, algorithm, fingerprint, public_der, private_key, valid_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![t.id, region, key.algorithm(), fp, der, sealed, now_text(now)],
        )?;
        tx.commit()?;
        Ok((key, fp))
    }

    /// Regions that have a digest key for the trail.
    pub fn key_regions(&self, trail: i64) -> Result<Vec<String>, TrailsError> {
        let c = self.conn();
        let mut st =
            c.prepare("SELECT DISTINCT region FROM keys WHERE trail = ?1 ORDER BY region")?;
        let rows = st
            .query_map([trail], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The public keys of an account's deleted trails (all, or one trail name's): digest keys,
    /// and (trail, checkpoint verifier key) pairs.
    pub fn retired_keys(
        &self,
        account: AccountId,
        trail: Option<&str>,
    ) -> Result<RetiredKeys, TrailsError> {
        use base64::Engine;
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT trail, region, algorithm, fingerprint, public_der, valid_from, valid_to FROM retired_keys \
             WHERE account = ?1 AND (?2 IS NULL OR trail = ?2) ORDER BY trail, region, valid_from",
        )?;
        let keys = st
            .query_map(params![account, trail], |r| {
                Ok(PublicKey {
                    trail: r.get(0)?,
                    region: r.get(1)?,
                    algorithm: r.get(2)?,
                    fingerprint: r.get(3)?,
                    value: base64::engine::general_purpose::STANDARD
                        .encode(r.get::<_, Vec<u8>>(4)?),
                    validity_start_time: r.get(5)?,
                    validity_end_time: Some(r.get(6)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = c.prepare(
            "SELECT trail, vkey FROM retired_checkpoint_keys WHERE account = ?1 AND (?2 IS NULL OR trail = ?2) \
             ORDER BY deleted_at",
        )?;
        let vkeys = st
            .query_map(params![account, trail], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((keys, vkeys))
    }

    pub fn public_keys(&self, trails: &[TrailRow]) -> Result<Vec<PublicKey>, TrailsError> {
        use base64::Engine;
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT region, algorithm, fingerprint, public_der, valid_from, valid_to FROM keys WHERE trail = ?1 ORDER BY region, id",
        )?;
        let mut out = Vec::new();
        for t in trails {
            let rows = st.query_map([t.id], |r| {
                Ok(PublicKey {
                    trail: t.spec.name.clone(),
                    region: r.get(0)?,
                    algorithm: r.get(1)?,
                    fingerprint: r.get(2)?,
                    value: base64::engine::general_purpose::STANDARD
                        .encode(r.get::<_, Vec<u8>>(3)?),
                    validity_start_time: r.get(4)?,
                    validity_end_time: r.get(5)?,
                })
            })?;
            for k in rows {
                out.push(k?);
            }
        }
        Ok(out)
    }
}
