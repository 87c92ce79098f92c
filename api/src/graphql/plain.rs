//! The values of a posting's plain fields, built straight from the row.
//!
//! async-graphql resolves every selected field of every object through the same machinery: a
//! boxed future per field, a context per field, the field found by comparing its name with
//! each of the object's ~40 field names in turn, its value merged into the object's map. A
//! page of 20 postings asks ~300 such fields, and that machinery was a fifth of jobintel's CPU
//! for an uncached page (issue #16: `perf` on the peer benchmark's "newest 20"). Nearly all of
//! them are plain columns, so [`PostingOut`] and [`EdgeOut`] (and the lists [`EdgesOut`],
//! [`NodesOut`]) answer a selection made only of plain fields — directly or in fragments on
//! the object's own type, as Apollo clients send them (`...PostingFields`); no arguments, no
//! directives, no repeated response key — in one pass over it, and hand anything else to the
//! derived resolvers unchanged. The schema does not change: the wrappers register and name
//! the types they wrap.
//!
//! The values must be exactly what the resolvers in [`super::types`] give: the test
//! `the_plain_field_path_answers_exactly_what_the_resolvers_do` (read_api.rs) asks every
//! plain field both ways (a field asked twice goes the general way, which merges the two) and
//! compares, with and without fragments.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry as IndexMapEntry;
use async_graphql::parser::types::{Field, FragmentDefinition, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::enum_value;
use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
};

use super::ids;
use super::types::{
    JobPosting, JobPostingEdge, Salary, SalaryPeriod, SalarySource, WorkArrangement, WorkType,
};

/// `OutputType`'s type functions, delegated to `$ty`: each wrapper names and registers exactly
/// the type it stands for, so the schema does not change.
macro_rules! same_type_as {
    ($ty:ty) => {
        fn type_name() -> Cow<'static, str> {
            <$ty as OutputType>::type_name()
        }

        fn qualified_type_name() -> String {
            <$ty as OutputType>::qualified_type_name()
        }

        fn create_type_info(registry: &mut Registry) -> String {
            <$ty as OutputType>::create_type_info(registry)
        }
    };
}

/// A `JobPosting` whose plain fields are answered without the per-field machinery.
pub struct PostingOut<P>(pub P);

impl<P: Borrow<JobPosting> + Send + Sync> OutputType for PostingOut<P> {
    same_type_as!(JobPosting);

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match posting_value(&ctx.query_env.fragments, &ctx.item.node, self.0.borrow()) {
            Some(value) => Ok(value),
            // Boxed: the general path's state would otherwise be part of every item's future.
            None => Box::pin(OutputType::resolve(self.0.borrow(), ctx, field)).await,
        }
    }
}

/// A `JobPostingEdge` whose cursor and plain node are answered the same way.
pub struct EdgeOut<'a>(pub &'a JobPostingEdge);

impl OutputType for EdgeOut<'_> {
    same_type_as!(JobPostingEdge);

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match edge_value(&ctx.query_env.fragments, &ctx.item.node, self.0) {
            Some(value) => Ok(value),
            None => Box::pin(OutputType::resolve(self.0, ctx, field)).await,
        }
    }
}

/// A connection's `edges`, answered in one loop when each edge's selection is plain.
/// async-graphql resolves a list with one future per item, and an item's future holds the
/// general path's state too: a page of 20 edges moved ~20 such futures around (`memmove` in
/// the profile of a page).
pub struct EdgesOut<'a>(pub &'a [JobPostingEdge]);

/// A connection's `nodes`, the same way.
pub struct NodesOut<'a>(pub &'a [JobPostingEdge]);

impl OutputType for EdgesOut<'_> {
    same_type_as!(Vec<EdgeOut<'static>>);

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let (frags, set) = (&ctx.query_env.fragments, &ctx.item.node);
        if let Some(items) = self.0.iter().map(|e| edge_value(frags, set, e)).collect() {
            return Ok(Value::List(items));
        }
        let edges: Vec<EdgeOut<'_>> = self.0.iter().map(EdgeOut).collect();
        Box::pin(OutputType::resolve(&edges, ctx, field)).await
    }
}

