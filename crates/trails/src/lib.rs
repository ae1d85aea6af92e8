//! mamori-trails: trails that deliver the event history to object storage as CloudTrail log
//! files, CloudTrail-compatible signed digests, a Merkle log with signed checkpoints, and
//! offline validation of all of it.

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
