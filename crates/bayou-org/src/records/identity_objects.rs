//! `User` and `Organization`: read-only sObjects over the org's identity (`org.json`).
//!
//! Client libraries look up who they are before anything else — the Salesforce CLI's library
//! reads `sobjects/User/{id}` for the username behind a token and queries `Organization` for
//! the org's edition — so both answer as Salesforce does: by id, by SOQL, in describes. They are
//! not records in the store: users are configured (`BAYOU_USERNAME`, `[[users]]`) and the org
//! is this server, so writes to them are refused with Salesforce's error for a type that does
//! not allow the operation.

use serde_json::{json, Value};

use super::Fields;
use crate::identity::User;
use crate::rest::errors::RestError;
use crate::Org;

pub const USER: &str = "User";
pub const ORGANIZATION: &str = "Organization";

/// Whether `object` (a canonical name) is one of these.
pub fn is_identity_object(object: &str) -> bool {
    object == USER || object == ORGANIZATION
}

/// Every record of `object`, or `None` when it is not one of these objects.
pub fn records(org: &Org, object: &str) -> Option<Vec<Fields>> {
    match object {
        USER => {
            let identity = org.identity();
            Some(identity.users.iter().map(user_record).collect())
        }
        ORGANIZATION => Some(vec![organization_record(org)]),
        _ => None,
    }
}

/// The record `id` of `object` (15 or 18 characters, as Salesforce accepts both).
pub fn record(org: &Org, object: &str, id: &str) -> Option<Fields> {
    records(org, object)?.into_iter().find(|fields| {
        fields
            .get("Id")
            .and_then(Value::as_str)
            .is_some_and(|stored| stored == id || (id.len() == 15 && stored.starts_with(id)))
    })
}

/// The refusal of a write (`inserted`, `updated`, `deleted`, `undeleted`) to these objects.
pub fn refuse_write(object: &str, done: &str) -> Result<(), RestError> {
    if !is_identity_object(object) {
        return Ok(());
    }
    Err(RestError::bad_request(
        "INVALID_TYPE_FOR_OPERATION",
        format!("entity type cannot be {done}: {object}"),
    ))
}

fn user_record(user: &User) -> Fields {
    let (first, last) = match user.display_name.rsplit_once(' ') {
        Some((first, last)) => (Value::from(first), last),
        None => (Value::Null, user.display_name.as_str()),
    };
    let local = user.username.split('@').next().unwrap_or_default();
    let alias: String = local.chars().take(8).collect();
    let record = json!({
        "Id": user.id,
        "Username": user.username,
        "Name": user.display_name,
        "FirstName": first,
        "LastName": last,
        "Alias": alias,
        "Email": user.username,
        "CommunityNickname": local,
        "IsActive": true,
        "UserType": "Standard",
        "TimeZoneSidKey": "GMT",
        "LocaleSidKey": "en_US",
        "LanguageLocaleKey": "en_US",
        "EmailEncodingKey": "UTF-8",
        "IsDeleted": false,
    });
    into_fields(record)
}

fn organization_record(org: &Org) -> Fields {
    let record = json!({
        "Id": org.org_id(),
        "Name": "Bayou",
        "OrganizationType": "Developer Edition",
        "InstanceName": "BAYOU",
        "IsSandbox": false,
        "TrialExpirationDate": null,
        "NamespacePrefix": null,
        "Division": null,
        "Country": null,
        "LanguageLocaleKey": "en_US",
        "DefaultLocaleSidKey": "en_US",
        "TimeZoneSidKey": "GMT",
        "IsReadOnly": false,
        "IsDeleted": false,
    });
    into_fields(record)
}

fn into_fields(value: Value) -> Fields {
    match value {
        Value::Object(fields) => fields,
        _ => Fields::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_record_splits_the_display_name() {
        let user = User {
            id: "005000000000001AAA".into(),
            username: "ada.lovelace@example.com".into(),
            display_name: "Ada King Lovelace".into(),
            password_hash: String::new(),
        };
        let record = user_record(&user);
        assert_eq!(record["FirstName"], "Ada King");
        assert_eq!(record["LastName"], "Lovelace");
        assert_eq!(record["Alias"], "ada.love");
        assert_eq!(record["Username"], "ada.lovelace@example.com");
        let single = User {
            display_name: "Dev".into(),
            ..user
        };
        assert_eq!(user_record(&single)["FirstName"], Value::Null);
        assert_eq!(user_record(&single)["LastName"], "Dev");
    }

    #[test]
    fn writes_are_refused_with_salesforces_error() {
        let refused = refuse_write(ORGANIZATION, "inserted").unwrap_err();
        assert_eq!(refused.code, "INVALID_TYPE_FOR_OPERATION");
        assert_eq!(
            refused.message,
            "entity type cannot be inserted: Organization"
        );
        assert!(refuse_write("Account", "inserted").is_ok());
    }
}
