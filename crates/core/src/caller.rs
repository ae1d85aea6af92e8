//! Who is asking, and for which account. Every request resolves to one of these before any
//! service code runs; services scope every query by [`Caller::account`].

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, OrgId};

/// What a key may do. Ordered: an admin can do what a writer can, a writer what a reader can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected admin, writer or reader"
            )),
        }
    }
}

/// An authenticated caller, already scoped: `account` is the account this request acts on
/// (the key's own, or a member named by the management account's admin).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account whose data this request reads and writes.
    pub account: AccountId,
    /// The account the key belongs to (differs from `account` when a management admin acts on a member).
    pub key_account: AccountId,
    pub org: OrgId,
    /// The key id (public half of the API key); never the secret.
    pub key_id: String,
    pub key_name: String,
    pub role: Role,
}

impl Caller {
    pub fn can(&self, needed: Role) -> bool {
        self.role >= needed
    }

    /// Refuses (403) unless the key's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), crate::ApiError> {
        if self.can(needed) {
            return Ok(());
        }
        Err(crate::ApiError::forbidden(format!(
            "this call needs a key with the {} role; the key {} is {}",
            needed.as_str(),
            self.key_id,
            self.role.as_str()
        )))
    }
}
