//! Variable values checked against the types their operation declares (the specification's
//! CoerceVariableValues, §6.1.2), before anything runs, for every operation.
//!
//! Why here and not in async-graphql: it never checks a value against its variable's declared
//! type. Its validation checks each value where it is used, as an argument, and only when
//! the strict validation rules run. Those rules are a tenth of the CPU of a lookup by id
//! (issue #16, `perf`), and all but that check depend only on the document and the operation
//! name — so a document that passed them once need not pass them again, if the values are
//! checked another way. This module is that way: with it, the executor runs an operation it
//! has already seen pass (same text, same operation name) under async-graphql's `Fast` mode.
//!
//! Why that is exact: the strict rules passed once for this operation, so each variable is
//! used only where its declared type is allowed (`VariableInAllowedPosition`): a value valid
//! for the declared type is valid wherever it is used. The one exception the specification
//! allows — a nullable variable with a default in a non-null position — is why an explicit
//! `null` for such a variable goes the strict way ([`Checked::strict_only`]). The check uses
//! the schema's own input types and scalar checks (a registry built from the same types), so
//! a value is valid here exactly when async-graphql's `is_valid_input_value` says so.

use std::collections::HashSet;

use async_graphql::parser::types::OperationDefinition;
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{OutputType, ServerError, SubscriptionType, Value, Variables};

use super::limits::coded;
use super::{Mutation, Query, Subscription};

/// The schema's input types (scalars, enums, input objects), as async-graphql registers them.
pub struct InputTypes {
    registry: Registry,
}

/// What checking an operation's variables found, when they are valid.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    /// The operation must take the strict validation path even if it passed before: a
    /// variable's type is not one of the schema's input types (the strict rules will say so),
    /// or an explicit `null` was given for a nullable variable that has a default.
    pub strict_only: bool,
}

impl Default for InputTypes {
    fn default() -> Self {
        Self::new()
    }
}

