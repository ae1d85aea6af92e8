//! `mamori inspect`: vulnerability inspection of a directory, root filesystem or lockfile,
//! offline, against a local advisory database.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mamori_inspect::db::AdvisoryDb;
use mamori_inspect::finding::{Target, severity_rank};
use mamori_inspect::scan::{collect, match_inventory};

use crate::output::{cell, sanitize, table};
use crate::{Exit, usage};

#[derive(Subcommand)]
pub enum InspectCommand {
    /// Scan a directory, root filesystem or lockfile for vulnerable packages (offline)
    Scan(ScanArgs),
    /// The advisory database: import OSV data and the CISA KEV catalogue, show what is loaded
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    Table,
    Json,
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
    /// A directory, a root filesystem, or one lockfile / package database
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
        format: ScanFormat,
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

pub fn run(cmd: InspectCommand) -> anyhow::Result<u8> {
    match cmd {
        InspectCommand::Scan(a) => scan(a),
        InspectCommand::Db {
            command: DbCommand::Import { paths, db },
        } => {
            let path = db_path(&db)?;
            let mut adb = AdvisoryDb::open(&path)?;
            let mut failed = false;
            for p in paths {
                let started = std::time::Instant::now();
                match adb.import(&p) {
                    Ok(r) => {
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
            Ok(u8::from(failed))
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
            if format == ScanFormat::Json {
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
    let inv = collect(&a.target)?;
    let has_os = inv.os.is_some();
    let target = Target {
        account: "local".into(),
        region: "local".into(),
        resource_type: if has_os {
            "MACHINE_IMAGE"
        } else {
            "CODE_REPOSITORY"
        }
        .into(),
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
    match a.format {
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
