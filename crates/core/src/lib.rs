//! mamori-core: the vocabulary every mamori service shares, and nothing service-specific.
//!
//! Owns: typed ids ([`AccountId`], [`OrgId`]), the authenticated [`Caller`] and its [`Role`],
//! the error codes and their one mapping to HTTP ([`ApiError`]), configuration ([`Config`]),
//! the SQLite handle with its pragmas and migration runner ([`db`]), time parsing ([`time`]),
//! opaque pagination tokens ([`page`]), bounded reading of hostile input ([`input`]), finding
//! and reading input files ([`files`]), sealed secrets ([`seal`]), the self-audit seam
//! ([`AuditSink`]) and the scaffold every service's API is built on ([`service`]: error kinds,
//! blocking store work, one writer plus a read pool, the audit helper).
//!
//! Must never know about a particular service: `trail`, `org`, `guard` and `inspect` depend on
//! this crate, never the other way round.

pub mod audit;
pub mod caller;
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod ids;
#[allow(unsafe_code)] // the libdeflate FFI call
mod inflate;
pub mod input;
pub mod page;
pub mod seal;
pub mod service;
#[doc(hidden)]
pub mod testkit;
pub mod time;

pub use audit::{AuditEntry, AuditSink};
pub use caller::{Caller, Role};
pub use config::Config;
pub use error::{ApiError, ErrorCode, JsonBody};
pub use ids::{AccountId, IdError, OrgId};
