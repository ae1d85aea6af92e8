//! `mamori guard`: threat detection. `hunt` runs every detector over log files offline.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mamori_guard::cloudtrail::Context;
use mamori_guard::finding::{Findings, band, band_rank};
use mamori_guard::intel::{Intel, ListFormat, ListKind};

use crate::output::{cell, sanitize, table};
use crate::{Exit, usage};

#[derive(Subcommand)]
pub enum GuardCommand {
    /// Run the detectors over log files, no server needed (exit 1 when something at or above
    /// --min-severity is found, 2 on error)
    Hunt(HuntArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Band {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Args)]
pub struct HuntArgs {
    /// CloudTrail files or folders (.json, .json.gz, NDJSON), searched recursively
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
    /// Your instances' networks (CIDR), for InstanceCredentialExfiltration.OutsideAWS
    #[arg(long = "instance-network")]
    pub instance_networks: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::Format,
    #[arg(long, value_enum, default_value = "low")]
    pub min_severity: Band,
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

pub fn run(cmd: GuardCommand) -> anyhow::Result<u8> {
    let GuardCommand::Hunt(a) = cmd;
    let mut intel = Intel::with_canaries();
    load(&mut intel, &a.lists, ListKind::Threat)?;
    load(&mut intel, &a.trusted, ListKind::Trusted)?;
    load(&mut intel, &a.tor, ListKind::Tor)?;
    let nets = a
        .instance_networks
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|e| usage(format!("--instance-network {n:?}: {e}")))
        })
        .collect::<Result<Vec<ipnet::IpNet>, _>>()?;
    let ctx = Context {
        intel: &intel,
        instance_networks: &nets,
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut findings = Findings::default();
    let stats = mamori_guard::hunt::hunt(&a.paths, &ctx, &mut findings, &now);
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
        crate::Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"findings": shown, "stats": stats})
                )?
            );
        }
        crate::Format::Table => {
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
    Ok(u8::from(!shown.is_empty()))
}
