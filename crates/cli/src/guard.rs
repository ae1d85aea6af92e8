//! `mamori guard`: threat detection. `hunt` runs every detector over log files offline.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mamori_guard::cloudtrail::Context;
use mamori_guard::finding::{Findings, band, band_rank};
use mamori_guard::intel::{Intel, ListFormat, ListKind};

use crate::client::Client;
use crate::output::{cell, sanitize, table};
use crate::{Exit, Remote, usage};

#[derive(Subcommand)]
pub enum GuardCommand {
    /// Run the detectors over log files, no server needed (exit 1 when something at or above
    /// --min-severity is found, 2 on error)
    Hunt(HuntArgs),
    /// Check rules against their example events (NAME.tests.json beside NAME.yml; exit 1 on a
    /// miss or a false match, 2 on error) — for CI pipelines
    Test(TestArgs),
    /// The curated detections: type, ATT&CK tactic and techniques, severity, what fires each and
    /// what does not
    Detections {
        #[arg(long, value_enum, default_value = "table")]
        format: CatalogueFormat,
    },
    /// Run today's detectors, lists and rules over this account's stored event history since a
    /// time (findings dated when the activity happened, marked retroHunt); progress on stderr
    Retrohunt {
        /// How far back: 30d, 12h, 90m, or an RFC 3339 time
        #[arg(long)]
        since: String,
        /// Sigma rule files or folders sent with the hunt (run beside the server's own): a new
        /// rule over old events
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// Start it and print its id without waiting
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Turn detection on for this account (--all-members, --auto-enable: the organization)
    Enable {
        #[arg(long)]
        all_members: bool,
        /// Also for accounts created later
        #[arg(long)]
        auto_enable: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Turn detection off for this account
    Disable {
        #[arg(long)]
        all_members: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Is detection on?
    Status {
        #[command(flatten)]
        remote: Remote,
    },
    /// Findings on the server
    Findings {
        #[command(subcommand)]
        command: FindingsCommand,
    },
    /// Suppression rules: new findings a rule matches are archived (ARCHIVE) or left (NOOP)
    Filters {
        #[command(subcommand)]
        command: FiltersCommand,
    },
    /// Threat, trusted and Tor lists on the server (TXT, CSV or STIX 2.1)
    Lists {
        #[command(subcommand)]
        command: ListsCommand,
    },
    /// Send logs to the server's detectors: CloudTrail files go into the event history (as
    /// `mamori trail import`), flow and DNS logs only through detection (they are not kept)
    Import {
        #[arg(long, value_enum)]
        source: ImportSource,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Publish new findings (and, every [guard] publish_updates_minutes, their updates) to a
    /// webhook (HMAC-SHA256 signed with --secret) and/or a directory or s3://bucket/prefix
    Publish {
        /// The webhook URL (or --webhook URL)
        #[arg(conflicts_with = "webhook")]
        url: Option<String>,
        #[arg(long)]
        webhook: Option<String>,
        #[arg(long, env = "MAMORI_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long)]
        destination: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportSource {
    Cloudtrail,
    Vpcflow,
    Dns,
}

#[derive(Subcommand)]
pub enum FindingsCommand {
    List {
        /// A finding type, e.g. Stealth:IAMUser/CloudTrailLoggingDisabled
        #[arg(long = "type")]
        kind: Option<String>,
        /// A number (0.1–10) or a band: low, medium, high, critical
        #[arg(long, value_parser = parse_min_severity)]
        min_severity: Option<f64>,
        #[arg(long)]
        archived: Option<bool>,
        /// Every account of the organization (the management account only)
        #[arg(long)]
        all_accounts: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::Format,
        #[command(flatten)]
        remote: Remote,
    },
    Get {
        id: String,
        /// Every account of the organization (the management account only)
        #[arg(long)]
        all_accounts: bool,
        #[command(flatten)]
        remote: Remote,
    },
    Archive {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    Unarchive {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Mark a finding useful or not (it stays; the verdict is kept with it)
    Feedback {
        id: String,
        /// useful or not-useful (USEFUL, NOT_USEFUL and not_useful work too)
        #[arg(value_parser = parse_verdict)]
        verdict: &'static str,
        #[arg(long)]
        comments: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    Stats {
        /// Every account of the organization (the management account only)
        #[arg(long)]
        all_accounts: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// The query that widens a read to the whole organization.
fn scope(all_accounts: bool) -> Vec<(String, String)> {
    if all_accounts {
        vec![("scope".into(), "organization".into())]
    } else {
        Vec::new()
    }
}

#[derive(Subcommand)]
pub enum FiltersCommand {
    /// e.g. --criteria '{"type":{"Matches":["Recon:*"]},"severity":{"LessThan":7}}'
    Create {
        name: String,
        #[arg(long, default_value = "ARCHIVE")]
        action: String,
        #[arg(long, default_value_t = 1)]
        rank: i64,
        /// Field path → condition (Equals, NotEquals, Matches, NotMatches, GreaterThan[OrEqual], LessThan[OrEqual])
        #[arg(long)]
        criteria: String,
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

#[derive(Subcommand)]
pub enum ListsCommand {
    Add {
        name: String,
        file: PathBuf,
        /// threat, trusted, tor, sinkhole or droppoint
        #[arg(long, default_value = "threat", value_parser = parse_list_kind)]
        kind: ListKind,
        #[command(flatten)]
        remote: Remote,
    },
    Remove {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    List {
        #[command(flatten)]
        remote: Remote,
    },
}

/// GuardDuty's bands: Low from 1.0, Medium from 4.0, High from 7.0, Critical from 9.0.
fn parse_min_severity(s: &str) -> Result<f64, String> {
    match s.to_ascii_lowercase().as_str() {
        "low" => Ok(1.0),
        "medium" => Ok(4.0),
        "high" => Ok(7.0),
        "critical" => Ok(9.0),
        n => n
            .parse::<f64>()
            .ok()
            .filter(|v| (0.0..=10.0).contains(v))
            .ok_or_else(|| {
                format!("{s:?} is not a severity: give 0 to 10, or low, medium, high, critical")
            }),
    }
}

fn parse_verdict(s: &str) -> Result<&'static str, String> {
    match s.to_ascii_lowercase().replace('_', "-").as_str() {
        "useful" => Ok("USEFUL"),
        "not-useful" => Ok("NOT_USEFUL"),
        _ => Err(format!("{s:?}: useful or not-useful")),
    }
}

fn enc(s: &str) -> String {
    crate::client::segment(s)
}

pub async fn run_remote(cmd: GuardCommand) -> anyhow::Result<u8> {
    match cmd {
        GuardCommand::Hunt(a) => tokio::task::spawn_blocking(move || run_hunt(a)).await?,
        GuardCommand::Detections { format } => run_detections(format),
        GuardCommand::Retrohunt {
            since,
            rules,
            no_wait,
            remote,
        } => run_retrohunt(&since, &rules, no_wait, &remote).await,
        GuardCommand::Test(a) => tokio::task::spawn_blocking(move || run_test(a)).await?,
        GuardCommand::Enable {
            all_members,
            auto_enable,
            remote,
        } => {
            let mut body = serde_json::json!({"enabled": true, "allMembers": all_members});
            if auto_enable {
                body["autoEnable"] = serde_json::Value::Bool(true);
            }
            let v = Client::from_remote(&remote)?
                .post_json("/v1/guard/detector", &body)
                .await?;
            println!("Detection enabled for {} account(s)", v["accounts"]);
            Ok(0)
        }
        GuardCommand::Disable {
            all_members,
            remote,
        } => {
            let v = Client::from_remote(&remote)?
                .post_json(
                    "/v1/guard/detector",
                    &serde_json::json!({"enabled": false, "allMembers": all_members}),
                )
                .await?;
            println!("Detection disabled for {} account(s)", v["accounts"]);
            Ok(0)
        }
        GuardCommand::Status { remote } => {
            let v = Client::from_remote(&remote)?
                .get("/v1/guard/detector", &[])
                .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        GuardCommand::Findings { command } => match command {
            FindingsCommand::List {
                kind,
                min_severity,
                archived,
                all_accounts,
                format,
                remote,
            } => {
                let c = Client::from_remote(&remote)?;
                let mut q = scope(all_accounts);
                if let Some(k) = kind {
                    q.push(("type".into(), k));
                }
                if let Some(m) = min_severity {
                    q.push(("minSeverity".into(), m.to_string()));
                }
                if let Some(a) = archived {
                    q.push(("archived".into(), a.to_string()));
                }
                let all = c.get_all("/v1/guard/findings", &q, "findings").await?;
                if format == crate::Format::Json {
                    println!("{}", serde_json::to_string_pretty(&all)?);
                } else {
                    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
                    let rows: Vec<Vec<String>> = all
                        .iter()
                        .map(|f| {
                            let mut row = vec![
                                cell(&s(&f["id"]), 32),
                                band(f["severity"].as_f64().unwrap_or(0.0)).into(),
                                cell(&s(&f["type"]), 60),
                                f["service"]["count"].to_string(),
                                cell(&s(&f["service"]["eventLastSeen"]), 24),
                                if f["service"]["archived"] == true {
                                    "yes"
                                } else {
                                    ""
                                }
                                .into(),
                            ];
                            if all_accounts {
                                row.insert(1, s(&f["accountId"]));
                            }
                            row
                        })
                        .collect();
                    let mut head = vec!["ID", "SEVERITY", "TYPE", "COUNT", "LAST SEEN", "ARCHIVED"];
                    if all_accounts {
                        head.insert(1, "ACCOUNT");
                    }
                    print!("{}", table(&head, &rows));
                }
                Ok(0)
            }
            FindingsCommand::Get {
                id,
                all_accounts,
                remote,
            } => {
                let v = Client::from_remote(&remote)?
                    .get(
                        &format!("/v1/guard/findings/{}", enc(&id)),
                        &scope(all_accounts),
                    )
                    .await?;
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(0)
            }
            FindingsCommand::Archive { id, remote } => {
                Client::from_remote(&remote)?
                    .post_json(
                        &format!("/v1/guard/findings/{}/archive", enc(&id)),
                        &serde_json::Value::Null,
                    )
                    .await?;
                println!("Archived {}", sanitize(&id));
                Ok(0)
            }
            FindingsCommand::Unarchive { id, remote } => {
                Client::from_remote(&remote)?
                    .post_json(
                        &format!("/v1/guard/findings/{}/unarchive", enc(&id)),
                        &serde_json::Value::Null,
                    )
                    .await?;
                println!("Unarchived {}", sanitize(&id));
                Ok(0)
            }
            FindingsCommand::Feedback {
                id,
                verdict,
                comments,
                remote,
            } => {
                let v = verdict;
                Client::from_remote(&remote)?
                    .post_json(
                        &format!("/v1/guard/findings/{}/feedback", enc(&id)),
                        &serde_json::json!({"feedback": v, "comments": comments}),
                    )
                    .await?;
                println!("Feedback on {} recorded", sanitize(&id));
                Ok(0)
            }
            FindingsCommand::Stats {
                all_accounts,
                remote,
            } => {
                let v = Client::from_remote(&remote)?
                    .get("/v1/guard/stats", &scope(all_accounts))
                    .await?;
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(0)
            }
        },
        GuardCommand::Filters { command } => match command {
            FiltersCommand::Create {
                name,
                action,
                rank,
                criteria,
                remote,
            } => {
                let criteria: serde_json::Value = serde_json::from_str(&criteria)
                    .map_err(|e| usage(format!("--criteria is not JSON: {e}")))?;
                let v = Client::from_remote(&remote)?
                    .post_json(
                        "/v1/guard/filters",
                        &serde_json::json!({"name": name, "action": action, "rank": rank, "criteria": criteria}),
                    )
                    .await?;
                println!(
                    "Filter {} saved ({}); it matches {} of the findings stored now",
                    sanitize(&name),
                    sanitize(&action),
                    v["matchingFindings"]
                );
                Ok(0)
            }
            FiltersCommand::List { remote } => {
                let v = Client::from_remote(&remote)?
                    .get("/v1/guard/filters", &[])
                    .await?;
                println!("{}", serde_json::to_string_pretty(&v["filters"])?);
                Ok(0)
            }
            FiltersCommand::Delete { name, remote } => {
                Client::from_remote(&remote)?
                    .delete(&format!("/v1/guard/filters/{}", enc(&name)))
                    .await?;
                println!("Filter {} deleted", sanitize(&name));
                Ok(0)
            }
        },
        GuardCommand::Lists { command } => match command {
            ListsCommand::Add {
                name,
                file,
                kind,
                remote,
            } => {
                let content = std::fs::read_to_string(&file)
                    .map_err(|e| Exit(2, format!("{}: {e}", file.display())))?;
                let v = Client::from_remote(&remote)?
                    .post_json(
                        "/v1/guard/lists",
                        &serde_json::json!({"name": name, "kind": kind.as_str(), "content": content}),
                    )
                    .await?;
                println!(
                    "List {}: {} entries, {} lines skipped",
                    sanitize(&name),
                    v["entries"],
                    v["skipped"]
                );
                Ok(0)
            }
            ListsCommand::Remove { name, remote } => {
                Client::from_remote(&remote)?
                    .delete(&format!("/v1/guard/lists/{}", enc(&name)))
                    .await?;
                println!("Removed list {}", sanitize(&name));
                Ok(0)
            }
            ListsCommand::List { remote } => {
                let v = Client::from_remote(&remote)?
                    .get("/v1/guard/lists", &[])
                    .await?;
                println!("{}", serde_json::to_string_pretty(&v["lists"])?);
                Ok(0)
            }
        },
        GuardCommand::Import {
            source,
            paths,
            remote,
        } => {
            if source == ImportSource::Cloudtrail {
                return crate::import::run(crate::import::ImportArgs::to_server(paths), &remote)
                    .await;
            }
            let c = Client::from_remote(&remote)?;
            let path = if source == ImportSource::Dns {
                "/v1/guard/sources/dns"
            } else {
                "/v1/guard/sources/vpcflow"
            };
            // Found as the hunt finds them (links inside folders are not followed).
            let walked = mamori_core::files::walk(&paths, mamori_guard::hunt::is_log, |_| false);
            if let Some(e) = walked.errors.first() {
                return Err(Exit(2, format!("cannot read {}", sanitize(e))).into());
            }
            if walked.files.is_empty() {
                return Err(Exit(
                    2,
                    "no flow or DNS log files found (.log, .txt, .json, .jsonl and their .gz)"
                        .into(),
                )
                .into());
            }
            let files: Vec<PathBuf> = walked.files.into_iter().map(|f| f.path).collect();
            // 1 when any line was rejected, 2 when a file was refused whole.
            let mut failed = false;
            let mut rejected = false;
            for f in files {
                let shown = f.display().to_string();
                let bytes = std::fs::read(&f).map_err(|e| Exit(2, format!("{shown}: {e}")))?;
                match c.post_raw(path, bytes).await {
                    Ok(v) => {
                        println!(
                            "{}: {} records, {} signals, {} lines rejected",
                            sanitize(&shown),
                            v["records"],
                            v["signals"],
                            v["rejected"]
                        );
                        rejected |= v["rejected"].as_u64().is_some_and(|n| n > 0);
                        for l in v["rejectedLines"].as_array().into_iter().flatten().take(10) {
                            eprintln!(
                                "  {}: {}",
                                sanitize(&shown),
                                sanitize(l.as_str().unwrap_or(""))
                            );
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {}: {}", sanitize(&shown), sanitize(&e.to_string()));
                        failed = true;
                    }
                }
            }
            Ok(if failed { 2 } else { u8::from(rejected) })
        }
        GuardCommand::Publish {
            url,
            webhook,
            secret,
            destination,
            remote,
        } => {
            let webhook = url.or(webhook);
            let c = Client::from_remote(&remote)?;
            c.put_json(
                "/v1/guard/publishing",
                &serde_json::json!({"webhookUrl": webhook, "secret": secret, "destination": destination}),
            )
            .await?;
            println!("New findings will be published");
            Ok(0)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Band {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    Table,
    Json,
    /// OCSF 1.1 Detection Finding (class 2004), one JSON object per line
    Ocsf,
}

#[derive(Args)]
pub struct TestArgs {
    /// Rule folders or files; each NAME.tests.json is checked against NAME.yml beside it (or,
    /// alone, against the built-in detections by "type")
    #[arg(required_unless_present = "builtin")]
    pub paths: Vec<PathBuf>,
    /// Also run the built-in detections' own examples (one per hit and near miss)
    #[arg(long)]
    pub builtin: bool,
    /// A mamori.toml whose [guard] section sets what the built-ins compare against
    /// (organization_accounts, trusted_accounts, thresholds)
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A rule file without examples fails the run too
    #[arg(long)]
    pub require_tests: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: CatalogueFormat,
}

fn guard_config(path: Option<&PathBuf>) -> anyhow::Result<mamori_guard::config::GuardConfig> {
    Ok(match path {
        Some(p) => {
            let c = crate::load_config(Some(p)).map_err(|e| Exit(2, e.to_string()))?;
            mamori_guard::config::GuardConfig::from_table(&c.guard).map_err(|e| Exit(2, e))?
        }
        None => mamori_guard::config::GuardConfig::default(),
    })
}

fn run_test(a: TestArgs) -> anyhow::Result<u8> {
    let cfg = guard_config(a.config.as_ref())?;
    let nets = cfg.networks().map_err(|e| Exit(2, e))?;
    let known = cfg.known_accounts().map_err(|e| Exit(2, e))?;
    let intel = Intel::with_canaries();
    let ctx = Context {
        intel: &intel,
        instance_networks: &nets,
        known: &known,
    };
    for p in &a.paths {
        if !p.exists() {
            return Err(Exit(
                2,
                format!(
                    "{}: no such file or folder",
                    sanitize(&p.display().to_string())
                ),
            )
            .into());
        }
    }
    let mut report = mamori_guard::ruletest::run(&a.paths, &ctx);
    if a.builtin {
        let b = mamori_guard::ruletest::run_builtin(&ctx);
        report.outcomes.extend(b.outcomes);
        report.errors.extend(b.errors);
    }
    if report.outcomes.is_empty() && report.errors.is_empty() {
        return Err(Exit(
            2,
            format!(
                "no tests found: put NAME{} beside each rule NAME.yml",
                mamori_guard::ruletest::TESTS_SUFFIX
            ),
        )
        .into());
    }
    match a.format {
        CatalogueFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        _ => {
            for o in &report.outcomes {
                let verdict = if o.passed { "PASS" } else { "FAIL" };
                let why = if o.why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", sanitize(&o.why))
                };
                println!(
                    "{verdict}  {}: {}{why}",
                    sanitize(&o.file),
                    sanitize(&o.name)
                );
            }
            for u in &report.untested {
                println!(
                    "{}  {}: no examples",
                    if a.require_tests { "FAIL" } else { "WARN" },
                    sanitize(u)
                );
            }
            for e in &report.errors {
                println!("ERROR {}", sanitize(e));
            }
            let failed = report.failed();
            println!(
                "{} examples: {} passed, {failed} failed; {} rule file(s) without examples; {} error(s)",
                report.outcomes.len(),
                report.outcomes.len() - failed,
                report.untested.len(),
                report.errors.len()
            );
        }
    }
    if !report.errors.is_empty() {
        return Ok(2);
    }
    let failed = report.failed() > 0 || (a.require_tests && !report.untested.is_empty());
    Ok(u8::from(failed))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CatalogueFormat {
    Table,
    Json,
    Markdown,
}

/// The largest rules a retro-hunt sends, all files together.
const MAX_RETRO_RULES_BYTES: u64 = 8 << 20;

/// The texts of the Sigma rule files under `paths` (`.yml`, `.yaml`), bounded in size.
fn rule_texts(paths: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let walked = mamori_core::files::walk(
        paths,
        |p| {
            let n = p.to_string_lossy();
            n.ends_with(".yml") || n.ends_with(".yaml")
        },
        |_| false,
    );
    if let Some(e) = walked.errors.first() {
        return Err(Exit(2, format!("--rules: {}", sanitize(e))).into());
    }
    let mut total = 0;
    let mut texts = Vec::new();
    for f in walked.files {
        total += f.len;
        if total > MAX_RETRO_RULES_BYTES {
            return Err(Exit(
                2,
                format!("--rules: more than {MAX_RETRO_RULES_BYTES} bytes of rules; send fewer"),
            )
            .into());
        }
        let text = std::fs::read_to_string(&f.path).map_err(|e| {
            Exit(
                2,
                format!("--rules {}: {e}", sanitize(&f.path.display().to_string())),
            )
        })?;
        texts.push(text);
    }
    if texts.is_empty() && !paths.is_empty() {
        return Err(Exit(2, "--rules: no .yml or .yaml rule files found".to_string()).into());
    }
    Ok(texts)
}

async fn run_retrohunt(
    since: &str,
    rules: &[PathBuf],
    no_wait: bool,
    remote: &Remote,
) -> anyhow::Result<u8> {
    let rules = rule_texts(rules)?;
    // `30d` means 30 days back; a time or `-30d` is sent as it is.
    let since = if since.chars().next().is_some_and(|c| c.is_ascii_digit()) && !since.contains('T')
    {
        format!("-{since}")
    } else {
        since.to_string()
    };
    let client = Client::from_remote(remote)?;
    let mut v = client
        .post_json(
            "/v1/guard/retrohunts",
            &serde_json::json!({"since": since, "rules": rules}),
        )
        .await?;
    let id = v["retroHuntId"].as_str().unwrap_or_default().to_string();
    if no_wait {
        println!("{}", sanitize(&id));
        return Ok(0);
    }
    let path = format!("/v1/guard/retrohunts/{}", enc(&id));
    while v["status"] == "RUNNING" {
        eprint!(
            "\rretro-hunt {}: {}% — {} events scanned, {} hunted, {} new findings   ",
            sanitize(&id),
            v["percentDone"],
            v["eventsScanned"],
            v["eventsHunted"],
            v["newFindings"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        v = client.get(&path, &[]).await?;
    }
    eprintln!();
    if v["status"] != "COMPLETED" {
        return Err(Exit(
            2,
            format!(
                "retro-hunt {} failed: {}",
                sanitize(&id),
                sanitize(v["error"].as_str().unwrap_or("unknown error"))
            ),
        )
        .into());
    }
    println!(
        "Retro-hunt {} since {}: {} events hunted of {} scanned, {} signals, {} new findings (mamori guard findings list)",
        sanitize(&id),
        sanitize(v["since"].as_str().unwrap_or("")),
        v["eventsHunted"],
        v["eventsScanned"],
        v["signals"],
        v["newFindings"]
    );
    Ok(0)
}

fn run_detections(format: CatalogueFormat) -> anyhow::Result<u8> {
    match format {
        CatalogueFormat::Markdown => print!("{}", mamori_guard::curated::markdown()),
        CatalogueFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&mamori_guard::curated::catalogue())?
        ),
        CatalogueFormat::Table => {
            let rows: Vec<Vec<String>> = mamori_guard::curated::catalogue()
                .iter()
                .map(|e| {
                    vec![
                        e.tactic.to_string(),
                        e.kind.to_string(),
                        band(e.severity).to_string(),
                        e.techniques.join(","),
                        cell(e.title, 70),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["TACTIC", "TYPE", "SEVERITY", "ATT&CK", "WHAT"], &rows)
            );
        }
    }
    Ok(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    Auto,
    Cloudtrail,
    Vpcflow,
    Dns,
}

#[derive(Args)]
pub struct HuntArgs {
    /// Log files or folders (CloudTrail JSON, VPC Flow Logs, Route 53 Resolver query logs;
    /// plain or .gz), searched recursively; `-` for standard input
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Threat lists (TXT, CSV or STIX 2.1 JSON): addresses, CIDRs, domains
    #[arg(long = "lists")]
    pub lists: Vec<PathBuf>,
    /// Trusted lists: addresses here never raise a finding
    #[arg(long = "trusted")]
    pub trusted: Vec<PathBuf>,
    /// Tor exit-node lists
    #[arg(long = "tor")]
    pub tor: Vec<PathBuf>,
    /// Sinkhole address lists (BlackholeTraffic)
    #[arg(long = "sinkholes")]
    pub sinkholes: Vec<PathBuf>,
    /// Drop-point domain lists (DropPoint!DNS)
    #[arg(long = "droppoints")]
    pub droppoints: Vec<PathBuf>,
    /// What the files hold (by default recognised from each file's first line)
    #[arg(long, value_enum, default_value = "auto")]
    pub source: SourceArg,
    /// A mamori.toml whose [guard] section sets thresholds and windows
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Sigma rule files or folders (spec v2, with correlations); invalid ones are reported
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// Your instances' networks (CIDR), for InstanceCredentialExfiltration.OutsideAWS
    #[arg(long = "instance-network")]
    pub instance_networks: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: HuntFormat,
    #[arg(long, value_enum, default_value = "low")]
    pub min_severity: Band,
    /// Files read at once (0: one per core); the findings are the same whatever the number
    #[arg(long, short = 'j', default_value_t = 0)]
    pub threads: usize,
}

fn parse_list_kind(s: &str) -> Result<ListKind, String> {
    s.parse()
}

fn load(intel: &mut Intel, paths: &[PathBuf], kind: ListKind) -> anyhow::Result<()> {
    for p in paths {
        let bytes = std::fs::read(p).map_err(|e| Exit(2, format!("{}: {e}", p.display())))?;
        let name = p.display().to_string();
        let (n, bad) = intel
            .load(&name, kind, ListFormat::guess(&name, &bytes), &bytes)
            .map_err(|e| Exit(2, e.to_string()))?;
        for b in bad.iter().take(10) {
            eprintln!(
                "warning: {}:{}: not an address, CIDR or domain: {}",
                sanitize(&b.list),
                b.line,
                sanitize(&b.text)
            );
        }
        if bad.len() > 10 {
            eprintln!(
                "warning: {}: {} more lines skipped",
                sanitize(&name),
                bad.len() - 10
            );
        }
        eprintln!("{}: {n} entries", sanitize(&name));
    }
    Ok(())
}

fn run_hunt(a: HuntArgs) -> anyhow::Result<u8> {
    let mut intel = Intel::with_canaries();
    load(&mut intel, &a.lists, ListKind::Threat)?;
    load(&mut intel, &a.trusted, ListKind::Trusted)?;
    load(&mut intel, &a.tor, ListKind::Tor)?;
    load(&mut intel, &a.sinkholes, ListKind::Sinkhole)?;
    load(&mut intel, &a.droppoints, ListKind::DropPoint)?;
    let cfg = guard_config(a.config.as_ref())?;
    let mut nets = cfg.networks().map_err(|e| Exit(2, e))?;
    for n in &a.instance_networks {
        nets.push(
            n.parse()
                .map_err(|e| usage(format!("--instance-network {n:?}: {e}")))?,
        );
    }
    let source = match a.source {
        SourceArg::Auto => mamori_guard::hunt::Source::Auto,
        SourceArg::Cloudtrail => mamori_guard::hunt::Source::CloudTrail,
        SourceArg::Vpcflow => mamori_guard::hunt::Source::VpcFlow,
        SourceArg::Dns => mamori_guard::hunt::Source::Dns,
    };
    let known = cfg.known_accounts().map_err(|e| Exit(2, e))?;
    let ctx = Context {
        intel: &intel,
        instance_networks: &nets,
        known: &known,
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut findings = Findings::default();
    let mut sigma = if a.rules.is_empty() {
        None
    } else {
        for r in &a.rules {
            if !r.exists() {
                return Err(Exit(
                    2,
                    format!(
                        "--rules {}: no such file or folder",
                        sanitize(&r.display().to_string())
                    ),
                )
                .into());
            }
        }
        let (rules, errors) = mamori_guard::sigma::SigmaRules::load(&a.rules);
        if rules.rules == 0 && rules.correlations == 0 {
            for e in errors.iter().take(5) {
                eprintln!("error: {}", sanitize(e));
            }
            return Err(Exit(
                2,
                format!(
                    "no Sigma rule could be loaded from {} ({} rejected)",
                    a.rules
                        .iter()
                        .map(|p| sanitize(&p.display().to_string()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    errors.len()
                ),
            )
            .into());
        }
        for e in &errors {
            eprintln!("warning: Sigma rule rejected: {}", sanitize(e));
        }
        eprintln!(
            "Sigma: {} rules, {} correlations loaded ({} rejected)",
            rules.rules,
            rules.correlations,
            errors.len()
        );
        Some(rules)
    };
    let stats = mamori_guard::hunt::hunt(
        &a.paths,
        source,
        &ctx,
        &cfg,
        sigma.as_mut(),
        &mut findings,
        &now,
        a.threads,
    );
    let min = match a.min_severity {
        Band::Low => 1,
        Band::Medium => 2,
        Band::High => 3,
        Band::Critical => 4,
    };
    let shown: Vec<_> = findings
        .sorted()
        .into_iter()
        .filter(|f| band_rank(band(f.severity)) >= min)
        .collect();
    match a.format {
        HuntFormat::Ocsf => {
            for f in &shown {
                println!("{}", mamori_guard::ocsf::detection_finding(f));
            }
        }
        HuntFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"findings": shown, "stats": stats})
                )?
            );
        }
        HuntFormat::Table => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|f| {
                    vec![
                        band(f.severity).into(),
                        cell(&f.kind, 60),
                        f.service.count.to_string(),
                        cell(&f.service.event_first_seen, 20),
                        cell(&f.service.event_last_seen, 20),
                        cell(&f.description, 80),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                print!(
                    "{}",
                    table(
                        &[
                            "SEVERITY",
                            "TYPE",
                            "COUNT",
                            "FIRST SEEN",
                            "LAST SEEN",
                            "WHAT"
                        ],
                        &rows
                    )
                );
            }
            eprintln!(
                "{} files, {} records ({} not CloudTrail records), {} findings",
                stats.files,
                stats.records,
                stats.bad_records,
                shown.len()
            );
        }
    }
    for p in stats.problems.iter().take(20) {
        eprintln!("warning: {}", sanitize(p));
    }
    if stats.files == 0 && !stats.problems.is_empty() {
        return Err(Exit(2, "nothing could be read".into()).into());
    }
    if stats.files == 0 {
        return Err(Exit(
            2,
            "no log files found (.json, .json.gz, .jsonl, .ndjson, .log, .txt and their .gz)"
                .into(),
        )
        .into());
    }
    if stats.records == 0 {
        return Err(Exit(
            2,
            format!(
                "no CloudTrail, VPC flow log or DNS query log records in {} file(s) ({} records of something else); nothing was hunted",
                stats.files, stats.bad_records
            ),
        )
        .into());
    }
    Ok(u8::from(!shown.is_empty()))
}
