//! `mamori trail create|update|delete|list|status|start-logging|stop-logging|flush|rotate-key|
//! public-keys|prove|consistency|verify-proof|validate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use mamori_trails::merkle::{ConsistencyBundle, InclusionBundle};
use mamori_trails::validate::{self, KeySet};
use serde_json::{Value, json};

use crate::client::Client;
use crate::output::{sanitize, table};
use crate::{Exit, Format, Remote, usage};

#[derive(Subcommand)]
pub enum TrailsCommand {
    /// Create a trail delivering log files to DIR or s3://bucket/prefix (logging starts at once)
    Create(CreateArgs),
    /// Change a trail's destination, selectors or cadence
    Update(UpdateArgs),
    /// Delete a trail after its final delivery (delivered files stay where they are)
    Delete {
        name: String,
        /// Skip the final delivery (remaining events and final digests), e.g. when the
        /// destination is gone for good
        #[arg(long)]
        force: bool,
    },
    /// List trails
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Logging state, latest delivery and digest, errors
    Status {
        name: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    StartLogging {
        name: String,
    },
    StopLogging {
        name: String,
    },
    /// Deliver now (and write any digest that is due)
    Flush {
        name: String,
    },
    /// Retire the digest signing key(s) of a trail and make new ones
    RotateKey {
        name: String,
        #[arg(long)]
        region: Option<String>,
    },
    /// Digest public keys (fingerprints, validity) and checkpoint verifier keys
    PublicKeys {
        #[arg(long)]
        trail: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Inclusion proof of one event in a trail's Merkle log (JSON, verifiable offline)
    Prove {
        event_id: String,
        #[arg(long)]
        trail: String,
        /// Against the checkpoint of this tree size [default: the latest]
        #[arg(long)]
        size: Option<u64>,
    },
    /// Consistency proof between two checkpoints (tree sizes) of a trail's Merkle log
    Consistency {
        old: u64,
        new: Option<u64>,
        #[arg(long)]
        trail: String,
    },
    /// Verify a proof printed by `prove` or `consistency`, offline, with the log's verifier key
    VerifyProof {
        file: PathBuf,
        /// The trail's checkpoint verifier key (`name+id+key`, from `public-keys`)
        #[arg(long)]
        public_key: String,
    },
    /// Validate delivered log files, digests and the Merkle log (offline)
    Validate(ValidateArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    name: String,
    #[arg(long)]
    destination: String,
    #[arg(long, default_value = "")]
    key_prefix: String,
    /// Seconds or a duration like 5m, 1h
    #[arg(long, default_value = "5m")]
    delivery_interval: String,
    #[arg(long, default_value = "1h")]
    digest_interval: String,
    #[arg(long, default_value_t = 10_000)]
    max_file_events: usize,
    /// Ed25519 or SHA256withRSA
    #[arg(long, default_value = "Ed25519")]
    digest_signature_algorithm: String,
    #[arg(long, default_value = "us-east-1")]
    home_region: String,
    /// Deliver every account of the organization (management account)
    #[arg(long)]
    organization: bool,
    /// EventSelectors JSON (CloudTrail's shape) or @file
    #[arg(long)]
    event_selectors: Option<String>,
    /// AdvancedEventSelectors JSON or @file
    #[arg(long)]
    advanced_event_selectors: Option<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    name: String,
    #[arg(long)]
    destination: Option<String>,
    #[arg(long)]
    key_prefix: Option<String>,
    #[arg(long)]
    delivery_interval: Option<String>,
    #[arg(long)]
    max_file_events: Option<usize>,
    #[arg(long)]
    event_selectors: Option<String>,
    #[arg(long)]
    advanced_event_selectors: Option<String>,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// A directory or s3://bucket/prefix
    target: String,
    /// Public keys: the JSON of `mamori trail public-keys --format json` [default: ask the server]
    #[arg(long)]
    public_keys: Option<PathBuf>,
    #[arg(long)]
    start: Option<String>,
    #[arg(long)]
    end: Option<String>,
    /// A signed checkpoint kept elsewhere: detects truncation of the newest records
    #[arg(long)]
    witness: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also print valid files
    #[arg(long)]
    verbose: bool,
}

/// `5m`, `1h`, `30s`, `2d` or plain seconds.
pub fn seconds(s: &str) -> anyhow::Result<u64> {
    let (n, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| usage(format!("{s:?} is not a duration (e.g. 30s, 5m, 1h)")))?;
    Ok(n * mult)
}

fn json_arg(s: &str) -> anyhow::Result<Value> {
    let text = match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => s.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| usage(format!("selectors are not JSON: {e}")))
}

fn path(name: &str) -> String {
    format!("/v1/trail/trails/{}", crate::client::segment(name))
}

fn print_trail(v: &Value) {
    let st = &v["status"];
    let s = |x: &Value| sanitize(x.as_str().unwrap_or("-"));
    println!("Trail:              {}", s(&v["name"]));
    println!("Account:            {}", s(&v["accountId"]));
    println!("Destination:        {}", s(&v["trail"]["destination"]));
    println!(
        "Logging:            {}",
        if st["isLogging"].as_bool() == Some(true) {
            "on"
        } else {
            "off"
        }
    );
    println!("Latest delivery:    {}", s(&st["latestDeliveryTime"]));
    println!("Delivery error:     {}", s(&st["latestDeliveryError"]));
    println!("Latest digest:      {}", s(&st["latestDigestDeliveryTime"]));
    println!("Digest object:      {}", s(&st["latestDigestObject"]));
    println!(
        "Digest error:       {}",
        s(&st["latestDigestDeliveryError"])
    );
    println!("Merkle log size:    {}", st["treeSize"]);
    println!("Checkpoint key:     {}", s(&v["checkpointPublicKey"]));
}

pub async fn run(cmd: TrailsCommand, remote: &Remote) -> anyhow::Result<u8> {
    match cmd {
        TrailsCommand::Validate(a) => return validate_cmd(a, remote).await,
        TrailsCommand::VerifyProof { file, public_key } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| usage(format!("{}: not JSON: {e}", file.display())))?;
            if v.get("leafIndex").is_some() {
                let b: InclusionBundle = serde_json::from_value(v)
                    .map_err(|e| usage(format!("{}: {e}", file.display())))?;
                match b.verify(&public_key) {
                    Ok(cp) => println!(
                        "valid: event {} is record {} of {} in {}",
                        sanitize(&b.event_id),
                        b.leaf_index,
                        cp.size,
                        sanitize(&cp.origin)
                    ),
                    Err(e) => return Err(Exit(1, format!("INVALID: {e}")).into()),
                }
            } else {
                let b: ConsistencyBundle = serde_json::from_value(v)
                    .map_err(|e| usage(format!("{}: {e}", file.display())))?;
                match b.verify(&public_key) {
                    Ok(()) => println!(
                        "valid: the log of {} records extends the log of {} records",
                        b.new_size, b.old_size
                    ),
                    Err(e) => return Err(Exit(1, format!("INVALID: {e}")).into()),
                }
            }
            return Ok(0);
        }
        _ => {}
    }
    let c = Client::from_remote(remote)?;
    match cmd {
        TrailsCommand::Create(a) => {
            let mut body = json!({
                "name": a.name,
                "destination": a.destination,
                "keyPrefix": a.key_prefix,
                "deliveryIntervalSeconds": seconds(&a.delivery_interval)?,
                "digestIntervalSeconds": seconds(&a.digest_interval)?,
                "maxFileEvents": a.max_file_events,
                "digestSignatureAlgorithm": a.digest_signature_algorithm,
                "homeRegion": a.home_region,
                "isOrganizationTrail": a.organization,
            });
            if let Some(s) = &a.event_selectors {
                body["eventSelectors"] = json_arg(s)?;
            }
            if let Some(s) = &a.advanced_event_selectors {
                body["advancedEventSelectors"] = json_arg(s)?;
            }
            let v = c.post_json("/v1/trail/trails", &body).await?;
            print_trail(&v);
        }
        TrailsCommand::Update(a) => {
            let mut body = json!({});
            if let Some(d) = a.destination {
                body["destination"] = json!(d);
            }
            if let Some(d) = a.key_prefix {
                body["keyPrefix"] = json!(d);
            }
            if let Some(d) = a.delivery_interval {
                body["deliveryIntervalSeconds"] = json!(seconds(&d)?);
            }
            if let Some(d) = a.max_file_events {
                body["maxFileEvents"] = json!(d);
            }
            if let Some(s) = &a.event_selectors {
                body["eventSelectors"] = json_arg(s)?;
            }
            if let Some(s) = &a.advanced_event_selectors {
                body["advancedEventSelectors"] = json_arg(s)?;
            }
            print_trail(&c.patch_json(&path(&a.name), &body).await?);
        }
        TrailsCommand::Delete { name, force } => {
            let p = if force {
                format!("{}?force=true", path(&name))
            } else {
                path(&name)
            };
            c.delete(&p).await?;
            println!("Deleted trail {}", sanitize(&name));
        }
        TrailsCommand::List { format } => {
            let v = c.get("/v1/trail/trails", &[]).await?;
            let trails = v["trails"].as_array().cloned().unwrap_or_default();
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&trails)?);
            } else {
                let rows: Vec<Vec<String>> = trails
                    .iter()
                    .map(|t| {
                        let s = |x: &Value| sanitize(x.as_str().unwrap_or("-"));
                        vec![
                            s(&t["name"]),
                            s(&t["accountId"]),
                            s(&t["trail"]["destination"]),
                            if t["status"]["isLogging"].as_bool() == Some(true) {
                                "on".into()
                            } else {
                                "off".into()
                            },
                            s(&t["status"]["latestDeliveryTime"]),
                            t["status"]["treeSize"].to_string(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "NAME",
                            "ACCOUNT",
                            "DESTINATION",
                            "LOGGING",
                            "LATEST DELIVERY",
                            "RECORDS"
                        ],
                        &rows
                    )
                );
            }
        }
        TrailsCommand::Status { name, format } => {
            let v = c.get(&path(&name), &[]).await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_trail(&v);
            }
        }
        TrailsCommand::StartLogging { name } => print_trail(
            &c.post_json(&format!("{}/start-logging", path(&name)), &json!({}))
                .await?,
        ),
        TrailsCommand::StopLogging { name } => print_trail(
            &c.post_json(&format!("{}/stop-logging", path(&name)), &json!({}))
                .await?,
        ),
        TrailsCommand::Flush { name } => {
            let v = c
                .post_json(&format!("{}/flush", path(&name)), &json!({}))
                .await?;
            let d = &v["delivered"];
            if d["events"] == 0 {
                // The background loop may have delivered moments before (a flush waits for it):
                // say what the destination holds, not just what this call added.
                println!(
                    "Nothing new to deliver: all {} records of the Merkle log are delivered; {} digests written",
                    d["treeSize"], d["digests"]
                );
            } else {
                println!(
                    "Delivered {} events in {} files; {} digests written; Merkle log has {} records",
                    d["events"], d["files"], d["digests"], d["treeSize"]
                );
            }
        }
        TrailsCommand::RotateKey { name, region } => {
            let mut p = format!("{}/rotate-key", path(&name));
            if let Some(r) = region {
                p.push_str(&format!(
                    "?region={}",
                    form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()
                ));
            }
            let v = c.post_json(&p, &json!({})).await?;
            for k in v["rotated"].as_array().cloned().unwrap_or_default() {
                println!(
                    "{}\t{}",
                    sanitize(k["region"].as_str().unwrap_or("")),
                    sanitize(k["fingerprint"].as_str().unwrap_or(""))
                );
            }
        }
        TrailsCommand::PublicKeys { trail, format } => {
            let q: Vec<(String, String)> = trail
                .map(|t| vec![("trail".to_string(), t)])
                .unwrap_or_default();
            let v = c.get("/v1/trail/public-keys", &q).await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let s = |x: &Value| sanitize(x.as_str().unwrap_or("-"));
                let rows: Vec<Vec<String>> = v["PublicKeyList"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|k| {
                        vec![
                            s(&k["Trail"]),
                            s(&k["Region"]),
                            s(&k["Algorithm"]),
                            s(&k["Fingerprint"]),
                            s(&k["ValidityStartTime"]),
                            s(&k["ValidityEndTime"]),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "TRAIL",
                            "REGION",
                            "ALGORITHM",
                            "FINGERPRINT",
                            "VALID FROM",
                            "VALID TO"
                        ],
                        &rows
                    )
                );
                for k in v["CheckpointKeys"].as_array().cloned().unwrap_or_default() {
                    println!(
                        "checkpoint key of {}: {}",
                        s(&k["Trail"]),
                        s(&k["VerifierKey"])
                    );
                }
            }
        }
        TrailsCommand::Prove {
            event_id,
            trail,
            size,
        } => {
            let mut q = vec![("eventId".to_string(), event_id)];
            if let Some(n) = size {
                q.push(("size".into(), n.to_string()));
            }
            let v = c.get(&format!("{}/proof", path(&trail)), &q).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        TrailsCommand::Consistency { old, new, trail } => {
            let mut q = vec![("old".to_string(), old.to_string())];
            if let Some(n) = new {
                q.push(("new".into(), n.to_string()));
            }
            let v = c.get(&format!("{}/consistency", path(&trail)), &q).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        TrailsCommand::Validate(_) | TrailsCommand::VerifyProof { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(0)
}

async fn validate_cmd(a: ValidateArgs, remote: &Remote) -> anyhow::Result<u8> {
    let keys: KeySet = match &a.public_keys {
        Some(p) => {
            let text =
                std::fs::read(p).with_context(|| format!("reading public keys {}", p.display()))?;
            let keys: KeySet = serde_json::from_slice(&text).map_err(|e| {
                usage(format!(
                    "{}: not the JSON of `mamori trail public-keys --format json`: {e}",
                    p.display()
                ))
            })?;
            if keys.digest_keys.is_empty() && keys.checkpoint_keys.is_empty() {
                return Err(usage(format!(
                    "{}: holds no keys (no PublicKeyList or CheckpointKeys); write it with `mamori trail public-keys --format json`",
                    p.display()
                )));
            }
            keys
        }
        None => {
            let v = Client::from_remote(remote)?
                .get("/v1/trail/public-keys", &[])
                .await?;
            serde_json::from_value(v).context("the server's public keys")?
        }
    };
    let now = chrono::Utc::now();
    let when = |s: &Option<String>| -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
        s.as_deref()
            .map(|t| mamori_core::time::parse_instant(t, now).map_err(|e| usage(e.to_string())))
            .transpose()
    };
    let witness = match &a.witness {
        Some(p) => Some(
            std::fs::read(p)
                .with_context(|| format!("reading witness checkpoint {}", p.display()))?,
        ),
        None => None,
    };
    let opts = validate::Options {
        start: when(&a.start)?,
        end: when(&a.end)?,
        witness,
    };
    let (dest, prefix) = if a.target.starts_with("s3://") {
        (
            mamori_trails::dest::Destination::open(&a.target).map_err(|e| usage(e.to_string()))?,
            String::new(),
        )
    } else {
        if !std::path::Path::new(&a.target).is_dir() {
            return Err(usage(format!(
                "{} is not a directory (or s3://bucket/prefix)",
                a.target
            )));
        }
        (
            mamori_trails::dest::Destination::open(&a.target).map_err(|e| usage(e.to_string()))?,
            String::new(),
        )
    };
    let prefix = if dest.prefix.is_empty() {
        prefix
    } else {
        dest.prefix.clone()
    };
    let started = std::time::Instant::now();
    let report = validate::validate(&dest, &prefix, &keys, &opts)
        .await
        .map_err(|e| Exit(3, e))?;
    let secs = started.elapsed().as_secs_f64();
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.results {
            if !f.valid || a.verbose {
                println!(
                    "{}\t{}\t{}",
                    f.kind.label(),
                    sanitize(&f.object),
                    sanitize(&f.message)
                );
            }
        }
        println!(
            "{}/{} digest files valid, {}/{} log files valid, {} other problems; {} records in the Merkle log; {:.1} MB hashed in {:.2}s",
            report.digests_valid,
            report.digests_valid + report.digests_invalid,
            report.log_files_valid,
            report.log_files_valid + report.log_files_invalid,
            report.other_invalid,
            report.records,
            report.bytes_hashed as f64 / 1e6,
            secs
        );
    }
    if report.digests_valid + report.digests_invalid == 0 {
        // Logs without a digest prove nothing yet: say so rather than "0/0 valid".
        eprintln!(
            "nothing could be validated yet: no digest files in {} ({} log files found); the first digest is written when the trail's first digest period ends",
            sanitize(&a.target),
            report.log_files_valid + report.log_files_invalid
        );
        return Ok(1);
    }
    Ok(if report.ok() { 0 } else { 1 })
}
