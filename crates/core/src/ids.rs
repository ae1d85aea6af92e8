//! Typed identifiers, parsed once at the boundary.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("account id {0:?} is not 12 decimal digits")]
    Account(String),
    #[error("organization id {0:?} is not of the form o-[a-z0-9]{{10,32}}")]
    Org(String),
}

/// A 12-digit account id, as AWS writes them (leading zeros kept when shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(u64);

impl AccountId {
    pub const MAX: u64 = 999_999_999_999;

    pub fn new(n: u64) -> Result<Self, IdError> {
        if n > Self::MAX {
            return Err(IdError::Account(n.to_string()));
        }
        Ok(Self(n))
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// SQLite stores integers as i64; every account id fits.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    pub fn from_i64(n: i64) -> Result<Self, IdError> {
        u64::try_from(n)
            .map_err(|_| IdError::Account(n.to_string()))
            .and_then(Self::new)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl FromStr for AccountId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Account(s.to_string()));
        }
        s.parse::<u64>()
            .map(Self)
            .map_err(|_| IdError::Account(s.to_string()))
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Stored as an INTEGER column.
impl rusqlite::types::ToSql for AccountId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_i64()))
    }
}

/// Read back from an INTEGER column; a value outside 0..=999999999999 is an error, not a guess.
impl rusqlite::types::FromSql for AccountId {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let n = v.as_i64()?;
        Self::from_i64(n).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

/// An organization id, `o-` followed by 10 to 32 lower-case letters or digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct OrgId(String);

impl OrgId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrgId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.strip_prefix("o-").is_some_and(|r| {
            (10..=32).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError::Org(s.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_keep_leading_zeros() {
        let a: AccountId = "000123456789".parse().unwrap();
        assert_eq!(a.get(), 123_456_789);
        assert_eq!(a.to_string(), "000123456789");
    }

    #[test]
    fn account_ids_reject_other_shapes() {
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "-12345678901",
            "+12345678901",
        ] {
            assert!(bad.parse::<AccountId>().is_err(), "{bad:?} accepted");
        }
        assert!(AccountId::new(1_000_000_000_000).is_err());
    }

    #[test]
    fn account_ids_round_trip_through_sqlite_and_refuse_out_of_range_rows() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t(a INTEGER)").unwrap();
        let a: AccountId = "000123456789".parse().unwrap();
        c.execute("INSERT INTO t VALUES (?1)", [a]).unwrap();
        let back: AccountId = c.query_row("SELECT a FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(back, a);
        c.execute("UPDATE t SET a = -1", []).unwrap();
        assert!(
            c.query_row("SELECT a FROM t", [], |r| r.get::<_, AccountId>(0))
                .is_err()
        );
    }

    #[test]
    fn org_ids() {
        assert!("o-1234abcde0".parse::<OrgId>().is_ok());
        assert!("o-ABCDEFGHIJ".parse::<OrgId>().is_err());
        assert!("o-short".parse::<OrgId>().is_err());
    }
}
