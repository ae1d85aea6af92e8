//! Threat detection (GuardDuty's foundation): detectors over audit events with GuardDuty's
//! finding types and severities, threat intelligence lists, findings that aggregate repeats, and
//! an offline hunt over log files.

pub mod api;
pub mod cloudtrail;
pub mod config;
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
pub mod sigma;
pub mod store;
pub mod view;
pub mod window;
