//! The CloudTrail record (eventVersion 1.0 to 1.11) as a typed struct.
//!
//! Every documented field has a name here (CloudTrail user guide, "CloudTrail record contents"
//! and "userIdentity element"); every field is a [`Field`] so that absent, `null` and set values
//! all survive a round trip; every struct keeps the fields it does not know in `other`, so records
//! from newer CloudTrail versions lose nothing. Strings such as `sourceIPAddress` and `awsRegion`
//! are opaque: real files carry invalid IPs and made-up regions, and the history keeps them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::field::{Field, Flag};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_version: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub user_identity: Field<UserIdentity>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_time: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_source: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_name: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub aws_region: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub user_agent: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub error_code: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub error_message: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub request_parameters: Field<Value>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub response_elements: Field<Value>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub additional_event_data: Field<Value>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "requestID")]
    pub request_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "eventID")]
    pub event_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub read_only: Field<Flag>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub resources: Field<Vec<Resource>>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_type: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub api_version: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub management_event: Field<Flag>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub recipient_account_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub service_event_details: Field<Value>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "sharedEventID")]
    pub shared_event_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub vpc_endpoint_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub vpc_endpoint_account_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_category: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub addendum: Field<Addendum>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub session_credential_from_console: Field<Flag>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub edge_device_details: Field<Value>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub tls_details: Field<TlsDetails>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_context: Field<Value>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub insight_details: Field<InsightDetails>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "type")]
    pub identity_type: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub principal_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub arn: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub account_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub access_key_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub user_name: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub invoked_by: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub session_context: Field<SessionContext>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub identity_provider: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub on_behalf_of: Field<OnBehalfOf>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub in_scope_of: Field<InScopeOf>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub credential_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub invoked_by_delegate: Field<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub attributes: Field<SessionAttributes>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub session_issuer: Field<SessionIssuer>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub web_id_federation_data: Field<WebIdFederationData>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub source_identity: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub ec2_role_delivery: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub assumed_root: Field<Flag>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "ec2IssuedInVPC")]
    pub ec2_issued_in_vpc: Field<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub creation_date: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub mfa_authenticated: Field<Flag>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "type")]
    pub issuer_type: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub principal_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub arn: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub account_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub user_name: Field<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebIdFederationData {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub federated_provider: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub attributes: Field<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnBehalfOf {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub user_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub identity_store_arn: Field<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InScopeOf {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub source_arn: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub source_account: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub issuer_type: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub credentials_issued_to: Field<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "ARN")]
    pub arn: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "ARNPrefix")]
    pub arn_prefix: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "accountId")]
    pub account_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "type")]
    pub resource_type: Field<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub tls_version: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub cipher_suite: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub client_provided_host_header: Field<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Present when a record was delivered late or updated (`DELIVERY_DELAY`, `UPDATED_DATA`,
/// `SERVICE_OUTAGE`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addendum {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub reason: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub updated_fields: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "originalRequestID")]
    pub original_request_id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    #[serde(rename = "originalEventID")]
    pub original_event_id: Field<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Insights records carry the event they are about here, not at the top level.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightDetails {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub state: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_source: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub event_name: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub insight_type: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub error_code: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub insight_context: Field<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