impl InputTypes {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        <Query as OutputType>::create_type_info(&mut registry);
        <Mutation as OutputType>::create_type_info(&mut registry);
        <Subscription as SubscriptionType>::create_type_info(&mut registry);
        // Only what a variable can be: the output types are most of the registry.
        registry.types.retain(|_, t| {
            matches!(
                t,
                MetaType::Scalar { .. } | MetaType::Enum { .. } | MetaType::InputObject { .. }
            )
        });
        InputTypes { registry }
    }

    /// Check `variables` against the variables `op` declares: each given value valid for its
    /// type, each non-null variable without a default given. Values given for variables the
    /// operation does not declare are ignored (as async-graphql does).
    pub fn check(
        &self,
        op: &OperationDefinition,
        variables: &Variables,
    ) -> Result<Checked, ServerError> {
        let mut strict_only = false;
        for def in &op.variable_definitions {
            let def = &def.node;
            let name = def.name.node.as_str();
            let ty = def.var_type.node.to_string();
            if !self.knows(&ty) {
                strict_only = true;
                continue;
            }
            match variables.get(&def.name.node) {
                None if !def.var_type.node.nullable && def.default_value.is_none() => {
                    return Err(invalid(format!(
                        "Variable \"${name}\" of required type \"{ty}\" was not provided."
                    )));
                }
                None => {}
                Some(Value::Null) if def.default_value.is_some() => {
                    // Valid if the type is nullable (checked below); where it is used the
                    // specification allows a non-null position: leave that to the strict rules.
                    strict_only = true;
                    if !def.var_type.node.nullable {
                        return Err(invalid(format!(
                            "Variable \"${name}\" of non-null type \"{ty}\" must not be null."
                        )));
                    }
                }
                Some(value) => {
                    if let Some(reason) = self.invalid_reason(&ty, value) {
                        return Err(invalid(format!(
                            "Variable \"${name}\" got an invalid value: {reason}"
                        )));
                    }
                }
            }
        }
        Ok(Checked { strict_only })
    }

    /// Whether the named type under `ty`'s wrappers is one of the input types.
    fn knows(&self, ty: &str) -> bool {
        self.registry
            .types
            .contains_key(MetaTypeName::concrete_typename(ty))
    }

    /// Why `value` is not valid for `ty` (a type name such as `[ID!]!`), `None` if it is.
    /// async-graphql's `is_valid_input_value`, which is private to it, with the same rules
    /// and messages; it recurses once per list or input-object level of `value`, which the
    /// JSON reader bounds (128 levels).
    fn invalid_reason(&self, ty: &str, value: &Value) -> Option<String> {
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => match value {
                Value::Null => Some(format!("expected type \"{inner}\"")),
                _ => self.invalid_reason(inner, value),
            },
            MetaTypeName::List(inner) => match value {
                Value::List(items) => items.iter().enumerate().find_map(|(i, item)| {
                    self.invalid_reason(inner, item)
                        .map(|r| format!("[{i}]: {r}"))
                }),
                Value::Null => None,
                _ => self.invalid_reason(inner, value),
            },
            MetaTypeName::Named(name) => {
                if let Value::Null = value {
                    return None;
                }
                match self.registry.types.get(name) {
                    // Unknown here: the strict rules have already refused such a document.
                    None => None,
                    Some(MetaType::Scalar {
                        is_valid: Some(is_valid),
                        ..
                    }) => (!is_valid(value)).then(|| format!("expected type \"{name}\"")),
                    Some(MetaType::Enum { enum_values, .. }) => match value {
                        Value::Enum(v) if enum_values.contains_key(v.as_str()) => None,
                        Value::String(v) if enum_values.contains_key(v.as_str()) => None,
                        Value::Enum(_) | Value::String(_) => Some(format!(
                            "enumeration type \"{name}\" does not contain the value {}",
                            short(value)
                        )),
                        _ => Some(format!("expected type \"{name}\"")),
                    },
                    Some(MetaType::InputObject {
                        input_fields,
                        oneof,
                        ..
                    }) => match value {
                        Value::Object(values) => {
                            if *oneof
                                && (values.len() != 1
                                    || values.values().next() == Some(&Value::Null))
                            {
                                return Some(format!(
                                    "exactly one field of \"{name}\" must be given, not null"
                                ));
                            }
                            let mut unknown: HashSet<&str> =
                                values.keys().map(|k| k.as_str()).collect();
                            for field in input_fields.values() {
                                unknown.remove(field.name.as_str());
                                match values.get(field.name.as_str()) {
                                    Some(v) => {
                                        if let Some(r) = self.invalid_reason(&field.ty, v) {
                                            return Some(format!("{}: {r}", field.name));
                                        }
                                    }
                                    None if MetaTypeName::create(&field.ty).is_non_null()
                                        && field.default_value.is_none() =>
                                    {
                                        return Some(format!(
                                            "field \"{}\" of type \"{}\" is required but not \
                                             provided",
                                            field.name, field.ty
                                        ));
                                    }
                                    None => {}
                                }
                            }
                            unknown.into_iter().next().map(|k| {
                                format!("unknown field \"{}\" of type \"{name}\"", short_str(k))
                            })
                        }
                        // async-graphql accepts any other value here too (and its resolvers
                        // then refuse it).
                        _ => None,
                    },
                    Some(_) => None,
                }
            }
        }
    }
}

fn invalid(message: String) -> ServerError {
    coded("GRAPHQL_VALIDATION_FAILED", message)
}

/// A value in a message, cut short: a hostile value could be the whole request body.
fn short(value: &Value) -> String {
    short_str(&value.to_string())
}

