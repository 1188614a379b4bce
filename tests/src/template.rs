//! template.yaml read as CloudFormation reads it, for the checks that hold the code and the
//! template together (`tests/template.rs`) and the harness parts that reproduce what AWS does
//! with it (IAM in [`crate::iam`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// template.yaml, parsed.
pub fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("read template.yaml");
    // serde_yaml_ng keeps CloudFormation's short forms (`!Ref X`) as tagged values.
    serde_yaml_ng::from_str(&text).expect("template.yaml is YAML")
}

/// A mapping's entries (none for anything else).
pub fn entries(value: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    value.as_mapping().into_iter().flatten()
}

/// A value's text (empty for anything else).
pub fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The SAM functions, by the crate they build: `BuildProperties.Binary`, or the last component
/// of `CodeUri` when it points into `functions/`.
pub fn functions(template: &Value) -> BTreeMap<String, (String, &Value)> {
    let mut by_crate = BTreeMap::new();
    for (id, resource) in entries(&template["Resources"]) {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = str_of(id).to_owned();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .or_else(|| {
                resource["Properties"]["CodeUri"]
                    .as_str()?
                    .rsplit('/')
                    .next()
            })
            .unwrap_or_else(|| {
                panic!("{id}: neither BuildProperties.Binary nor CodeUri names a crate")
            })
            .to_owned();
        if let Some((other, _)) = by_crate.insert(binary.clone(), (id.clone(), resource)) {
            panic!("{other} and {id} both build {binary}");
        }
    }
    by_crate
}

/// A resource's `Type`.
pub fn resource_type<'a>(template: &'a Value, id: &str) -> &'a str {
    str_of(&template["Resources"][id]["Type"])
}

/// The logical ids a value refers to through Ref, GetAtt or Sub, short or long form.
pub fn references(value: &Value, out: &mut BTreeSet<String>) {
    let (function, argument) = match value {
        Value::Tagged(tagged) => (
            format!("Fn::{}", tagged.tag.to_string().trim_start_matches('!')),
            &tagged.value,
        ),
        Value::Mapping(m) if m.len() == 1 => {
            let (key, argument) = m.iter().next().unwrap();
            (str_of(key).to_owned(), argument)
        }
        Value::Mapping(m) => return m.values().for_each(|v| references(v, out)),
        Value::Sequence(items) => return items.iter().for_each(|v| references(v, out)),
        _ => return,
    };
    let head = |name: &str| name.split('.').next().unwrap_or_default().to_owned();
    match (function.as_str(), argument) {
        ("Fn::Ref" | "Ref", Value::String(name)) => {
            out.insert(name.clone());
        }
        ("Fn::GetAtt", Value::String(name)) => {
            out.insert(head(name));
        }
        ("Fn::GetAtt", Value::Sequence(parts)) if !parts.is_empty() => {
            out.insert(str_of(&parts[0]).to_owned());
        }
        ("Fn::Sub", Value::String(text)) => {
            // ${Name} and ${Name.Attribute}; ${!Literal} is not a reference.
            for part in text.split("${").skip(1) {
                let name = part.split('}').next().unwrap_or_default();
                if !name.starts_with('!') {
                    out.insert(head(name));
                }
            }
        }
        _ => references(argument, out),
    }
}

/// A value that may be `AWS::NoValue` (an `!If` with it as a branch) does not count as set.
pub fn always_set(value: &Value) -> bool {
    let mut refs = BTreeSet::new();
    references(value, &mut refs);
    !refs.contains("AWS::NoValue")
}

/// Globals' variables (none today) and the function's own: what the function runs with.
pub fn environment<'a>(template: &'a Value, function: &'a Value) -> BTreeMap<&'a str, &'a Value> {
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let own = &function["Properties"]["Environment"]["Variables"];
    entries(globals)
        .chain(entries(own))
        .map(|(name, value)| (str_of(name), value))
        .collect()
}

/// Every string inside a value, tags and all.
pub fn all_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Tagged(tagged) => all_strings(&tagged.value, out),
        Value::Sequence(items) => items.iter().for_each(|item| all_strings(item, out)),
        Value::Mapping(m) => m.values().for_each(|item| all_strings(item, out)),
        _ => {}
    }
}
