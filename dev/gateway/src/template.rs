//! The HTTP API as `template.yaml` declares it: each function's `HttpApi` events (method, path,
//! `Auth.Authorizer`) and the API's `Auth.Authorizers`, read as SAM reads them, so that the local
//! gateway routes and authorizes from the same declarations as the deployed API.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

/// One route: `METHOD /path` to a function, behind an authorizer or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, ..., or `ANY`.
    pub method: String,
    /// `/api/sessions/{id}`: literal segments, `{name}` and a final greedy `{name+}`.
    pub path: String,
    /// The function's binary (its crate), as `BuildProperties.Binary` names it.
    pub function: String,
    /// The authorizer's name in `Auth.Authorizers`, unless the route is public.
    pub authorizer: Option<String>,
}

impl Route {
    /// API Gateway's `routeKey`: `GET /api/me`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Where an authorizer takes its identity sources from, and how long it caches a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorizer {
    /// The authorizer function's binary.
    pub function: String,
    /// `$request.header.<name>` sources, in order.
    pub headers: Vec<String>,
    /// `$request.querystring.<name>` sources.
    pub query_strings: Vec<String>,
    /// `$context.<name>` sources.
    pub context: Vec<String>,
    /// `ReauthorizeEvery` (0: no caching).
    pub ttl_seconds: u64,
}

/// The routes and authorizers of the template's HTTP API.
#[derive(Debug, Clone, Default)]
pub struct Api {
    /// Every route, in template order.
    pub routes: Vec<Route>,
    /// `Auth.Authorizers` by name.
    pub authorizers: BTreeMap<String, Authorizer>,
    /// Each function's environment variables that the template sets to plain strings (by
    /// binary), such as the authorizer's `ROUTE_POLICIES`: what the local stack gives it too.
    pub literal_variables: BTreeMap<String, BTreeMap<String, String>>,
}

fn entries(value: &Value) -> impl Iterator<Item = (&str, &Value)> {
    value
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().unwrap_or_default(), v))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// `!GetAtt X.Arn` (or its long forms) to `X`.
fn get_att_target(value: &Value) -> Option<String> {
    let (tag, argument) = match value {
        Value::Tagged(tagged) => (tagged.tag.to_string(), &tagged.value),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            (k.as_str()?.to_owned(), v)
        }
        _ => return None,
    };
    if !matches!(tag.as_str(), "!GetAtt" | "Fn::GetAtt") {
        return None;
    }
    match argument {
        Value::String(text) => text.split('.').next().map(str::to_owned),
        Value::Sequence(parts) => parts.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A number, or `!Ref Parameter` resolved to the parameter's value or default.
fn number(value: &Value, parameters: &BTreeMap<String, String>, template: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(text) => text.parse().ok(),
        Value::Tagged(tagged) if tagged.tag == "Ref" => {
            let name = tagged.value.as_str()?;
            match parameters.get(name) {
                Some(given) => given.parse().ok(),
                None => number(
                    &template["Parameters"][name]["Default"],
                    parameters,
                    template,
                ),
            }
        }
        _ => None,
    }
}

impl Api {
    /// Reads the template, with `parameters` overriding the parameters' defaults (as
    /// `--parameter-overrides`).
    pub fn from_template(
        text: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let template: Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("template.yaml: {e}"))?;
        let resources = &template["Resources"];
        let binary_of = |logical_id: &str| -> Result<String, String> {
            let resource = &resources[logical_id];
            resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{logical_id}: no Metadata.BuildProperties.Binary"))
        };
        let mut api = Api::default();
        let mut http_apis = entries(resources)
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"));
        let (_, http_api) = http_apis
            .next()
            .ok_or("template.yaml declares no AWS::Serverless::HttpApi")?;
        if http_apis.next().is_some() {
            return Err("template.yaml declares several HttpApis; the gateway serves one".into());
        }
        let auth = &http_api["Properties"]["Auth"];
        for (name, spec) in entries(&auth["Authorizers"]) {
            let function = get_att_target(&spec["FunctionArn"]).ok_or_else(|| {
                format!("authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn")
            })?;
            if spec["AuthorizerPayloadFormatVersion"].as_str() != Some("2.0")
                || spec["EnableSimpleResponses"].as_bool() != Some(true)
            {
                return Err(format!(
                    "authorizer {name}: the gateway speaks payload format 2.0 with simple responses"
                ));
            }
            let identity = &spec["Identity"];
            let ttl_seconds = match &identity["ReauthorizeEvery"] {
                Value::Null => 0,
                value => number(value, parameters, &template).ok_or_else(|| {
                    format!("authorizer {name}: ReauthorizeEvery is not a number")
                })?,
            };
            let authorizer = Authorizer {
                function: binary_of(&function)?,
                headers: strings(&identity["Headers"]),
                query_strings: strings(&identity["QueryStrings"]),
                context: strings(&identity["Context"]),
                ttl_seconds,
            };
            let sources = authorizer.headers.len()
                + authorizer.query_strings.len()
                + authorizer.context.len();
            if ttl_seconds > 0 && sources == 0 {
                return Err(format!(
                    "authorizer {name}: caching needs at least one identity source"
                ));
            }
            api.authorizers.insert(name.to_owned(), authorizer);
        }
        let default_authorizer = auth["DefaultAuthorizer"].as_str().map(str::to_owned);
        for (id, resource) in entries(resources) {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let variables = entries(&resource["Properties"]["Environment"]["Variables"])
                .filter_map(|(name, value)| match value {
                    // Not `as_str`, which also reads through a tag (`!Ref Table` as "Table").
                    Value::String(text) => Some((name.to_owned(), text.clone())),
                    _ => None,
                })
                .collect::<BTreeMap<_, _>>();
            if !variables.is_empty() {
                api.literal_variables.insert(binary_of(id)?, variables);
            }
            for (event, spec) in entries(&resource["Properties"]["Events"]) {
                if spec["Type"].as_str() != Some("HttpApi") {
                    continue;
                }
                let properties = &spec["Properties"];
                let method = properties["Method"]
                    .as_str()
                    .ok_or_else(|| format!("{id}.{event}: no Method"))?
                    .to_ascii_uppercase();
                let path = properties["Path"]
                    .as_str()
                    .ok_or_else(|| format!("{id}.{event}: no Path"))?
                    .to_owned();
                let authorizer = match properties["Auth"]["Authorizer"].as_str() {
                    Some("NONE") => None,
                    Some(name) => Some(name.to_owned()),
                    None => default_authorizer.clone(),
                };
                if let Some(name) = &authorizer {
                    if !api.authorizers.contains_key(name) {
                        return Err(format!("{id}.{event}: no authorizer named {name}"));
                    }
                }
                api.routes.push(Route {
                    method,
                    path,
                    function: binary_of(id)?,
                    authorizer,
                });
            }
        }
        Ok(api)
    }

    /// The route API Gateway picks for `method` and `path`, with its path parameters: the most
    /// specific one (literal segments win over `{name}`, which wins over a greedy `{name+}`),
    /// a route of the request's method before an `ANY` one.
    pub fn route(&self, method: &str, path: &str) -> Option<(&Route, BTreeMap<String, String>)> {
        self.routes
            .iter()
            .filter(|route| route.method == method || route.method == "ANY")
            .filter_map(|route| {
                let (score, parameters) = match_path(&route.path, path)?;
                Some(((score, route.method != "ANY"), route, parameters))
            })
            .max_by_key(|(score, ..)| *score)
            .map(|(_, route, parameters)| (route, parameters))
    }
}