fn short_str(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::DocumentOperations;

    fn check(query: &str, variables: serde_json::Value) -> Result<Checked, String> {
        let doc = parse_query(query).unwrap();
        let DocumentOperations::Single(op) = doc.operations else {
            panic!("one operation")
        };
        InputTypes::new()
            .check(&op.node, &Variables::from_json(variables))
            .map_err(|e| e.message)
    }

    const OK: Checked = Checked { strict_only: false };

    #[test]
    fn values_are_checked_against_the_declared_types() {
        let q = "query($id: ID!) { jobPosting(id: $id) { id } }";
        assert_eq!(check(q, serde_json::json!({"id": "77"})), Ok(OK));
        assert_eq!(check(q, serde_json::json!({"id": 77})), Ok(OK));
        assert!(
            check(q, serde_json::json!({}))
                .unwrap_err()
                .contains("was not provided")
        );
        assert!(
            check(q, serde_json::json!({"id": null}))
                .unwrap_err()
                .contains("\"ID\"")
        );
        assert!(check(q, serde_json::json!({"id": {"a": 1}})).is_err());
        let q = "query($n: Int!) { jobPostings(first: $n) { totalCount } }";
        assert!(check(q, serde_json::json!({"n": "five"})).is_err());
        // Int's own check takes any integer, in the strict rules too: its resolver refuses
        // one out of range (a field error), whichever way the operation went.
        assert_eq!(check(q, serde_json::json!({"n": 3_000_000_000i64})), Ok(OK));
        let q = "query($s: [Source!]) { jobPostings(filter: {sources: $s}) { totalCount } }";
        assert_eq!(
            check(q, serde_json::json!({"s": ["SEEK", "LEVER"]})),
            Ok(OK)
        );
        assert_eq!(check(q, serde_json::json!({"s": "SEEK"})), Ok(OK));
        assert_eq!(check(q, serde_json::json!({})), Ok(OK));
        let e = check(q, serde_json::json!({"s": ["SEEK", "NOPE"]})).unwrap_err();
        assert!(e.contains("[1]") && e.contains("NOPE"), "{e}");
        assert!(check(q, serde_json::json!({"s": [null]})).is_err());
        let q = "query($f: JobPostingFilter) { jobPostings(filter: $f) { totalCount } }";
        assert_eq!(
            check(
                q,
                serde_json::json!({"f": {"titleContains": "x", "sources": ["SEEK"]}})
            ),
            Ok(OK)
        );
        let e = check(q, serde_json::json!({"f": {"nope": 1}})).unwrap_err();
        assert!(e.contains("unknown field \"nope\""), "{e}");
        let e = check(q, serde_json::json!({"f": {"sources": [1]}})).unwrap_err();
        assert!(e.contains("sources: [0]") && e.contains("Source"), "{e}");
        // DateTime's own check accepts any value, in the strict rules too: its resolver
        // refuses "yesterday" (BAD_USER_INPUT), whichever way the operation went.
        assert_eq!(
            check(q, serde_json::json!({"f": {"postedAfter": "yesterday"}})),
            Ok(OK)
        );
        // Variables the operation does not declare are ignored.
        assert_eq!(check(q, serde_json::json!({"other": [1, 2]})), Ok(OK));
    }

    #[test]
    fn what_only_the_strict_rules_can_judge_goes_their_way() {
        // An explicit null for a nullable variable with a default may sit in a non-null
        // position.
        let q = "query($n: Int = 5) { jobPostings(first: $n) { totalCount } }";
        assert_eq!(
            check(q, serde_json::json!({"n": null})),
            Ok(Checked { strict_only: true })
        );
        assert_eq!(check(q, serde_json::json!({"n": 2})), Ok(OK));
        // A type that is no input type (or none at all): the strict rules say what is wrong.
        for q in [
            "query($p: JobPosting) { health { status } }",
            "query($p: Nope) { health { status } }",
        ] {
            assert_eq!(
                check(q, serde_json::json!({"p": 1})),
                Ok(Checked { strict_only: true }),
                "{q}"
            );
        }
    }
}