impl OutputType for NodesOut<'_> {
    same_type_as!(Vec<PostingOut<&'static JobPosting>>);

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let (frags, set) = (&ctx.query_env.fragments, &ctx.item.node);
        if let Some(items) = self
            .0
            .iter()
            .map(|e| posting_value(frags, set, &e.node))
            .collect()
        {
            return Ok(Value::List(items));
        }
        let nodes: Vec<PostingOut<&JobPosting>> =
            self.0.iter().map(|e| PostingOut(&e.node)).collect();
        Box::pin(OutputType::resolve(&nodes, ctx, field)).await
    }
}

/// The fragments of the operation's document, by name.
type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// How deep fragments may nest inside one object on this path (deeper: the general path).
const MAX_FRAGMENT_NESTING: usize = 3;

/// The object of type `ty` that `set` selects, each field's value from `value_of`, when every
/// selection is a plain field, or a fragment (spread or inline) on exactly `ty` made of such:
/// no directive, no argument, no response key twice (the general path merges repeated keys),
/// no fragment on an interface; `None` otherwise, or when `value_of` gives `None`. One pass,
/// one hash of each key; fields keep the order of their first appearance, as in the general
/// path.
fn object(
    frags: &Fragments,
    ty: &str,
    set: &SelectionSet,
    mut value_of: impl FnMut(&Field) -> Option<Value>,
) -> Option<Value> {
    // An object selects at least one field; the general path answers the odd empty one.
    if set.items.is_empty() {
        return None;
    }
    let mut map = IndexMap::with_capacity(set.items.len());
    collect(frags, ty, set, &mut map, &mut value_of, 0)?;
    Some(Value::Object(map))
}

fn collect(
    frags: &Fragments,
    ty: &str,
    set: &SelectionSet,
    map: &mut IndexMap<Name, Value>,
    value_of: &mut impl FnMut(&Field) -> Option<Value>,
    depth: usize,
) -> Option<()> {
    for selection in &set.items {
        let inner = match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                if !field.directives.is_empty() || !field.arguments.is_empty() {
                    return None;
                }
                // One hash of the key: a repeated key is refused where it would be inserted.
                let IndexMapEntry::Vacant(slot) = map.entry(field.response_key().node.clone())
                else {
                    return None;
                };
                slot.insert(value_of(field)?);
                continue;
            }
            Selection::InlineFragment(f) => {
                let f = &f.node;
                let on = f.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                if !f.directives.is_empty() || on.is_some_and(|on| on != ty) {
                    return None;
                }
                &f.selection_set.node
            }
            Selection::FragmentSpread(spread) => {
                let spread = &spread.node;
                let def = &frags.get(&spread.fragment_name.node)?.node;
                if !spread.directives.is_empty()
                    || !def.directives.is_empty()
                    || def.type_condition.node.on.node != ty
                {
                    return None;
                }
                &def.selection_set.node
            }
        };
        if depth == MAX_FRAGMENT_NESTING {
            return None;
        }
        collect(frags, ty, inner, map, value_of, depth + 1)?;
    }
    Some(())
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    v.map_or(Value::Null, f)
}

fn edge_value(frags: &Fragments, set: &SelectionSet, edge: &JobPostingEdge) -> Option<Value> {
    object(frags, "JobPostingEdge", set, |field| {
        Some(match field.name.node.as_str() {
            "__typename" => Value::String(JobPostingEdge::type_name().into_owned()),
            "cursor" => text(&edge.cursor),
            "node" => posting_value(frags, &field.selection_set.node, &edge.node)?,
            _ => return None,
        })
    })
}

fn posting_value(frags: &Fragments, set: &SelectionSet, posting: &JobPosting) -> Option<Value> {
    let m = &posting.0;
    object(frags, "JobPosting", set, |field| {
        Some(match field.name.node.as_str() {
            "__typename" => Value::String(JobPosting::type_name().into_owned()),
            "id" => Value::String(ids::encode("JobPosting", m.id)),
            "databaseId" => m.id.to_value(),
            "source" => enum_value(m.source),
            "externalId" => text(&m.external_id),
            "url" => text(&m.url),
            "applyUrl" => opt(m.apply_url.as_deref(), text),
            "title" => text(&m.title),
            "company" => opt(m.company.as_deref(), text),
            "companyExternalId" => opt(m.company_external_id.as_deref(), text),
            "locationRaw" => opt(m.location_raw.as_deref(), text),
            "city" => opt(m.city.as_deref(), text),
            "region" => opt(m.region.as_deref(), text),
            "country" => opt(m.country.as_deref(), text),
            "workType" => opt(m.work_type, |w| enum_value(WorkType::from(w))),
            "workArrangement" => enum_value(WorkArrangement::from(m.work_arrangement)),
            "salary" => match posting.salary_value() {
                Some(salary) => salary_value(frags, &field.selection_set.node, &salary)?,
                None => Value::Null,
            },
            "descriptionHtml" => opt(m.description_html.as_deref(), text),
            "descriptionText" => opt(m.description_text.as_deref(), text),
            "classification" => opt(m.classification.as_deref(), text),
            "postedAt" => opt(m.posted_at, |t| t.to_value()),
            "expiresAt" => opt(m.expires_at, |t| t.to_value()),
            "firstSeenAt" => m.first_seen_at.to_value(),
            "lastSeenAt" => m.last_seen_at.to_value(),
            "closedAt" => opt(m.closed_at, |t| t.to_value()),
            "isOpen" => Value::Boolean(m.closed_at.is_none()),
            "contentHash" => text(&m.content_hash),
            "createdAt" => m.created_at.to_value(),
            "updatedAt" => m.updated_at.to_value(),
            // `raw`, the runs, history and cluster: the general path.
            _ => return None,
        })
    })
}

