//! IAM as a deployed function meets it. In the flow tests each function's AWS calls go through
//! [`IamFront`], which lets a request reach moto only when template.yaml's policy for that
//! function allows its action on its resource; anything else is answered with the
//! `AccessDeniedException` IAM answers. A call the code makes that the template does not grant
//! fails here as it would in AWS, instead of first in production, and a permission the template
//! drops must be one the code no longer needs.
//!
//! A function's requests name it in the endpoint's path (`{front}/{LogicalId}`). Resources are
//! resolved through the function's environment: a variable that refers to a resource
//! (`SESSION_TABLE: !Ref SessionTable`) has this stack's concrete one as its value.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_yaml_ng::Value;

use crate::template::{all_strings, environment, functions, references, resource_type, template};

/// What a statement's `Resource` names, made concrete for one stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    /// A table, by name.
    Table(String),
    /// A table's index: (table, index).
    Index(String, String),
    /// A secret, by ARN.
    Secret(String),
}

/// The (action, resource) pairs a function's policy allows.
type Grants = BTreeSet<(String, Resource)>;

/// The front: one URL, a path per function.
pub struct IamFront {
    url: String,
    logical_ids: HashMap<String, String>,
}

impl IamFront {
    /// Starts the front before `target` (moto), granting what template.yaml grants each function
    /// with the stack's environment `env`.
    pub async fn start(target: &str, env: &HashMap<String, String>) -> Self {
        let template = template();
        let mut grants_by_id = HashMap::new();
        let mut logical_ids = HashMap::new();
        for (binary, (id, function)) in functions(&template) {
            grants_by_id.insert(id.clone(), grants(&template, function, env));
            logical_ids.insert(binary, id);
        }
        let grants_by_id = Arc::new(grants_by_id);
        let url = crate::stack::forwarding_proxy(target, move |path, headers, body| {
            let id = path.trim_matches('/');
            let Some(request) = requested(headers, body) else {
                return Some(denied(id, "a request this front cannot read", headers));
            };
            let allowed = grants_by_id
                .get(id)
                .is_some_and(|grants| grants.contains(&request));
            let (action, resource) = &request;
            (!allowed).then(|| denied(id, &format!("{action} on {resource:?}"), headers))
        })
        .await;
        Self { url, logical_ids }
    }

    /// The AWS endpoint for the function built from crate `binary`, with its policy's grants.
    pub fn endpoint(&self, binary: &str) -> String {
        let id = self
            .logical_ids
            .get(binary)
            .unwrap_or_else(|| panic!("template.yaml deploys no function built from {binary}"));
        format!("{}/{id}", self.url)
    }
}

/// The grants of `function`'s inline policies, resolved through its environment.
fn grants(template: &Value, function: &Value, env: &HashMap<String, String>) -> Grants {
    // Logical id -> this stack's concrete value, through the variables that refer to it.
    let mut concrete = HashMap::new();
    for (variable, value) in environment(template, function) {
        let mut named = BTreeSet::new();
        references(value, &mut named);
        if let (Some(id), 1, Some(actual)) = (named.first(), named.len(), env.get(variable)) {
            concrete.insert(id.clone(), actual.clone());
        }
    }
    let mut grants = Grants::new();
    let statements = function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten());
    for statement in statements {
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let mut actions = Vec::new();
        all_strings(&statement["Action"], &mut actions);
        let mut resources = Vec::new();
        for value in statement["Resource"]
            .as_sequence()
            .map(|items| items.iter().collect())
            .unwrap_or_else(|| vec![&statement["Resource"]])
        {
            let mut named = BTreeSet::new();
            references(value, &mut named);
            let Some(id) = named.first() else { continue };
            let Some(actual) = concrete.get(id) else {
                continue;
            };
            let mut texts = Vec::new();
            all_strings(value, &mut texts);
            let index = texts
                .iter()
                .find_map(|text| text.split_once("/index/").map(|(_, name)| name.to_owned()));
            resources.push(match (resource_type(template, id), index) {
                ("AWS::DynamoDB::Table", Some(index)) => Resource::Index(actual.clone(), index),
                ("AWS::DynamoDB::Table", None) => Resource::Table(actual.clone()),
                ("AWS::SecretsManager::Secret", _) => Resource::Secret(actual.clone()),
                (other, _) => panic!("the IAM front does not know resources of type {other}"),
            });
        }
        for action in actions {
            for resource in &resources {
                grants.insert((action.to_owned(), resource.clone()));
            }
        }
    }
    grants
}

/// The action and resource of an AWS JSON-protocol request (`None`: not one).
fn requested(headers: &HeaderMap, body: &[u8]) -> Option<(String, Resource)> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    let (service, operation) = target.split_once('.')?;
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |name: &str| body[name].as_str().map(str::to_owned);
    Some(match service {
        "DynamoDB_20120810" => {
            let table = text("TableName").unwrap_or_default();
            let resource = match text("IndexName") {
                Some(index) => Resource::Index(table, index),
                None => Resource::Table(table),
            };
            (format!("dynamodb:{operation}"), resource)
        }
        "secretsmanager" => (
            format!("secretsmanager:{operation}"),
            Resource::Secret(text("SecretId").unwrap_or_default()),
        ),
        _ => return None,
    })
}

/// IAM's answer to a request no policy allows (`what`), in the service's JSON protocol.
fn denied(function: &str, what: &str, headers: &HeaderMap) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.0")
        .to_owned();
    let body = serde_json::json!({
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "Message": format!(
            "User: arn:aws:sts::123456789012:assumed-role/{function}Role/{function} is not \
             authorized to perform {what}: no identity-based policy allows it"
        ),
    });
    Response::builder()
        .status(400)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "iam-front")
        .body(Body::from(body.to_string()))
        .expect("static response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack_env() -> HashMap<String, String> {
        HashMap::from([
            ("SESSION_TABLE".to_owned(), "sessions-t".to_owned()),
            ("SESSION_SECRET_ARN".to_owned(), "arn:session".to_owned()),
            (
                "SCALEKIT_CLIENT_SECRET_ARN".to_owned(),
                "arn:client".to_owned(),
            ),
        ])
    }

    #[test]
    fn a_function_is_granted_its_policys_actions_on_this_stacks_resources_only() {
        let template = template();
        let functions = functions(&template);
        let (_, callback) = &functions["callback"];
        let grants = grants(&template, callback, &stack_env());
        let table = Resource::Table("sessions-t".into());
        assert!(grants.contains(&("dynamodb:PutItem".into(), table.clone())));
        assert!(grants.contains(&(
            "secretsmanager:GetSecretValue".into(),
            Resource::Secret("arn:client".into())
        )));
        assert!(!grants.contains(&("dynamodb:Scan".into(), table)));
        assert!(!grants.contains(&(
            "dynamodb:PutItem".into(),
            Resource::Table("another-table".into())
        )));
    }

    #[test]
    fn requests_are_read_as_iam_reads_them() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-amz-target", "DynamoDB_20120810.Query".parse().unwrap());
        assert_eq!(
            requested(&headers, br#"{"TableName":"t","IndexName":"by-user"}"#),
            Some((
                "dynamodb:Query".into(),
                Resource::Index("t".into(), "by-user".into())
            ))
        );
        headers.insert(
            "x-amz-target",
            "secretsmanager.GetSecretValue".parse().unwrap(),
        );
        assert_eq!(
            requested(&headers, br#"{"SecretId":"arn:s"}"#),
            Some((
                "secretsmanager:GetSecretValue".into(),
                Resource::Secret("arn:s".into())
            ))
        );
    }
}
