//! The CloudTrail record (eventVersion 1.0 to 1.11) as a typed struct.
//!
//! Every documented field has a name here (CloudTrail user guide, "CloudTrail record contents"
//! and "userIdentity element"); every field is a [`Field`] so that absent, `null` and set values
//! all survive a round trip; every struct keeps the fields it does not know in `other`, so records
//! from newer CloudTrail versions lose nothing. Strings such as `sourceIPAddress` and `awsRegion`
//! are opaque: real files carry invalid IPs and made-up regions, and the history keeps them.
//!
//! The serde impls are written by [`cloudtrail_object!`] rather than derived: serde's
//! `#[serde(flatten)]` (the derive's way to keep unknown fields) buffers the whole object before
//! deserializing it, which made parsing the slowest step of ingest.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use crate::field::{Field, Flag};

/// A JSON object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Declares a CloudTrail object: its known fields (each a [`Field`] under its JSON name) and
/// `other` for the rest, with serde impls that keep both.
macro_rules! cloudtrail_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $field:ident : $ty:ty => $json:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $( pub $field: Field<$ty>, )*
            /// Fields this version of mamori does not know, kept as given.
            pub other: Map<String, Value>,
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                $( if !self.$field.is_absent() { m.serialize_entry($json, &self.$field)?; } )*
                for (k, v) in &self.other {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                            match key.as_ref() {
                                $( $json => out.$field = map.next_value()?, )*
                                _ => {
                                    let v: Value = map.next_value()?;
                                    out.other.insert(key.into_owned(), v);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

cloudtrail_object! {
    /// One CloudTrail event record.
    pub struct Record {
        event_version: String => "eventVersion",
        user_identity: UserIdentity => "userIdentity",
        event_time: String => "eventTime",
        event_source: String => "eventSource",
        event_name: String => "eventName",
        aws_region: String => "awsRegion",
        source_ip_address: String => "sourceIPAddress",
        user_agent: String => "userAgent",
        error_code: String => "errorCode",
        error_message: String => "errorMessage",
        request_parameters: Value => "requestParameters",
        response_elements: Value => "responseElements",
        additional_event_data: Value => "additionalEventData",
        request_id: String => "requestID",
        event_id: String => "eventID",
        read_only: Flag => "readOnly",
        resources: Vec<Resource> => "resources",
        event_type: String => "eventType",
        api_version: String => "apiVersion",
        management_event: Flag => "managementEvent",
        recipient_account_id: String => "recipientAccountId",
        service_event_details: Value => "serviceEventDetails",
        shared_event_id: String => "sharedEventID",
        vpc_endpoint_id: String => "vpcEndpointId",
        vpc_endpoint_account_id: String => "vpcEndpointAccountId",
        event_category: String => "eventCategory",
        addendum: Addendum => "addendum",
        session_credential_from_console: Flag => "sessionCredentialFromConsole",
        edge_device_details: Value => "edgeDeviceDetails",
        tls_details: TlsDetails => "tlsDetails",
        event_context: Value => "eventContext",
        insight_details: InsightDetails => "insightDetails",
    }
}

cloudtrail_object! {
    /// Who made the call.
    pub struct UserIdentity {
        identity_type: String => "type",
        principal_id: String => "principalId",
        arn: String => "arn",
        account_id: String => "accountId",
        access_key_id: String => "accessKeyId",
        user_name: String => "userName",
        invoked_by: String => "invokedBy",
        session_context: SessionContext => "sessionContext",
        identity_provider: String => "identityProvider",
        on_behalf_of: OnBehalfOf => "onBehalfOf",
        in_scope_of: InScopeOf => "inScopeOf",
        credential_id: String => "credentialId",
        invoked_by_delegate: Value => "invokedByDelegate",
    }
}

cloudtrail_object! {
    /// Temporary-credential context of the caller.
    pub struct SessionContext {
        attributes: SessionAttributes => "attributes",
        session_issuer: SessionIssuer => "sessionIssuer",
        web_id_federation_data: WebIdFederationData => "webIdFederationData",
        source_identity: String => "sourceIdentity",
        ec2_role_delivery: String => "ec2RoleDelivery",
        assumed_root: Flag => "assumedRoot",
        ec2_issued_in_vpc: String => "ec2IssuedInVPC",
    }
}

cloudtrail_object! {
    pub struct SessionAttributes {
        creation_date: String => "creationDate",
        mfa_authenticated: Flag => "mfaAuthenticated",
    }
}

cloudtrail_object! {
    pub struct SessionIssuer {
        issuer_type: String => "type",
        principal_id: String => "principalId",
        arn: String => "arn",
        account_id: String => "accountId",
        user_name: String => "userName",
    }
}

cloudtrail_object! {
    pub struct WebIdFederationData {
        federated_provider: String => "federatedProvider",
        attributes: Value => "attributes",
    }
}

cloudtrail_object! {
    pub struct OnBehalfOf {
        user_id: String => "userId",
        identity_store_arn: String => "identityStoreArn",
    }
}

cloudtrail_object! {
    pub struct InScopeOf {
        source_arn: String => "sourceArn",
        source_account: String => "sourceAccount",
        issuer_type: String => "issuerType",
        credentials_issued_to: String => "credentialsIssuedTo",
    }
}

cloudtrail_object! {
    pub struct Resource {
        arn: String => "ARN",
        arn_prefix: String => "ARNPrefix",
        account_id: String => "accountId",
        resource_type: String => "type",
    }
}

cloudtrail_object! {
    pub struct TlsDetails {
        tls_version: String => "tlsVersion",
        cipher_suite: String => "cipherSuite",
        client_provided_host_header: String => "clientProvidedHostHeader",
    }
}

cloudtrail_object! {
    /// Present when a record was delivered late or updated (`DELIVERY_DELAY`, `UPDATED_DATA`,
    /// `SERVICE_OUTAGE`).
    pub struct Addendum {
        reason: String => "reason",
        updated_fields: String => "updatedFields",
        original_request_id: String => "originalRequestID",
        original_event_id: String => "originalEventID",
    }
}

cloudtrail_object! {
    /// Insights records carry the event they are about here, not at the top level.
    pub struct InsightDetails {
        state: String => "state",
        event_source: String => "eventSource",
        event_name: String => "eventName",
        insight_type: String => "insightType",
        error_code: String => "errorCode",
        insight_context: Value => "insightContext",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_set_and_unknown_fields_round_trip() {
        let text = r#"{"eventVersion":"1.11","responseElements":null,"userIdentity":{"type":"Root","newThing":[1,{"a":null}]},"readOnly":"true","future":{"x":1},"eventName":"esc\"aped"}"#;
        let r: Record = serde_json::from_str(text).unwrap();
        assert_eq!(r.response_elements, Field::Null);
        assert!(r.event_time.is_absent());
        assert_eq!(r.read_only.get().and_then(Flag::value), Some(true));
        assert_eq!(r.event_name.as_deref(), Some("esc\"aped"));
        let back: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn wrong_types_are_errors_that_name_the_place() {
        let err = serde_json::from_str::<Record>(r#"{"eventName": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid type: integer `5`, expected a string"),
            "{err}"
        );
        assert!(serde_json::from_str::<Record>(r#"{"userIdentity": "root"}"#).is_err());
        assert!(serde_json::from_str::<Record>(r#"{"resources": [1]}"#).is_err());
        assert!(serde_json::from_str::<Record>("[]").is_err());
    }
}
