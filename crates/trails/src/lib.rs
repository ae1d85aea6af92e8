//! mamori-trails: trails that deliver the event history to object storage as CloudTrail log
//! files, CloudTrail-compatible signed digests, a Merkle log with signed checkpoints, and
//! offline validation of all of it.
//!
//! Owns `trails.db` (trails, delivery state, digest chains, sealed signing keys, the Merkle
//! log); only `store.rs` and `merkle.rs` speak SQL. Depends on `mamori-core`, `mamori-dest`
//! (where files go) and `mamori-trail` (it reads the history's feed; it never writes it).
//! Never touches another service's database.

#![forbid(unsafe_code)]

pub mod api;
pub mod canonical;
pub mod deliver;
pub use mamori_dest as dest;
pub mod digest;
pub mod layout;
pub mod merkle;
pub mod selectors;
pub mod signing;
pub mod spec;
pub mod store;
pub mod validate;
