//! `mamori org …` and `mamori trail channels …`: thin calls to the API.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::Client;
use crate::output::{cell, table};
use crate::{Format, Remote};

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Accounts of the organization
    Accounts {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// API keys of an account
    Keys {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Show the account, key and role the CLI is using
    Whoami {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create a member account (management account admin only)
    Create {
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List accounts
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key; its secret is shown once
    Create {
        name: String,
        #[arg(long, value_parser = ["admin", "writer", "reader"], default_value = "reader")]
        role: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List API keys (never their secrets)
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Revoke an API key by its id
    Revoke { key_id: String },
}

#[derive(Subcommand)]
pub enum ChannelCommand {
    /// Create a channel; its events get eventSource SOURCE (default: the name)
    Create {
        name: String,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List channels
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => cell(s, 64),
        Value::Null => "-".into(),
        other => cell(&other.to_string(), 64),
    }
}

fn rows(list: &Value, fields: &[&str]) -> Vec<Vec<String>> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|x| fields.iter().map(|f| s(&x[*f])).collect())
                .collect()
        })
        .unwrap_or_default()
}

pub async fn run(cmd: OrgCommand, remote: &Remote) -> anyhow::Result<u8> {
    let c = Client::from_remote(remote)?;
    match cmd {
        OrgCommand::Whoami { format } => {
            let v = c.get("/v1/org/whoami", &[]).await?;
            match format {
                Format::Json => print_json(&v),
                Format::Table => print!(
                    "{}",
                    table(
                        &["ACCOUNT", "KEY ID", "KEY NAME", "ROLE", "ORGANIZATION"],
                        &rows(
                            &json!([v]),
                            &["accountId", "keyId", "keyName", "role", "organizationId"]
                        )
                    )
                ),
            }
        }
        OrgCommand::Accounts {
            command:
                AccountCommand::Create {
                    name,
                    email,
                    format,
                },
        } => {
            let v = c
                .post_json("/v1/org/accounts", &json!({"name": name, "email": email}))
                .await?;
            match format {
                Format::Json => print_json(&v),
                Format::Table => println!("Created account {} ({})", s(&v["id"]), s(&v["name"])),
            }
        }
        OrgCommand::Accounts {
            command: AccountCommand::List { format },
        } => {
            let v = c.get("/v1/org/accounts", &[]).await?;
            match format {
                Format::Json => print_json(&v),
                Format::Table => print!(
                    "{}",
                    table(
                        &["ACCOUNT", "NAME", "KIND", "EMAIL", "CREATED"],
                        &rows(
                            &v["accounts"],
                            &["id", "name", "kind", "email", "createdAt"]
                        )
                    )
                ),
            }
        }
        OrgCommand::Keys {
            command: KeyCommand::Create { name, role, format },
        } => {
            let v = c
                .post_json("/v1/org/keys", &json!({"name": name, "role": role}))
                .await?;
            match format {
                Format::Json => print_json(&v),
                Format::Table => {
                    println!(
                        "Created {} key {} ({}). Its secret is shown only this once:\n",
                        s(&v["key"]["role"]),
                        s(&v["key"]["keyId"]),
                        s(&v["key"]["name"])
                    );
                    println!("    {}\n", v["secret"].as_str().unwrap_or_default());
                }
            }
        }
        OrgCommand::Keys {
            command: KeyCommand::List { format },
        } => {
            let v = c.get("/v1/org/keys", &[]).await?;
            match format {
                Format::Json => print_json(&v),
                Format::Table => print!(
                    "{}",
                    table(
                        &["KEY ID", "NAME", "ROLE", "CREATED", "REVOKED"],
                        &rows(
                            &v["keys"],
                            &["keyId", "name", "role", "createdAt", "revokedAt"]
                        )
                    )
                ),
            }
        }
        OrgCommand::Keys {
            command: KeyCommand::Revoke { key_id },
        } => {
            let v = c
                .delete(&format!("/v1/org/keys/{}", urlencode(&key_id)))
                .await?;
            println!(
                "Revoked key {} at {}",
                s(&v["key"]["keyId"]),
                s(&v["key"]["revokedAt"])
            );
        }
    }
    Ok(0)
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub async fn run_channels(cmd: ChannelCommand, remote: &Remote) -> anyhow::Result<u8> {
    let c = Client::from_remote(remote)?;
    match cmd {
        ChannelCommand::Create {
            name,
            source,
            format,
        } => {
            let v = c
                .post_json(
                    "/v1/trail/channels",
                    &json!({"name": name, "source": source}),
                )
                .await?;
            match format {
                Format::Json => print_json(&v),
                Format::Table => println!(
                    "Created channel {} ({}); send events to POST /v1/trail/channels/{}/events",
                    s(&v["id"]),
                    s(&v["name"]),
                    s(&v["id"])
                ),
            }
        }
        ChannelCommand::List { format } => {
            let v = c.get("/v1/trail/channels", &[]).await?;
            match format {
                Format::Json => print_json(&v),
                Format::Table => print!(
                    "{}",
                    table(
                        &["CHANNEL ID", "NAME", "SOURCE", "CREATED"],
                        &rows(&v["channels"], &["id", "name", "source", "createdAt"])
                    )
                ),
            }
        }
    }
    Ok(0)
}
