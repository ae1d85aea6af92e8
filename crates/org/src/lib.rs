//! mamori-org: organizations, accounts, API keys, roles and request authentication.
//!
//! Owns `org.db`. An API key is `<key id>.<secret>`: the key id is public (it names the key in
//! lists and audit records), the secret is 256 random bits shown once and stored only as its
//! SHA-256 (a high-entropy secret needs no slow hash). Every request resolves to a
//! [`mamori_core::Caller`] here; the management account's admin keys may act on a member account
//! by naming it, and nothing else crosses accounts. Depends on `mamori-core` only.

#![forbid(unsafe_code)]

pub mod api;
pub mod keys;
pub mod store;

pub use store::{Account, ApiKeyInfo, AuthError, Bootstrap, Org, OrgError};
