//! The event history engine (`trail.db`): what LookupEvents reads and trails deliver from.
//!
//! - [`store`]: the public API ([`store::History`]: append, lookup, feed, retain, close) and
//!   the schema.
//! - `writer`: the one writer thread — group commit, day partitions, recovery, retention.
//! - `staged`: the in-memory index of events accepted and not yet sealed into blocks.
//! - [`codec`]: how sealed blocks of records are laid out and compressed.
//! - `idruns`, `idfilter`: event-id runs and Bloom filters that make duplicate checks and
//!   lookups by id cheap.
//! - [`lookup`]: LookupEvents over sealed blocks and the staged index.
//! - [`feed`]: the ordered stream of accepted events (delivery and detection read it).
//!
//! Depends on `core` only; knows nothing of trails, digests or detection.

pub mod codec;
pub mod feed;
mod idfilter;
mod idruns;
pub mod lookup;
pub(crate) mod staged;
pub mod store;
mod writer;