/// Matches `path` against a route path; the score counts literal segments first.
fn match_path(pattern: &str, path: &str) -> Option<((usize, usize), BTreeMap<String, String>)> {
    let mut parameters = BTreeMap::new();
    let mut wanted = pattern.trim_start_matches('/').split('/');
    let mut given = path.trim_start_matches('/').split('/');
    let (mut literal, mut variable) = (0, 0);
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(((literal, variable), parameters)),
            (Some(segment), Some(value)) => {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                    let rest: Vec<&str> = std::iter::once(value).chain(given).collect();
                    parameters.insert(name.to_owned(), rest.join("/"));
                    return Some(((literal, variable), parameters));
                }
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if value.is_empty() {
                        return None;
                    }
                    parameters.insert(name.to_owned(), value.to_owned());
                    variable += 1;
                } else if segment == value {
                    literal += 1;
                } else {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  CacheSeconds:
    Type: Number
    Default: 0
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Open:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
          Cached:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity:
              Headers: [Cookie]
              Context: [routeKey]
              ReauthorizeEvery: !Ref CacheSeconds
  AuthFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: authorizer
  AppFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: app
    Properties:
      Environment:
        Variables:
          GREETING: hello
          TABLE: !Ref Table
      Events:
        Me:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: /api/me, Auth: {Authorizer: Open}}
        One:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: DELETE, Path: "/api/sessions/{id}", Auth: {Authorizer: Cached}}
        All:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: DELETE, Path: /api/sessions}
        Files:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: ANY, Path: "/files/{path+}"}
"#;

    #[test]
    fn routes_and_authorizers_are_read_as_sam_declares_them() {
        let api = Api::from_template(TEMPLATE, &BTreeMap::new()).unwrap();
        let keys: Vec<(String, Option<&str>)> = api
            .routes
            .iter()
            .map(|r| (r.key(), r.authorizer.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("GET /api/me".to_owned(), Some("Open")),
                ("DELETE /api/sessions/{id}".to_owned(), Some("Cached")),
                ("DELETE /api/sessions".to_owned(), None),
                ("ANY /files/{path+}".to_owned(), None),
            ]
        );
        assert_eq!(api.authorizers["Open"].function, "authorizer");
        assert_eq!(
            api.literal_variables["app"],
            BTreeMap::from([("GREETING".to_owned(), "hello".to_owned())])
        );
        assert_eq!(api.authorizers["Cached"].headers, ["Cookie"]);
        assert_eq!(api.authorizers["Cached"].ttl_seconds, 0);
        let overridden = BTreeMap::from([("CacheSeconds".to_owned(), "300".to_owned())]);
        let api = Api::from_template(TEMPLATE, &overridden).unwrap();
        assert_eq!(api.authorizers["Cached"].ttl_seconds, 300);
    }

    #[test]
    fn the_most_specific_route_wins_and_path_parameters_are_extracted() {
        let api = Api::from_template(TEMPLATE, &BTreeMap::new()).unwrap();
        let (route, parameters) = api.route("DELETE", "/api/sessions/abc").unwrap();
        assert_eq!(route.path, "/api/sessions/{id}");
        assert_eq!(parameters["id"], "abc");
        assert_eq!(
            api.route("DELETE", "/api/sessions").unwrap().0.path,
            "/api/sessions"
        );
        assert!(api.route("GET", "/api/sessions").is_none());
        assert!(api.route("DELETE", "/api/sessions/").is_none());
        assert_eq!(api.route("POST", "/files/a/b").unwrap().1["path"], "a/b");
        assert!(api.route("GET", "/api/me/x").is_none());
    }
}
