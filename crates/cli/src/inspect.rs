//! `mamori inspect`: vulnerability inspection of a directory, root filesystem or lockfile,
//! offline, against a local advisory database.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mamori_inspect::db::AdvisoryDb;
use mamori_inspect::finding::{Target, severity_rank};
use mamori_inspect::scan::{TargetKind, match_inventory};

use crate::client::Client;
use crate::output::{cell, sanitize, table};
use crate::{Exit, Remote, usage};

#[derive(Subcommand)]
pub enum InspectCommand {
    /// Scan a directory, root filesystem or lockfile for vulnerable packages (offline)
    Scan(ScanArgs),
    /// The advisory database: import OSV data and the CISA KEV catalogue, show what is loaded
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Findings recorded on a server (filters AND-ed; values comma-separated)
    Findings(FindingsArgs),
    /// Resources a server has inventories of, when last scanned, package counts
    Coverage {
        #[command(flatten)]
        remote: Remote,
    },
    /// Counts by severity, most vulnerable packages and resources
    Stats {
        #[command(flatten)]
        remote: Remote,
    },
    /// Suppression rules: findings they match become SUPPRESSED (never deleted)
    Filters {
        #[command(subcommand)]
        command: FilterCommand,
    },
}

#[derive(Args)]
pub struct FindingsArgs {
    #[arg(long)]
    pub severity: Option<String>,
    /// ACTIVE, SUPPRESSED, CLOSED
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub vulnerability_id: Option<String>,
    #[arg(long)]
    pub package_name: Option<String>,
    #[arg(long)]
    pub resource_id: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::Format,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Subcommand)]
