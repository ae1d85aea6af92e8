//! Continuous inspection on a server (`inspect.db`): inventories stored per resource of an
//! account, their findings with Inspector's lifecycle, and suppression rules.
//!
//! Whenever an inventory is recorded, or the advisory database changes, the stored inventories
//! are matched again — without collecting anything again. A finding seen for the first time is
//! ACTIVE (or SUPPRESSED when a rule says so); one that no longer matches becomes CLOSED; one that
//! matches again is reopened. `firstObservedAt` is kept across all of it.

use std::collections::HashMap;
use std::path::Path;

use mamori_core::AccountId;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::{AdvisoryDb, DbError};
use crate::finding::{Finding, Target, severity_rank};
use crate::inventory::{OsRelease, Package};
use crate::scan::{Inventory, ScanError, match_inventory};

const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE resources (
    id              INTEGER PRIMARY KEY,
    account         INTEGER NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    details         TEXT NOT NULL,
    inventory       BLOB NOT NULL,
    package_count   INTEGER NOT NULL,
    last_scanned_at TEXT NOT NULL,
    UNIQUE (account, resource_id)
);
CREATE TABLE findings (
    arn               TEXT PRIMARY KEY,
    account           INTEGER NOT NULL,
    resource          INTEGER NOT NULL,
    status            TEXT NOT NULL,
    severity          TEXT NOT NULL,
    vulnerability_id  TEXT NOT NULL,
    package_name      TEXT NOT NULL,
    first_observed_at TEXT NOT NULL,
    last_observed_at  TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX findings_by_account ON findings (account, status);
CREATE INDEX findings_by_resource ON findings (resource);
CREATE TABLE filters (
    id         INTEGER PRIMARY KEY,
    account    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    action     TEXT NOT NULL,
    criteria   TEXT NOT NULL,
    reason     TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (account, name)
);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
",
    "
-- The console's counts by severity and by day read this index alone, never the documents.
CREATE INDEX findings_by_severity ON findings (account, status, severity, first_observed_at);
-- Most vulnerable packages and resources, each resource's active findings (coverage), and
-- an account's findings in page order, from indexes.
CREATE INDEX findings_by_package ON findings (account, status, package_name);
CREATE INDEX findings_by_resource_status ON findings (resource, status);
CREATE INDEX findings_by_account_resource ON findings (account, status, resource);
CREATE INDEX findings_by_account_arn ON findings (account, arn);
",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] mamori_core::db::DbError),
    #[error("inspection store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Advisories(#[from] DbError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("stored data is damaged: {0}")]
    Damaged(String),
}

impl mamori_core::service::ServiceError for StoreError {
    fn code(&self) -> mamori_core::ErrorCode {
        match self {
            StoreError::Invalid(_) => mamori_core::ErrorCode::BadRequest,
            StoreError::NotFound(_) => mamori_core::ErrorCode::NotFound,
            _ => mamori_core::ErrorCode::Internal,
        }
    }
}

/// What a scan records: the resource and its inventory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredInventory {
    #[serde(default)]
    pub os: Option<OsRelease>,
    pub packages: Vec<Package>,
}

/// The effect of matching one or more inventories.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchSummary {
    pub resources: usize,
    pub active: usize,
    pub suppressed: usize,
    pub opened: usize,
    pub closed: usize,
    pub reopened: usize,
}

/// A saved filter; `SUPPRESS` ones set matching findings to SUPPRESSED.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub name: String,
    pub action: String,
    pub filter_criteria: Criteria,
    #[serde(default)]
    pub reason: Option<String>,
    /// Says that a filter with no criteria — one that matches every finding — is meant.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_all: bool,
}

/// Inspector's FilterCriteria, the string keys: within a key the EQUALS/PREFIX values are
/// alternatives and NOT_EQUALS ones all apply; keys are AND-ed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Criteria {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<StringFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulnerability_id: Vec<StringFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulnerable_package_name: Vec<StringFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_id: Vec<StringFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_type: Vec<StringFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fix_available: Vec<StringFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exploit_available: Vec<StringFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finding_status: Vec<StringFilter>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StringFilter {
    pub comparison: String,
    pub value: String,
}

