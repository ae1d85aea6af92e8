//! mamori-dest: where services write objects for people to collect — a local directory or an
//! S3-compatible bucket ([`Destination`]) — and the operator's walls around the destinations a
//! tenant may name ([`Confinement`]).
//!
//! Owns: opening a destination, putting/getting/listing objects, and deciding whether an
//! account may write to a destination. Depends on `mamori-core` for [`AccountId`] only.
//! Also the one check of outbound URLs tenants name ([`outbound`]: webhooks).
//! Never touches a database or knows what the objects mean (trails, findings).
//!
//! The server runs as root more often than not, and every destination string comes from a
//! tenant: it is hostile until [`Confinement::resolve`] has said otherwise. The CLI's offline
//! commands (validate) read the user's own paths with [`Destination::open`], unconfined.

#![forbid(unsafe_code)]

mod confine;
mod destination;
pub mod outbound;

pub use confine::{Confinement, Target, check_key_prefix};
pub use destination::{DestError, Destination};
