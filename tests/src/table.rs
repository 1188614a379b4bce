//! The session table exactly as template.yaml declares it (`SessionTable`: keys, attribute
//! definitions, global secondary indexes, TTL attribute), created in moto for one test stack.
//! `dev/lib.sh` creates the local stack's table from the same declaration.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_yaml_ng::Value;

fn session_table() -> Value {
    crate::template::template()["Resources"]["SessionTable"]["Properties"].clone()
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("SessionTable: {value:?} is not text"))
}

fn key_schema(value: &Value) -> Vec<KeySchemaElement> {
    value
        .as_sequence()
        .expect("KeySchema is a list")
        .iter()
        .map(|key| {
            KeySchemaElement::builder()
                .attribute_name(text(&key["AttributeName"]))
                .key_type(KeyType::from(text(&key["KeyType"])))
                .build()
                .expect("key schema element")
        })
        .collect()
}

/// Creates `name` in moto as template.yaml's `SessionTable`.
pub async fn create_session_table(dynamo: &aws_sdk_dynamodb::Client, name: &str) {
    let table = session_table();
    let definitions = table["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions is a list")
        .iter()
        .map(|attribute| {
            AttributeDefinition::builder()
                .attribute_name(text(&attribute["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(text(&attribute["AttributeType"])))
                .build()
                .expect("attribute definition")
        })
        .collect();
    let indexes = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|index| {
            let projection = &index["Projection"];
            let non_key: Vec<String> = projection["NonKeyAttributes"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|a| text(a).to_owned())
                .collect();
            GlobalSecondaryIndex::builder()
                .index_name(text(&index["IndexName"]))
                .set_key_schema(Some(key_schema(&index["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(text(&projection["ProjectionType"])))
                        .set_non_key_attributes((!non_key.is_empty()).then_some(non_key))
                        .build(),
                )
                .build()
                .expect("global secondary index")
        })
        .collect::<Vec<_>>();
    dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(text(&table["BillingMode"])))
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(&table["KeySchema"])))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await
        .expect("create table in moto");
    let ttl = &table["TimeToLiveSpecification"];
    dynamo
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(text(&ttl["AttributeName"]))
                .enabled(ttl["Enabled"].as_bool().expect("TTL Enabled"))
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable TTL");
}