fn salary_value(frags: &Fragments, set: &SelectionSet, s: &Salary) -> Option<Value> {
    object(frags, "Salary", set, |field| {
        Some(match field.name.node.as_str() {
            "__typename" => Value::String(Salary::type_name().into_owned()),
            "text" => opt(s.text.as_deref(), text),
            "min" => opt(s.min, |n| n.to_value()),
            "max" => opt(s.max, |n| n.to_value()),
            "currency" => opt(s.currency.as_deref(), text),
            "period" => opt(s.period, enum_value::<SalaryPeriod>),
            "annualMin" => opt(s.annual_min, |n| n.to_value()),
            "annualMax" => opt(s.annual_max, |n| n.to_value()),
            "source" => opt(s.source, enum_value::<SalarySource>),
            _ => return None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::DocumentOperations;

    /// The selection of the query's first field, and the document's fragments.
    fn inner(query: &str) -> (SelectionSet, Fragments) {
        let doc = parse_query(query).unwrap();
        let DocumentOperations::Single(op) = doc.operations else {
            panic!("one operation")
        };
        let Selection::Field(f) = &op.node.selection_set.node.items[0].node else {
            panic!("a field")
        };
        (f.node.selection_set.node.clone(), doc.fragments)
    }

    #[test]
    fn only_plain_selections_take_the_fast_path() {
        let keys = |q: &str| {
            let (set, frags) = inner(q);
            let fields = object(&frags, "JobPosting", &set, |f| {
                Some(Value::String(f.name.node.to_string()))
            });
            fields.map(|v| match v {
                Value::Object(map) => map.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
                other => panic!("an object: {other:?}"),
            })
        };
        assert_eq!(
            keys("{ p { id b: title __typename salary { min } } }").unwrap(),
            ["id", "b", "__typename", "salary"]
        );
        // Fragments on the object's own type, spread or inline, nested, in place.
        assert_eq!(
            keys("{ p { title ... on JobPosting { id } url } }").unwrap(),
            ["title", "id", "url"]
        );
        assert_eq!(
            keys("{ p { ... { city } title ...F } } fragment F on JobPosting { id ...G } fragment G on JobPosting { a: url }")
                .unwrap(),
            ["city", "title", "id", "a"]
        );
        // On an interface, with a directive, unknown, too deep: the general path.
        assert_eq!(keys("{ p { title ... on Node { id } } }"), None);
        assert_eq!(keys("{ p { ...F } } fragment F on Node { id }"), None);
        assert_eq!(
            keys("{ p { ...F @deprecated } } fragment F on JobPosting { id }"),
            None
        );
        assert_eq!(keys("{ p { ...Missing } }"), None);
        assert_eq!(
            keys("{ p { ... { ... { ... { id } } } } }").unwrap(),
            ["id"]
        );
        assert_eq!(keys("{ p { ... { ... { ... { ... { id } } } } } }"), None);
        // A key twice, inside a fragment too.
        assert_eq!(keys("{ p { title title } }"), None);
        assert_eq!(keys("{ p { title ... on JobPosting { title } } }"), None);
        assert_eq!(keys("{ p { a: id a: title } }"), None);
        assert_eq!(keys("{ p { history(first: 1) { totalCount } } }"), None);
        assert_eq!(keys("{ p { title @deprecated } }"), None);
    }
}
