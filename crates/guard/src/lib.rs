//! mamori-guard: threat detection (GuardDuty's foundation) — detectors over audit events, VPC
//! flow logs and DNS logs with GuardDuty's finding types and severities, threat intelligence
//! lists, Sigma rules, findings that aggregate repeats, suppression rules, publishing (webhooks
//! and object storage), and an offline hunt over log files.
//!
//! Owns `guard.db` (findings, detectors, lists, filters, the publishing outbox and the cursor
//! into the event history). Depends on `mamori-core`, `mamori-dest` (where findings are
//! published) and `mamori-trail` (it reads the event history's feed; it never writes it).
//! Never touches another service's database, and never trails' digests or keys.

pub mod api;
pub mod cloudtrail;
pub mod config;
pub mod curated;
pub mod dns;
pub mod engine;
pub mod filters;
pub mod finding;
pub mod flow;
pub mod gate;
pub mod hunt;
pub mod intel;
pub mod lazy;
pub mod ocsf;
pub mod retro;
pub mod ruletest;
pub mod sigma;
pub mod store;
pub mod view;
pub mod window;