fn key_matches(filters: &[StringFilter], value: &str) -> bool {
    if filters.is_empty() {
        return true;
    }
    let positive: Vec<&StringFilter> = filters
        .iter()
        .filter(|f| f.comparison != "NOT_EQUALS")
        .collect();
    let any = positive.is_empty()
        || positive.iter().any(|f| match f.comparison.as_str() {
            "PREFIX" => value.starts_with(&f.value),
            _ => value == f.value,
        });
    any && filters
        .iter()
        .filter(|f| f.comparison == "NOT_EQUALS")
        .all(|f| value != f.value)
}

impl Criteria {
    /// Every key's conditions.
    fn keys(&self) -> [&Vec<StringFilter>; 8] {
        [
            &self.severity,
            &self.vulnerability_id,
            &self.vulnerable_package_name,
            &self.resource_id,
            &self.resource_type,
            &self.fix_available,
            &self.exploit_available,
            &self.finding_status,
        ]
    }

    pub fn validate(&self) -> Result<(), StoreError> {
        for f in self.keys().into_iter().flatten() {
            if !matches!(f.comparison.as_str(), "EQUALS" | "PREFIX" | "NOT_EQUALS") {
                return Err(StoreError::Invalid(format!(
                    "comparison {:?}: use EQUALS, PREFIX or NOT_EQUALS",
                    f.comparison
                )));
            }
        }
        // Keys with a closed set of values: a misspelt value would match nothing (or, with
        // NOT_EQUALS, everything), so it is refused.
        for (key, filters, allowed) in [
            (
                "severity",
                &self.severity,
                &[
                    "CRITICAL",
                    "HIGH",
                    "MEDIUM",
                    "LOW",
                    "INFORMATIONAL",
                    "UNTRIAGED",
                ][..],
            ),
            (
                "fixAvailable",
                &self.fix_available,
                &["YES", "NO", "PARTIAL"][..],
            ),
            (
                "exploitAvailable",
                &self.exploit_available,
                &["YES", "NO"][..],
            ),
            (
                "findingStatus",
                &self.finding_status,
                &["ACTIVE", "SUPPRESSED", "CLOSED"][..],
            ),
        ] {
            for f in filters {
                let ok = match f.comparison.as_str() {
                    "PREFIX" => allowed.iter().any(|a| a.starts_with(&f.value)),
                    _ => allowed.contains(&f.value.as_str()),
                };
                if !ok {
                    return Err(StoreError::Invalid(format!(
                        "{key} {:?}: one of {}",
                        f.value,
                        allowed.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether no key has a condition (the filter matches every finding).
    pub fn is_empty(&self) -> bool {
        self.keys().iter().all(|v| v.is_empty())
    }

    pub fn matches(&self, f: &Finding, status: &str) -> bool {
        let d = &f.package_vulnerability_details;
        key_matches(&self.severity, &f.severity)
            && key_matches(&self.vulnerability_id, &d.vulnerability_id)
            && (self.vulnerable_package_name.is_empty()
                || d.vulnerable_packages
                    .iter()
                    .any(|p| key_matches(&self.vulnerable_package_name, &p.name)))
            && f.resources.iter().any(|r| {
                key_matches(&self.resource_id, &r.id) && key_matches(&self.resource_type, &r.kind)
            })
            && key_matches(&self.fix_available, &f.fix_available)
            && key_matches(&self.exploit_available, &f.exploit_available)
            && key_matches(&self.finding_status, status)
    }
}

/// Inspection counts for dashboards.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectSummary {
    /// Active findings by severity label (CRITICAL … UNTRIAGED).
    pub active: std::collections::BTreeMap<String, u64>,
    /// All findings by status (ACTIVE, SUPPRESSED, CLOSED).
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// Active findings first observed per day (YYYY-MM-DD), by severity label.
    pub observed_per_day:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
}

pub struct InspectStore {
    conn: Connection,
    path: std::path::PathBuf,
}

fn now() -> String {
    mamori_core::time::now_millis()
}

struct ResourceRow {
    id: i64,
    account: AccountId,
    resource_type: String,
    resource_id: String,
    details: Value,
    inventory: StoredInventory,
}

impl InspectStore {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join("inspect.db");
        let mut conn = mamori_core::db::open(&path)?;
        mamori_core::db::migrate(&mut conn, &path, MIGRATIONS)?;
        Ok(Self { conn, path })
    }

    /// The database file (for a pool of readers beside this writer).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read side, on the writer's own connection.
    pub fn reads(&self) -> Reads<'_> {
        Reads::new(&self.conn)
    }

    /// Records (or replaces) the inventory of a resource and matches it.
    pub fn record_scan(
        &mut self,
        adb: &AdvisoryDb,
        account: AccountId,
        resource_type: &str,
        resource_id: &str,
        details: &Value,
        inventory: &StoredInventory,
    ) -> Result<MatchSummary, StoreError> {
        if resource_id.is_empty() || resource_id.len() > 2048 {
            return Err(StoreError::Invalid(
                "resourceId must be 1 to 2048 characters".into(),
            ));
        }
        let json = serde_json::to_vec(inventory).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let blob =
            zstd::bulk::compress(&json, 3).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let at = now();
        self.conn.execute(
            "INSERT INTO resources (account, resource_type, resource_id, details, inventory, package_count, last_scanned_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(account, resource_id) DO UPDATE SET \
             resource_type = ?2, details = ?4, inventory = ?5, package_count = ?6, last_scanned_at = ?7",
            params![account, resource_type, resource_id, details.to_string(), blob, inventory.packages.len() as i64, at],
        )?;
        let id: i64 = self.conn.query_row(
            "SELECT id FROM resources WHERE account = ?1 AND resource_id = ?2",
            params![account, resource_id],
            |r| r.get(0),
        )?;
        let row = self.resource(id)?;
        let mut summary = MatchSummary::default();
        self.rematch(adb, &row, &at, &mut summary)?;
        Ok(summary)
    }

    fn resource(&self, id: i64) -> Result<ResourceRow, StoreError> {
        let (account, resource_type, resource_id, details, blob): (AccountId, String, String, String, Vec<u8>) =
            self.conn.query_row(
                "SELECT account, resource_type, resource_id, details, inventory FROM resources WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
        let json = zstd::decode_all(&blob[..])
            .map_err(|e| StoreError::Damaged(format!("inventory of resource {id}: {e}")))?;
        Ok(ResourceRow {
            id,
            account,
            resource_type,
            resource_id,
            details: serde_json::from_str(&details).unwrap_or(Value::Null),
            inventory: serde_json::from_slice(&json)
                .map_err(|e| StoreError::Invalid(format!("stored inventory {id}: {e}")))?,
        })
    }

    fn filters_of(&self, account: AccountId) -> Result<Vec<Filter>, StoreError> {
        self.reads().list_filters(account)
    }

    /// Matches one stored inventory again and moves its findings through their lifecycle.
    fn rematch(
        &mut self,
        adb: &AdvisoryDb,
        row: &ResourceRow,
        at: &str,
        summary: &mut MatchSummary,
    ) -> Result<(), StoreError> {
        let inv = Inventory {
            os: row.inventory.os.clone(),
            packages: row.inventory.packages.clone(),
            ..Default::default()
        };
        let target = Target {
            account: row.account.to_string(),
            region: "local".into(),
            resource_type: row.resource_type.clone(),
            resource_id: row.resource_id.clone(),
            details: row.details.clone(),
        };
        let report = match_inventory(adb, &inv, &target, at)?;
        let suppress: Vec<Filter> = self
            .filters_of(row.account)?
            .into_iter()
            .filter(|f| f.action == "SUPPRESS")
            .collect();
        let tx = self.conn.transaction()?;
        let mut existing: HashMap<String, (String, String)> = HashMap::new();
        {
            let mut st = tx.prepare(
                "SELECT arn, status, first_observed_at FROM findings WHERE resource = ?1",
            )?;
            for r in st.query_map([row.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
                let (arn, status, first): (String, String, String) = r?;
                existing.insert(arn, (status, first));
            }
        }
        summary.resources += 1;
        for f in &report.findings {
            // Timestamps live in their columns; the stored document leaves them out, so that
            // an unchanged finding keeps its updatedAt.
            let mut stored = f.clone();
            stored.first_observed_at.clear();
            stored.last_observed_at.clear();
            stored.updated_at.clear();
            let suppressed = suppress
                .iter()
                .any(|s| s.filter_criteria.matches(f, "ACTIVE"));
            let status = if suppressed { "SUPPRESSED" } else { "ACTIVE" };
            if suppressed {
                summary.suppressed += 1;
            } else {
                summary.active += 1;
            }
            let first = match existing.remove(&f.finding_arn) {
                None => {
                    summary.opened += 1;
                    at.to_string()
                }
                Some((old, first)) => {
                    if old == "CLOSED" {
                        summary.reopened += 1;
                    }
                    first
                }
            };
            tx.execute(
                "INSERT INTO findings (arn, account, resource, status, severity, vulnerability_id, package_name, \
                 first_observed_at, last_observed_at, updated_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10) \
                 ON CONFLICT(arn) DO UPDATE SET status = ?4, severity = ?5, last_observed_at = ?9, \
                 updated_at = CASE WHEN status != ?4 OR doc != ?10 THEN ?9 ELSE updated_at END, doc = ?10",
                params![
                    f.finding_arn,
                    row.account,
                    row.id,
                    status,
                    f.severity,
                    f.package_vulnerability_details.vulnerability_id,
                    f.package_vulnerability_details.vulnerable_packages.first().map(|p| p.name.as_str()).unwrap_or(""),
                    first,
                    at,
                    serde_json::to_string(&stored).unwrap_or_default()
                ],
            )?;
        }
        for (arn, (status, _)) in existing {
            if status != "CLOSED" {
                tx.execute(
                    "UPDATE findings SET status = 'CLOSED', updated_at = ?2 WHERE arn = ?1",
                    params![arn, at],
                )?;
                summary.closed += 1;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Matches every stored inventory again if the advisory database changed since the last
    /// time; returns what changed (None when nothing was due).
    pub fn rematch_if_changed(
        &mut self,
        adb: &AdvisoryDb,
    ) -> Result<Option<MatchSummary>, StoreError> {
        let generation = adb.generation()?.to_string();
        let seen: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM state WHERE key = 'advisory_generation'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if seen.as_deref() == Some(generation.as_str()) {
            return Ok(None);
        }
        let summary = self.rematch_all(adb)?;
        self.conn.execute(
            "INSERT INTO state (key, value) VALUES ('advisory_generation', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1",
            [generation],
        )?;
        Ok(Some(summary))
    }

    pub fn rematch_all(&mut self, adb: &AdvisoryDb) -> Result<MatchSummary, StoreError> {
        self.rematch_where(adb, None)
    }

    /// Matches again every stored inventory (of one account, or of all).
    fn rematch_where(
        &mut self,
        adb: &AdvisoryDb,
        account: Option<AccountId>,
    ) -> Result<MatchSummary, StoreError> {
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT id FROM resources WHERE ?1 IS NULL OR account = ?1 ORDER BY id")?
            .query_map([account], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let at = now();
        let mut summary = MatchSummary::default();
        for id in ids {
            let row = self.resource(id)?;
            self.rematch(adb, &row, &at, &mut summary)?;
        }
        Ok(summary)
    }

    pub fn put_filter(
        &mut self,
        adb: &AdvisoryDb,
        account: AccountId,
        f: &Filter,
    ) -> Result<MatchSummary, StoreError> {
        if !matches!(f.action.as_str(), "SUPPRESS" | "NONE") {
            return Err(StoreError::Invalid(format!(
                "action {:?}: use SUPPRESS or NONE",
                f.action
            )));
        }
        if f.name.is_empty() || f.name.len() > 128 {
            return Err(StoreError::Invalid(
                "name must be 1 to 128 characters".into(),
            ));
        }
        f.filter_criteria.validate()?;
        match (f.filter_criteria.is_empty(), f.match_all) {
            (true, false) => {
                return Err(StoreError::Invalid(
                    "a filter with no criteria matches every finding: give criteria, or matchAll: true (CLI: --all) if every finding is meant".into(),
                ));
            }
            (false, true) => {
                return Err(StoreError::Invalid(
                    "matchAll is for a filter with no criteria; drop it or the criteria".into(),
                ));
            }
            _ => {}
        }
        self.conn.execute(
            "INSERT INTO filters (account, name, action, criteria, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(account, name) DO UPDATE SET action = ?3, criteria = ?4, reason = ?5",
            params![account, f.name, f.action, serde_json::to_string(&f.filter_criteria).unwrap_or_default(), f.reason, now()],
        )?;
        self.rematch_account(adb, account)
    }

    pub fn delete_filter(
        &mut self,
        adb: &AdvisoryDb,
        account: AccountId,
        name: &str,
    ) -> Result<MatchSummary, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM filters WHERE account = ?1 AND name = ?2",
            params![account, name],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no filter named {name:?}")));
        }
        self.rematch_account(adb, account)
    }

    fn rematch_account(
        &mut self,
        adb: &AdvisoryDb,
        account: AccountId,
    ) -> Result<MatchSummary, StoreError> {
        self.rematch_where(adb, Some(account))
    }
}

/// The read side of the inspection store: on the writer's connection or a pooled read-only
/// one, so API reads never wait behind re-matching.
pub struct Reads<'c> {
    conn: &'c Connection,
}

impl<'c> Reads<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }

    /// Counts for dashboards, from the severity index alone: findings by status and severity,
    /// and active findings first observed on each day since `since_day` (YYYY-MM-DD) by
    /// severity.
    pub fn severity_summary(
        &self,
        account: AccountId,
        since_day: &str,
    ) -> Result<InspectSummary, StoreError> {
        let mut out = InspectSummary::default();
        // Totals: a covered pass over the severity index, in its order (no sort).
        let mut st = self.conn.prepare_cached(
            "SELECT status, severity, COUNT(*) FROM findings WHERE account = ?1 GROUP BY 1, 2",
        )?;
        let mut rows = st.query([account])?;
        while let Some(r) = rows.next()? {
            let (status, severity, n): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            *out.by_status.entry(status.clone()).or_default() += n as u64;
            if status == "ACTIVE" {
                *out.active.entry(severity).or_default() += n as u64;
            }
        }
        // Per active severity and day, a count over an index range (grouping the window's
        // findings by day in one query sorted them all).
        let mut per_day = self.conn.prepare_cached(
            "SELECT COUNT(*) FROM findings WHERE account = ?1 AND status = 'ACTIVE' \
             AND severity = ?2 AND first_observed_at >= ?3 AND first_observed_at < ?4",
        )?;
        let days = mamori_core::time::days_through_today(since_day);
        let severities: Vec<String> = out.active.keys().cloned().collect();
        for severity in severities {
            for (day, next) in &days {
                let n: i64 =
                    per_day.query_row(params![account, severity, day, next], |r| r.get(0))?;
                if n > 0 {
                    *out.observed_per_day
                        .entry(day.clone())
                        .or_default()
                        .entry(severity.clone())
                        .or_default() += n as u64;
                }
            }
        }
        Ok(out)
    }

    /// Findings of an account, newest first by severity then title, filtered.
    pub fn findings(
        &self,
        account: AccountId,
        criteria: &Criteria,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<String>), StoreError> {
        // Equality filters on stored columns narrow the rows in SQL; every criterion is still
        // checked on the finding below (the columns only ever make the set smaller).
        let column = |filters: &[StringFilter]| -> Option<String> {
            (!filters.is_empty() && filters.iter().all(|f| f.comparison == "EQUALS")).then(|| {
                serde_json::to_string(&filters.iter().map(|f| &f.value).collect::<Vec<_>>())
                    .unwrap_or_else(|_| "[]".into())
            })
        };
        let mut st = self.conn.prepare_cached(
            "SELECT arn, status, first_observed_at, last_observed_at, updated_at, doc FROM findings \
             WHERE account = ?1 AND (?2 IS NULL OR arn > ?2) \
             AND (?3 IS NULL OR status IN (SELECT value FROM json_each(?3))) \
             AND (?4 IS NULL OR severity IN (SELECT value FROM json_each(?4))) \
             AND (?5 IS NULL OR vulnerability_id IN (SELECT value FROM json_each(?5))) \
             ORDER BY arn",
        )?;
        let rows = st.query_map(
            params![
                account,
                after,
                column(&criteria.finding_status),
                column(&criteria.severity),
                column(&criteria.vulnerability_id),
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        let mut next = None;
        for row in rows {
            let (arn, status, first, last, updated, doc) = row?;
            let f: Finding = serde_json::from_str(&doc).map_err(|e| {
                StoreError::Damaged(format!("stored finding {arn} does not parse: {e}"))
            })?;
            if !criteria.matches(&f, &status) {
                continue;
            }
            if out.len() == limit {
                next = Some(
                    out.last()
                        .and_then(|v: &Value| v["findingArn"].as_str().map(String::from))
                        .unwrap_or(arn),
                );
                break;
            }
            let mut v = serde_json::to_value(&f).unwrap_or(Value::Null);
            v["status"] = Value::String(status);
            v["firstObservedAt"] = Value::String(first);
            v["lastObservedAt"] = Value::String(last);
            v["updatedAt"] = Value::String(updated);
            out.push(v);
        }
        Ok((out, next))
    }

    pub fn coverage(&self, account: AccountId) -> Result<Vec<Value>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT r.resource_type, r.resource_id, r.package_count, r.last_scanned_at, \
             (SELECT COUNT(*) FROM findings f WHERE f.resource = r.id AND f.status = 'ACTIVE') \
             FROM resources r WHERE r.account = ?1 ORDER BY r.resource_id",
        )?;
        let rows = st.query_map([account], |r| {
            Ok(serde_json::json!({
                "accountId": account,
                "resourceType": r.get::<_, String>(0)?,
                "resourceId": r.get::<_, String>(1)?,
                "packageCount": r.get::<_, i64>(2)?,
                "lastScannedAt": r.get::<_, String>(3)?,
                "activeFindings": r.get::<_, i64>(4)?,
                "scanStatus": {"statusCode": "ACTIVE", "reason": "SUCCESSFUL"},
            }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn stats(&self, account: AccountId) -> Result<Value, StoreError> {
        let mut by_sev = serde_json::Map::new();
        let mut st = self.conn.prepare(
            "SELECT severity, COUNT(*) FROM findings WHERE account = ?1 AND status = 'ACTIVE' GROUP BY severity",
        )?;
        let mut sev: Vec<(String, i64)> = st
            .query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        sev.sort_by_key(|(s, _)| std::cmp::Reverse(severity_rank(s)));
        for (s, n) in sev {
            by_sev.insert(s, n.into());
        }
        let top = |sql: &str| -> Result<Vec<Value>, StoreError> {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([account], |r| {
                Ok(serde_json::json!({"name": r.get::<_, String>(0)?, "activeFindings": r.get::<_, i64>(1)?}))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        Ok(serde_json::json!({
            "accountId": account,
            "activeBySeverity": by_sev,
            "mostVulnerablePackages": top(
                "SELECT package_name, COUNT(*) FROM findings WHERE account = ?1 AND status = 'ACTIVE' \
                 GROUP BY package_name ORDER BY 2 DESC, 1 LIMIT 10")?,
            "mostVulnerableResources": top(
                "SELECT r.resource_id, c.n FROM \
                 (SELECT resource, COUNT(*) AS n FROM findings WHERE account = ?1 AND status = 'ACTIVE' \
                  GROUP BY resource) c JOIN resources r ON r.id = c.resource \
                 ORDER BY 2 DESC, 1 LIMIT 10")?,
        }))
    }

    /// The account's suppression rules, by name.
    pub fn list_filters(&self, account: AccountId) -> Result<Vec<Filter>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT name, action, criteria, reason FROM filters WHERE account = ?1 ORDER BY name",
        )?;
        let rows = st.query_map([account], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, action, criteria, reason) = row?;
            // A stored rule that does not parse is an error: read as "no criteria" it would
            // suppress every finding.
            let filter_criteria = serde_json::from_str(&criteria).map_err(|e| {
                StoreError::Damaged(format!("suppression rule {name:?} does not parse: {e}"))
            })?;
            out.push(Filter {
                name,
                action,
                filter_criteria,
                reason,
                match_all: false,
            });
        }
        Ok(out)
    }
}
