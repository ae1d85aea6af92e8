//! mamori-trails: trails that deliver the event history to object storage as CloudTrail log
//! files, CloudTrail-compatible signed digests, a Merkle log with signed checkpoints, and
//! offline validation of all of it.

pub mod canonical;
pub mod merkle;
