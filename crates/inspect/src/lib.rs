//! Inspection (Amazon Inspector's package scanning): package inventories of hosts, images,
//! bundles and lockfiles; the OSV advisory database; exact per-ecosystem version ordering;
//! matching; findings in Inspector's shape; SBOMs.

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