pub enum FilterCommand {
    /// Create or replace a suppression rule
    Create {
        name: String,
        /// SUPPRESS or NONE (a saved filter)
        #[arg(long, default_value = "SUPPRESS")]
        action: String,
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        vulnerability_id: Option<String>,
        #[arg(long)]
        package_name: Option<String>,
        #[arg(long)]
        resource_id: Option<String>,
        /// Why (kept with the rule)
        #[arg(long)]
        reason: Option<String>,
        /// A rule with no criteria: it matches every finding
        #[arg(long, conflicts_with_all = ["severity", "vulnerability_id", "package_name", "resource_id"])]
        all: bool,
        #[command(flatten)]
        remote: Remote,
    },
    List {
        #[command(flatten)]
        remote: Remote,
    },
    Delete {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    Table,
    Json,
    /// CycloneDX 1.5 JSON: the inventory and the vulnerabilities found
    Cyclonedx,
    /// SPDX 2.3 JSON: the inventory
    Spdx,
    /// SARIF 2.1.0: the findings, for code-scanning dashboards
    Sarif,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MinSeverity {
    Untriaged,
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl MinSeverity {
    fn rank(self) -> u8 {
        match self {
            MinSeverity::Untriaged => 0,
            MinSeverity::Informational => 1,
            MinSeverity::Low => 2,
            MinSeverity::Medium => 3,
            MinSeverity::High => 4,
            MinSeverity::Critical => 5,
        }
    }
}

#[derive(Args)]
pub struct DbArgs {
    /// The advisory database file [env: MAMORI_ADVISORY_DB; default: ~/.cache/mamori/advisories.db]
    #[arg(long, global = true, env = "MAMORI_ADVISORY_DB")]
    pub db: Option<PathBuf>,
}

#[derive(Args)]
pub struct ScanArgs {
    /// A directory or root filesystem, an image archive (docker save / OCI), an OCI layout
    /// directory, a .zip bundle, a CycloneDX or SPDX JSON SBOM, or one lockfile
    pub target: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ScanFormat,
    /// Report only findings at or above this severity
    #[arg(long, value_enum, default_value = "untriaged")]
    pub min_severity: MinSeverity,
    /// Exit with this code when any finding is reported (CI gates)
    #[arg(long, default_value_t = 0)]
    pub exit_code: u8,
    #[command(flatten)]
    pub db: DbArgs,
    /// With --endpoint (record the inventory on that server instead of matching locally): the resource's id [default: the target path]
    #[arg(long)]
    pub resource_id: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Import OSV JSON files, directories, OSV all.zip archives and the KEV catalogue JSON
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// What is loaded and how old it is
    Status {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::Format,
    },
}

fn db_path(a: &DbArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &a.db {
        return Ok(p.clone());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .ok_or_else(|| {
            usage("no --db given and no HOME to put ~/.cache/mamori/advisories.db in")
        })?;
    Ok(base.join("mamori/advisories.db"))
}

fn eq_list(key: &str, v: &Option<String>) -> Vec<(String, String)> {
    v.iter().map(|x| (key.to_string(), x.clone())).collect()
}

fn criteria(values: &[(&str, &Option<String>)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in values {
        if let Some(v) = v {
            let list: Vec<serde_json::Value> = v
                .split(',')
                .map(|x| serde_json::json!({"comparison": "EQUALS", "value": x}))
                .collect();
            m.insert(k.to_string(), serde_json::Value::Array(list));
        }
    }
    serde_json::Value::Object(m)
}

pub async fn run(cmd: InspectCommand) -> anyhow::Result<u8> {
    match cmd {
        InspectCommand::Scan(a) if a.remote.endpoint.is_some() => scan_remote(a).await,
        InspectCommand::Findings(a) => {
            let c = Client::from_remote(&a.remote)?;
            let mut q = Vec::new();
            q.extend(eq_list("severity", &a.severity));
            q.extend(eq_list("status", &a.status));
            q.extend(eq_list("vulnerabilityId", &a.vulnerability_id));
            q.extend(eq_list("packageName", &a.package_name));
            q.extend(eq_list("resourceId", &a.resource_id));
            let all = c.get_all("/v1/inspect/findings", &q, "findings").await?;
            if a.format == crate::Format::Json {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|f| {
                    let d = &f["packageVulnerabilityDetails"];
                    let p = &d["vulnerablePackages"][0];
                    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
                    vec![
                        cell(&s(&f["resources"][0]["id"]), 30),
                        cell(&s(&p["name"]), 24),
                        cell(&s(&d["vulnerabilityId"]), 20),
                        s(&f["severity"]),
                        s(&f["status"]),
                        cell(&s(&p["version"]), 20),
                        cell(&s(&p["fixedInVersion"]), 20),
                        cell(&s(&f["firstObservedAt"]), 24),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "RESOURCE",
                        "PACKAGE",
                        "VULNERABILITY",
                        "SEVERITY",
                        "STATUS",
                        "INSTALLED",
                        "FIXED",
                        "FIRST SEEN"
                    ],
                    &rows
                )
            );
            Ok(0)
        }
        InspectCommand::Coverage { remote } => {
            let v = Client::from_remote(&remote)?
                .get("/v1/inspect/coverage", &[])
                .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        InspectCommand::Stats { remote } => {
            let v = Client::from_remote(&remote)?
                .get("/v1/inspect/stats", &[])
                .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        InspectCommand::Filters { command } => match command {
            FilterCommand::Create {
                name,
                action,
                severity,
                vulnerability_id,
                package_name,
                resource_id,
                reason,
                all,
                remote,
            } => {
                let body = serde_json::json!({
                    "name": name,
                    "action": action,
                    "reason": reason,
                    "matchAll": all,
                    "filterCriteria": criteria(&[
                        ("severity", &severity),
                        ("vulnerabilityId", &vulnerability_id),
                        ("vulnerablePackageName", &package_name),
                        ("resourceId", &resource_id),
                    ]),
                });
                let v = Client::from_remote(&remote)?
                    .post_json("/v1/inspect/filters", &body)
                    .await?;
                println!(
                    "Filter {} saved; {} findings suppressed",
                    sanitize(&name),
                    v["summary"]["suppressed"]
                );
                Ok(0)
            }
            FilterCommand::List { remote } => {
                let v = Client::from_remote(&remote)?
                    .get("/v1/inspect/filters", &[])
                    .await?;
                println!("{}", serde_json::to_string_pretty(&v["filters"])?);
                Ok(0)
            }
            FilterCommand::Delete { name, remote } => {
                let path = format!("/v1/inspect/filters/{}", crate::client::segment(&name));
                Client::from_remote(&remote)?.delete(&path).await?;
                println!("Filter {} deleted", sanitize(&name));
                Ok(0)
            }
        },
        other => tokio::task::spawn_blocking(move || run_offline(other)).await?,
    }
}

/// The Inspector resource type a scanned target is recorded as.
fn resource_type(kind: TargetKind, inv: &mamori_inspect::scan::Inventory) -> &'static str {
    match kind {
        TargetKind::Image => "CONTAINER_IMAGE",
        TargetKind::Bundle => "SERVERLESS_FUNCTION",
        TargetKind::Sbom => "CODE_REPOSITORY",
        _ if inv.os.is_some() => "MACHINE_IMAGE",
        _ => "CODE_REPOSITORY",
    }
}

async fn scan_remote(a: ScanArgs) -> anyhow::Result<u8> {
    let c = Client::from_remote(&a.remote)?;
    let target = a.target.clone();
    let (inv, kind) =
        tokio::task::spawn_blocking(move || mamori_inspect::scan::collect_kind(&target))
            .await?
            .map_err(|e| match e {
                e @ mamori_inspect::scan::ScanError::Target { .. } => crate::usage(e.to_string()),
                e => e.into(),
            })?;
    let resource_type = resource_type(kind, &inv);
    let resource_id = a
        .resource_id
        .clone()
        .unwrap_or_else(|| a.target.display().to_string());
    let body = serde_json::json!({
        "resourceType": resource_type,
        "resourceId": resource_id,
        "details": {"os": inv.os.as_ref().map(|o| o.pretty_name.clone())},
        "inventory": {"os": inv.os, "packages": inv.packages},
    });
    let v = c.post_json("/v1/inspect/scans", &body).await?;
    let s = &v["summary"];
    println!(
        "Recorded {} packages of {} ({resource_type}): {} active, {} suppressed; {} new, {} closed",
        v["packages"],
        sanitize(&resource_id),
        s["active"],
        s["suppressed"],
        s["opened"],
        s["closed"]
    );
    for e in &inv.errors {
        eprintln!("warning: {}", sanitize(e));
    }
    let active = s["active"].as_u64().unwrap_or(0);
    Ok(if active == 0 { 0 } else { a.exit_code })
}

fn run_offline(cmd: InspectCommand) -> anyhow::Result<u8> {
    match cmd {
        InspectCommand::Scan(a) => scan(a),
        InspectCommand::Db {
            command: DbCommand::Import { paths, db },
        } => {
            let path = db_path(&db)?;
            let mut adb = AdvisoryDb::open(&path)?;
            // 1 when a record was rejected, 2 when a file could not be imported at all.
            let mut failed = false;
            let mut rejected = false;
            for p in paths {
                let started = std::time::Instant::now();
                match adb.import(&p) {
                    Ok(r) => {
                        rejected |= !r.rejected.is_empty();
                        println!(
                            "{}: {} added, {} updated, {} withdrawn, {} unchanged, {} KEV entries changed, {} rejected ({:.1}s)",
                            sanitize(&p.display().to_string()),
                            r.added,
                            r.updated,
                            r.withdrawn,
                            r.unchanged,
                            r.kev,
                            r.rejected.len(),
                            started.elapsed().as_secs_f64()
                        );
                        for why in r.rejected.iter().take(20) {
                            eprintln!("  rejected: {}", sanitize(why));
                        }
                        if r.rejected.len() > 20 {
                            eprintln!("  … and {} more rejected", r.rejected.len() - 20);
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {}", sanitize(&e.to_string()));
                        failed = true;
                    }
                }
            }
            Ok(if failed { 2 } else { u8::from(rejected) })
        }
        InspectCommand::Db {
            command: DbCommand::Status { db, format },
        } => {
            let path = db_path(&db)?;
            if !path.exists() {
                return Err(Exit(
                    1,
                    format!(
                        "no advisory database at {}: run `mamori inspect db import PATH…` first",
                        path.display()
                    ),
                )
                .into());
            }
            let s = AdvisoryDb::open(&path)?.status()?;
            if format == crate::Format::Json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(0);
            }
            println!("Database:        {}", sanitize(&s.path));
            println!(
                "Advisories:      {} ({} withdrawn, not matched)",
                s.advisories, s.withdrawn
            );
            for (src, n) in &s.by_source {
                println!("  {:<14} {n}", sanitize(src));
            }
            println!("KEV entries:     {}", s.kev_entries);
            println!(
                "Newest advisory: {}",
                s.newest_modified
                    .as_deref()
                    .map(sanitize)
                    .unwrap_or("-".into())
            );
            println!(
                "Last import:     {}",
                s.last_import.as_deref().map(sanitize).unwrap_or("-".into())
            );
            Ok(0)
        }
        _ => Err(usage("this command needs a server")),
    }
}

fn scan(a: ScanArgs) -> anyhow::Result<u8> {
    let path = db_path(&a.db)?;
    if !path.exists() {
        return Err(Exit(
            2,
            format!(
                "no advisory database at {}: run `mamori inspect db import PATH…` (OSV all.zip files, the KEV JSON) first",
                path.display()
            ),
        )
        .into());
    }
    let db = AdvisoryDb::open(&path)?;
    let (inv, kind) = mamori_inspect::scan::collect_kind(&a.target).map_err(|e| match e {
        // The target is the user's input: a missing or unreadable one is a usage error.
        e @ mamori_inspect::scan::ScanError::Target { .. } => crate::usage(e.to_string()),
        e => e.into(),
    })?;
    let target = Target {
        account: "local".into(),
        region: "local".into(),
        resource_type: resource_type(kind, &inv).into(),
        resource_id: a.target.display().to_string(),
        details: serde_json::json!({
            "os": inv.os.as_ref().map(|o| o.pretty_name.clone()),
            "packageCount": inv.packages.len(),
        }),
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut report = match_inventory(&db, &inv, &target, &now)?;
    report
        .findings
        .retain(|f| severity_rank(&f.severity) >= a.min_severity.rank());
    let name = a.target.display().to_string();
    match a.format {
        ScanFormat::Cyclonedx => {
            let bom = mamori_inspect::sbom::cyclonedx(
                &name,
                inv.os.as_ref(),
                &inv.packages,
                Some(&report.findings),
                &now,
            );
            println!("{}", serde_json::to_string_pretty(&bom)?);
        }
        ScanFormat::Spdx => {
            let doc = mamori_inspect::sbom::spdx(&name, &inv.packages, &now);
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        ScanFormat::Sarif => {
            println!(
                "{}",
                serde_json::to_string_pretty(&mamori_inspect::sbom::sarif(&report.findings))?
            );
        }
        ScanFormat::Json => {
            let out = serde_json::json!({
                "findings": report.findings,
                "inventory": {
                    "os": inv.os,
                    "files": inv.files,
                    "packages": inv.packages.len(),
                    "skipped": inv.skipped,
                    "errors": inv.errors,
                },
                "warnings": report.warnings,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ScanFormat::Table => {
            if let Some(os) = &inv.os {
                println!("OS: {}", sanitize(&os.pretty_name));
            }
            println!(
                "{} packages in {} files; {} findings",
                inv.packages.len(),
                inv.files.len(),
                report.findings.len()
            );
            if !report.findings.is_empty() {
                let rows: Vec<Vec<String>> = report
                    .findings
                    .iter()
                    .map(|f| {
                        let d = &f.package_vulnerability_details;
                        let p = &d.vulnerable_packages[0];
                        vec![
                            cell(&p.file_path, 40),
                            cell(&p.name, 30),
                            cell(&d.vulnerability_id, 20),
                            f.severity.clone(),
                            cell(
                                &if p.epoch > 0 || p.release.is_some() {
                                    let mut v = String::new();
                                    if p.epoch > 0 {
                                        v.push_str(&format!("{}:", p.epoch));
                                    }
                                    v.push_str(&p.version);
                                    if let Some(r) = &p.release {
                                        v.push_str(&format!("-{r}"));
                                    }
                                    v
                                } else {
                                    p.version.clone()
                                },
                                24,
                            ),
                            cell(&p.fixed_in_version, 24),
                            if f.exploit_available == "YES" {
                                "KEV"
                            } else {
                                ""
                            }
                            .into(),
                            cell(&f.description, 60),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "FILE",
                            "PACKAGE",
                            "VULNERABILITY",
                            "SEVERITY",
                            "INSTALLED",
                            "FIXED",
                            "EXPLOITED",
                            "TITLE"
                        ],
                        &rows
                    )
                );
            }
            for e in &inv.errors {
                eprintln!("warning: {}", sanitize(e));
            }
            for w in &report.warnings {
                eprintln!(
                    "warning: {} {} against {}: {}",
                    sanitize(&w.package),
                    sanitize(&w.version),
                    sanitize(&w.advisory),
                    sanitize(&w.reason)
                );
            }
            if !inv.skipped.is_empty() {
                eprintln!(
                    "{} entries skipped (see --format json for each and why)",
                    inv.skipped.len()
                );
            }
        }
    }
    Ok(if report.findings.is_empty() {
        0
    } else {
        a.exit_code
    })
}
