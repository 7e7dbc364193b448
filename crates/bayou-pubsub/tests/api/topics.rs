//! GetTopic, GetSchema and who may call them.

use bayou_pubsub::proto::{ReplayPreset, SchemaRequest, TopicRequest};
use bayou_pubsub::PubSubConfig;
use serde_json::{json, Value};
use tonic::Code;

use crate::support::{decode, error_code, fetch, start, Client, Subscription, TOPIC};

#[tokio::test]
async fn a_topic_names_its_schema_and_the_schema_is_salesforces_shape() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let topic = client
        .get_topic(TopicRequest {
            topic_name: TOPIC.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(topic.topic_name, TOPIC);
    assert_eq!(topic.tenant_guid, api.org_id());
    assert!(topic.can_publish && topic.can_subscribe);
    assert_eq!(topic.schema_id.len(), 22);
    assert!(!topic.rpc_id.is_empty());

    let schema = client
        .get_schema(SchemaRequest {
            schema_id: topic.schema_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(schema.schema_id, topic.schema_id);
    let json: Value = serde_json::from_str(&schema.schema_json).unwrap();
    assert_eq!(json["name"], "Low_Ink__e");
    assert_eq!(json["namespace"], "com.sforce.eventbus");
    let names: Vec<&str> = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "CreatedDate",
            "CreatedById",
            "Ink_Percentage__c",
            "Printer_Model__c",
            "Urgent__c"
        ]
    );
    // The same id is the `schema` CometD subscribers see.
    assert_eq!(
        api.bayou
            .org()
            .current_event_schema("Low_Ink__e")
            .unwrap()
            .id,
        topic.schema_id
    );
}

#[tokio::test]
async fn unknown_topics_and_schemas_are_not_found_with_salesforces_codes() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let status = client
        .get_topic(TopicRequest {
            topic_name: "/event/Nope__e".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.topic.not.found"
    );
    assert!(status.message().contains("rpcId: "), "{}", status.message());

    let status = client
        .get_schema(SchemaRequest {
            schema_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let status = client
        .get_topic(TopicRequest {
            topic_name: "/data/NoSuchObjectChangeEvent".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // Blank names are refused before anything is looked up.
    let status = client
        .get_topic(TopicRequest {
            topic_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.topic.validation.empty"
    );
    let status = client
        .get_schema(SchemaRequest {
            schema_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.schema.validation.failed"
    );
}

#[tokio::test]
async fn change_event_topics_have_a_header_first_schema_and_take_no_publishes() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let topic = client
        .get_topic(TopicRequest {
            topic_name: "/data/AccountChangeEvent".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(topic.can_subscribe && !topic.can_publish);
    let schema = client
        .get_schema(SchemaRequest {
            schema_id: topic.schema_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let json: Value = serde_json::from_str(&schema.schema_json).unwrap();
    assert_eq!(json["name"], "AccountChangeEvent");
    assert_eq!(json["fields"][0]["name"], "ChangeEventHeader");
    let header: Vec<&str> = json["fields"][0]["type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        header,
        [
            "entityName",
            "recordIds",
            "changeType",
            "changeOrigin",
            "transactionKey",
            "sequenceNumber",
            "commitTimestamp",
            "commitNumber",
            "commitUser",
            "nulledFields",
            "diffFields",
            "changedFields"
        ]
    );
    let all = client
        .get_topic(TopicRequest {
            topic_name: "/data/ChangeEvents".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(all.can_subscribe && !all.can_publish);

    let status = client
        .publish(bayou_pubsub::proto::PublishRequest {
            topic_name: "/data/AccountChangeEvent".into(),
            events: Vec::new(),
            auth_refresh: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_bad_token_or_another_tenant_is_unauthenticated() {
    let api = start(PubSubConfig::default()).await;
    let request = || TopicRequest {
        topic_name: TOPIC.into(),
    };
    let mut stranger = api.client_as("00Dxx!not-a-token", &api.org_id()).await;
    let status = stranger.get_topic(request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        error_code(&status),
        "sfdc.platform.eventbus.grpc.service.auth.error"
    );

    let mut elsewhere = api.client_as(&api.token, "00Dxx0000001gPLEAY").await;
    let status = elsewhere.get_topic(request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // The 15-character form of the org id is the same org.
    let short = api.org_id()[..15].to_owned();
    let mut client = api.client_as(&api.token, &short).await;
    client.get_topic(request()).await.unwrap();
}

async fn current_schema_id(client: &mut Client) -> String {
    client
        .get_topic(TopicRequest {
            topic_name: TOPIC.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .schema_id
}

#[tokio::test]
async fn a_redefined_type_gets_a_new_schema_id_and_older_events_keep_theirs() {
    let api = start(PubSubConfig::default()).await;
    let mut client = api.client().await;
    let before = current_schema_id(&mut client).await;
    api.publish_rest("before").await;
    // The same fields again: the same schema, the same id.
    let fields =
        json!({"Printer_Model__c": "text", "Ink_Percentage__c": "number", "Urgent__c": "boolean"});
    let (status, body) = api
        .bayou
        .admin_call(
            "platform-events",
            json!({"name": "Low_Ink__e", "fields": fields}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(current_schema_id(&mut client).await, before);
    // A field more: a new id.
    let mut more = fields.clone();
    more["Tray__c"] = json!("text");
    let (status, body) = api
        .bayou
        .admin_call(
            "platform-events",
            json!({"name": "Low_Ink__e", "fields": more}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = current_schema_id(&mut client).await;
    assert_ne!(after, before);
    let (status, body) = api
        .bayou
        .rest(
            &api.token,
            reqwest::Method::POST,
            "sobjects/Low_Ink__e",
            Some(json!({"Printer_Model__c": "after", "Tray__c": "A4"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Each event carries the schema it was written with, and decodes with it.
    let mut sub = Subscription::open(&mut client, fetch(ReplayPreset::Earliest, None, 10))
        .await
        .unwrap();
    let events = sub.events_with_schemas(2).await;
    assert_eq!(events[0].1, before);
    assert_eq!(events[1].1, after);
    let old = decode(&mut client, &events[0].1, &events[0].2).await;
    assert_eq!(old["Printer_Model__c"], "before");
    assert!(old.get("Tray__c").is_none(), "{old}");
    let new = decode(&mut client, &events[1].1, &events[1].2).await;
    assert_eq!(new["Printer_Model__c"], "after");
    assert_eq!(new["Tray__c"], "A4");
}
