//! mamori-inspect: inspection (Amazon Inspector's package scanning) — package inventories of
//! hosts, images, bundles and lockfiles; the OSV advisory database; exact per-ecosystem version
//! ordering; matching; findings in Inspector's shape; SBOMs and SARIF; continuous re-matching.
//!
//! Owns `inspect.db` (resources, inventories, findings, suppression rules) and
//! `advisories.db` (the advisory database, written by `mamori inspect db import`). Depends on
//! `mamori-core` only. Never touches another service's database; reads files only through
//! bounded readers, and never follows a link out of a scanned tree.

#![forbid(unsafe_code)]

pub mod api;
pub mod db;
pub mod finding;
pub mod image;
pub mod inventory;
pub mod matcher;
pub mod osv;
pub mod sbom;
pub mod scan;
pub mod store;
pub mod testkit;
pub mod version;
