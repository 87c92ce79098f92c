//! What one GraphQL document may cost, decided before anything else walks it.
//!
//! Every later walk over a document — async-graphql's recursion-depth check and validation
//! rules, its complexity visitor, and execution itself — follows fragment spreads into their
//! fragments, once per spread. A document whose fragments spread each other in a cycle never
//! ends that walk (a stack overflow: the process aborts), and 25 fragments each spreading the
//! next twice make it visit 2^25 selections (22 s of CPU for a 1 KB request). So the executor
//! runs [`check_text`] before parsing and [`analyse`] right after, and nothing else sees the
//! document until both have passed:
//!
//! - [`check_text`] bounds bracket nesting in the raw text: the parser (pest) recurses once
//!   per `{`, `[` or `(` before its own depth check runs, so 100,000 nested brackets in a
//!   256 KiB body would overflow the stack inside the parser.
//! - [`analyse`] orders the fragments with an explicit stack (no recursion on the fragment
//!   graph), refuses cycles, then measures every fragment exactly once, in dependency order,
//!   and reuses that measure wherever it is spread (memoised). The measures are saturating
//!   counts, so even a document that would expand to 2^100 selections is measured in time
//!   linear in its length and refused.
//!
//! Recursion over one selection set's nesting remains, bounded by the parser's own limit (64
//! nested selection sets) and checked again here ([`MAX_NESTING`]).
//!
//! The cost model is derived from the schema's SDL at start-up ([`CostModel::from_sdl`]), so it
//! cannot drift from the schema: a field with a `first` argument is a connection and multiplies
//! what is selected under it by its page size; other list fields multiply by their `limit` /
//! `count` argument or by [`LIST_BOUND`]; the large text fields cost [`LARGE_TEXT_COST`].

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Field, OperationType, Selection, SelectionSet, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Name, ServerError, ServerResult, Value, Variables};
// The document's own values (which may hold `$variables`); async-graphql re-exports only the
// constant kind as `Value`.
use async_graphql_value::Value as AstValue;

use super::limits::{
    DEFAULT_PAGE_SIZE, MAX_ALIASES, MAX_COMPLEXITY, MAX_DEPTH, MAX_DOCUMENT_SELECTIONS,
    MAX_NESTING, coded,
};
use crate::service::postings::MAX_PAGE_SIZE;

/// A map with foldhash: for keys no client chooses (see [`CostModel`]).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What a list field without a page-size argument counts as (enum breakdowns, sources, …).
pub const LIST_BOUND: usize = 20;
/// What `descriptionHtml`, `descriptionText` and `raw` cost: kilobytes each, not a scalar.
pub const LARGE_TEXT_COST: usize = 10;
/// Fields whose values are large texts.
const LARGE_TEXT_FIELDS: &[&str] = &["descriptionHtml", "descriptionText", "raw"];
/// List fields whose length a date range sets (at most 367 days; `perHour`: 31 days of hours).
const DAY_LIST_FIELDS: &[(&str, usize)] = &[("postingsPerDay", 367), ("perHour", 31 * 24)];

/// How a field multiplies what is selected under it.
#[derive(Debug, Clone, PartialEq)]
enum Multiplier {
    One,
    /// A connection: its `first` / `last` argument (default [`DEFAULT_PAGE_SIZE`]).
    Page,
    /// A list sized by an argument (`limit`, `count`), with the argument's default.
    Arg(Name, usize),
    /// A list of at most this many items.
    Fixed(usize),
}

#[derive(Debug, Clone)]
struct FieldCost {
    /// The named type the field returns (lists and non-null stripped).
    ty: Name,
    multiplier: Multiplier,
    base: usize,
}

/// The schema's fields and what each costs, by type name.
#[derive(Debug)]
pub struct CostModel {
    /// Keyed by the schema's names (never by a document's: no one can choose what collides),
    /// looked up twice per field of every request: foldhash, not SipHash (~3 % of the
    /// instructions of a lookup by id).
    types: FastMap<Name, FastMap<Name, FieldCost>>,
    query: Name,
    mutation: Name,
    subscription: Name,
}

impl CostModel {
    /// Built from the schema's own SDL, so every field of every object and interface is known.
    pub fn from_sdl(sdl: &str) -> Self {
        let mut model = CostModel {
            query: Name::new("Query"),
            mutation: Name::new("Mutation"),
            subscription: Name::new("Subscription"),
            types: FastMap::default(),
        };
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            // Only reachable if async-graphql printed SDL it cannot read back: every field
            // then costs 1 per selection, which still bounds the walks.
            tracing::error!("cannot read the schema's own SDL: query costs use the defaults");
            return model;
        };
        for def in doc.definitions {
            let TypeSystemDefinition::Type(ty) = def else {
                continue;
            };
            let ty = ty.node;
            let fields = match ty.kind {
                TypeKind::Object(o) => o.fields,
                TypeKind::Interface(i) => i.fields,
                _ => continue,
            };
            let is_connection = ty.name.node.ends_with("Connection");
            let mut costs = FastMap::default();
            for field in fields {
                let field = field.node;
                let name = field.name.node.as_str();
                let (named, is_list) = unwrap_type(&field.ty.node.base);
                let arg_default = |arg: &str| {
                    field.arguments.iter().find_map(|a| {
                        (a.node.name.node == arg).then(|| {
                            a.node
                                .default_value
                                .as_ref()
                                .and_then(|v| match &v.node {
                                    Value::Number(n) => n.as_u64(),
                                    _ => None,
                                })
                                .map_or(DEFAULT_PAGE_SIZE as usize, |n| n as usize)
                        })
                    })
                };
                let multiplier = if arg_default("first").is_some() {
                    Multiplier::Page
                } else if !is_list || is_connection {
                    // `edges` / `nodes` hold the page their connection already counted.
                    Multiplier::One
                } else if let Some(d) = arg_default("limit") {
                    Multiplier::Arg(Name::new("limit"), d)
                } else if let Some(d) = arg_default("count") {
                    Multiplier::Arg(Name::new("count"), d)
                } else if let Some((_, n)) = DAY_LIST_FIELDS.iter().find(|(f, _)| *f == name) {
                    Multiplier::Fixed(*n)
                } else {
                    Multiplier::Fixed(LIST_BOUND)
                };
                let base = if LARGE_TEXT_FIELDS.contains(&name) {
                    LARGE_TEXT_COST
                } else {
                    1
                };
                costs.insert(
                    field.name.node.clone(),
                    FieldCost {
                        ty: named.clone(),
                        multiplier,
                        base,
                    },
                );
            }
            model.types.insert(ty.name.node, costs);
        }
        model
    }

    fn field(&self, ty: Option<&Name>, name: &str) -> Option<&FieldCost> {
        self.types.get(ty?)?.get(name)
    }
}

fn unwrap_type(base: &BaseType) -> (&Name, bool) {
    match base {
        BaseType::Named(n) => (n, false),
        BaseType::List(inner) => (unwrap_type(&inner.base).0, true),
    }
}

/// Refuse text whose brackets nest deeper than [`MAX_NESTING`], before the parser recurses
/// into it. Strings, block strings and comments are skipped as the GraphQL lexer does.
pub fn check_text(text: &str) -> ServerResult<()> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(coded(
                        "QUERY_TOO_DEEP",
                        format!(
                            "the document nests brackets more than {MAX_NESTING} levels deep \
                             (field nesting is limited to {MAX_DEPTH})"
                        ),
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// What one selection set expands to, counted through its fragments.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Measure {
    /// Deepest field nesting.
    depth: usize,
    /// Aliases, counted once per place a fragment is spread.
    aliases: usize,
    /// Fields, fragment spreads and inline fragments after expanding every spread: what the
    /// validation rules and the recursion-depth check of async-graphql walk.
    selections: usize,
    /// The cost budget: fields, multiplied by page sizes.
    cost: usize,
}

impl Measure {
    fn add(&mut self, other: Measure) {
        self.depth = self.depth.max(other.depth);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.selections = self.selections.saturating_add(other.selections);
        self.cost = self.cost.saturating_add(other.cost);
    }
}

/// The verdict on a document that passed: what its operation costs against the budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Analysis {
    pub cost: usize,
}

/// Measure `doc` (every fragment once), refuse fragment cycles and documents over the depth,
/// alias and size limits, and return the cost of the operation that will run. With
/// `read_only` (GET), only queries pass.
pub fn analyse(
    model: &CostModel,
    doc: &ExecutableDocument,
    variables: &Variables,
    operation_name: Option<&str>,
    read_only: bool,
) -> ServerResult<Analysis> {
    let order = fragment_order(doc)?;
    let walker = Walker { model, variables };
    let mut memo: HashMap<&Name, Measure> = HashMap::with_capacity(order.len());
    let mut total = Measure::default();
    for name in order {
        let fragment = &doc.fragments[name];
        let on = &fragment.node.type_condition.node.on.node;
        let m = walker.set(&fragment.node.selection_set.node, Some(on), 1, &memo, false)?;
        total.add(m);
        memo.insert(name, m);
    }
    let mut cost = 0;
    for (name, op) in doc.operations.iter() {
        let op = &op.node;
        if read_only && op.ty != OperationType::Query {
            return Err(coded(
                "METHOD_NOT_ALLOWED",
                "only queries may be sent with GET; send mutations with POST",
            ));
        }
        let root = match op.ty {
            OperationType::Query => &model.query,
            OperationType::Mutation => &model.mutation,
            OperationType::Subscription => &model.subscription,
        };
        let m = walker.set(&op.selection_set.node, Some(root), 1, &memo, true)?;
        if m.depth > MAX_DEPTH {
            return Err(coded(
                "QUERY_TOO_DEEP",
                format!("query nested more than {MAX_DEPTH} levels deep (limit {MAX_DEPTH})"),
            ));
        }
        if m.aliases > MAX_ALIASES {
            return Err(coded(
                "TOO_MANY_ALIASES",
                format!(
                    "query uses {} aliases (each fragment counted where it is spread); the \
                     limit is {MAX_ALIASES}",
                    m.aliases
                ),
            ));
        }
        total.add(m);
        let selected = match (operation_name, name) {
            (Some(wanted), Some(name)) => wanted == name.as_str(),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if selected {
            cost = cost.max(m.cost);
        }
    }
    if total.selections > MAX_DOCUMENT_SELECTIONS {
        return Err(too_complex(format!(
            "the document expands to more than {MAX_DOCUMENT_SELECTIONS} selections once its \
             fragments are spread; the limit is {MAX_DOCUMENT_SELECTIONS}"
        )));
    }
    if cost > MAX_COMPLEXITY {
        return Err(too_complex_cost(cost));
    }
    Ok(Analysis { cost })
}

/// Refuse a NUL (U+0000) in any string the request carries — argument literals, directive
/// arguments and variables, keys included. No field of ours has a use for one, and PostgreSQL
/// refuses it in `text` and `jsonb`: one in a schedule's name was an `INTERNAL` error there
/// and a success on SQLite. Both walks use explicit stacks (values nest without limit in
/// variables).
pub fn refuse_nul(doc: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    let refuse = || {
        Err(coded(
            "BAD_USER_INPUT",
            "text may not contain the NUL character (U+0000)",
        ))
    };
    let mut values: Vec<&async_graphql::Value> = variables.values().collect();
    if variables.keys().any(|k| k.contains('\0')) {
        return refuse();
    }
    while let Some(v) = values.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return refuse(),
            Value::List(items) => values.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return refuse();
                }
                values.extend(map.values());
            }
            _ => {}
        }
    }
    let mut sets: Vec<&SelectionSet> = doc
        .fragments
        .values()
        .map(|f| &f.node.selection_set.node)
        .chain(
            doc.operations
                .iter()
                .map(|(_, op)| &op.node.selection_set.node),
        )
        .collect();
    let mut literals = Vec::new();
    while let Some(set) = sets.pop() {
        for item in &set.items {
            for d in item.node.directives() {
                literals.extend(d.node.arguments.iter().map(|(_, v)| &v.node));
            }
            match &item.node {
                Selection::Field(f) => {
                    literals.extend(f.node.arguments.iter().map(|(_, v)| &v.node));
                    sets.push(&f.node.selection_set.node);
                }
                Selection::InlineFragment(i) => sets.push(&i.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    while let Some(v) = literals.pop() {
        match v {
            AstValue::String(s) if s.contains('\0') => return refuse(),
            AstValue::List(items) => literals.extend(items),
            AstValue::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return refuse();
                }
                literals.extend(map.values());
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn too_complex(message: String) -> ServerError {
    coded("QUERY_TOO_COMPLEX", message)
}

/// The error for a cost over the budget (one operation, or a batch's sum).
pub(crate) fn too_complex_cost(cost: usize) -> ServerError {
    let shown = if cost == usize::MAX {
        "more than can be counted".to_owned()
    } else {
        cost.to_string()
    };
    too_complex(format!(
        "query complexity {shown} exceeds the limit of {MAX_COMPLEXITY}: ask for smaller pages \
         (`first`) or fewer fields (a connection costs its page size times what is selected \
         under it; a batch or WebSocket message shares one budget)"
    ))
}

/// The fragments in dependency order (a fragment after every fragment it spreads), found
/// with an explicit stack; a cycle is a validation error, as in async-graphql's own rule.
fn fragment_order(doc: &ExecutableDocument) -> ServerResult<Vec<&Name>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Open,
        Done,
    }
    let mut state: HashMap<&Name, State> = HashMap::with_capacity(doc.fragments.len());
    let mut order = Vec::with_capacity(doc.fragments.len());
    // Spreads of each fragment, collected once.
    let mut spreads: HashMap<&Name, Vec<&Name>> = HashMap::with_capacity(doc.fragments.len());
    for (name, fragment) in &doc.fragments {
        let mut out = Vec::new();
        collect_spreads(&fragment.node.selection_set.node, &mut out, 1)?;
        out.retain(|s| doc.fragments.contains_key(*s));
        spreads.insert(name, out);
    }
    for start in doc.fragments.keys() {
        if state.contains_key(start) {
            continue;
        }
        // (fragment, index of the next spread to follow)
        let mut stack: Vec<(&Name, usize)> = vec![(start, 0)];
        state.insert(start, State::Open);
        while let Some((name, next)) = stack.last_mut() {
            let children = &spreads[*name];
            if let Some(&child) = children.get(*next) {
                *next += 1;
                match state.get(child) {
                    Some(State::Done) => {}
                    Some(State::Open) => {
                        let via: Vec<&str> = stack
                            .iter()
                            .skip_while(|(n, _)| *n != child)
                            .map(|(n, _)| n.as_str())
                            .collect();
                        return Err(coded(
                            "GRAPHQL_VALIDATION_FAILED",
                            format!(
                                "Cannot spread fragment \"{child}\" within itself (via \"{}\")",
                                via.join("\" → \"")
                            ),
                        ));
                    }
                    None => {
                        state.insert(child, State::Open);
                        stack.push((child, 0));
                    }
                }
            } else {
                let name = *name;
                state.insert(name, State::Done);
                order.push(name);
                stack.pop();
            }
        }
    }
    Ok(order)
}

fn collect_spreads<'a>(
    set: &'a SelectionSet,
    out: &mut Vec<&'a Name>,
    level: usize,
) -> ServerResult<()> {
    nesting_guard(level)?;
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => collect_spreads(&f.node.selection_set.node, out, level + 1)?,
            Selection::InlineFragment(i) => {
                collect_spreads(&i.node.selection_set.node, out, level + 1)?
            }
            Selection::FragmentSpread(s) => out.push(&s.node.fragment_name.node),
        }
    }
    Ok(())
}

fn nesting_guard(level: usize) -> ServerResult<()> {
    if level > MAX_NESTING {
        Err(coded(
            "QUERY_TOO_DEEP",
            format!("selection sets nest more than {MAX_NESTING} levels deep"),
        ))
    } else {
        Ok(())
    }
}

struct Walker<'a> {
    model: &'a CostModel,
    variables: &'a Variables,
}

impl Walker<'_> {
    /// Measure one selection set on type `ty` (unknown types and fields cost 1 per field;
    /// validation rejects them later). `root`: the operation's own selection set, where
    /// introspection (`__schema`, `__type`) is exempt from the depth limit — GraphiQL's
    /// introspection query is 13 deep — but not from the cost.
    fn set(
        &self,
        set: &SelectionSet,
        ty: Option<&Name>,
        level: usize,
        memo: &HashMap<&Name, Measure>,
        root: bool,
    ) -> ServerResult<Measure> {
        nesting_guard(level)?;
        let mut total = Measure::default();
        for item in &set.items {
            let directives = item.node.directives().len();
            let mut m = match &item.node {
                Selection::Field(f) => {
                    let mut m = self.field(&f.node, ty, level, memo)?;
                    let name = f.node.name.node.as_str();
                    if root && (name == "__schema" || name == "__type") {
                        m.depth = 0;
                    }
                    m
                }
                Selection::InlineFragment(i) => {
                    let on = i.node.type_condition.as_ref().map(|c| &c.node.on.node);
                    let mut m =
                        self.set(&i.node.selection_set.node, on.or(ty), level + 1, memo, root)?;
                    m.selections = m.selections.saturating_add(1);
                    m
                }
                Selection::FragmentSpread(s) => {
                    let mut m = memo
                        .get(&s.node.fragment_name.node)
                        .copied()
                        .unwrap_or_default();
                    m.selections = m.selections.saturating_add(1);
                    m
                }
            };
            m.cost = m.cost.saturating_add(directives);
            total.add(m);
        }
        Ok(total)
    }

    fn field(
        &self,
        field: &Field,
        parent: Option<&Name>,
        level: usize,
        memo: &HashMap<&Name, Measure>,
    ) -> ServerResult<Measure> {
        let spec = self.model.field(parent, field.name.node.as_str());
        let child_ty = spec.map(|s| &s.ty);
        let children = if field.selection_set.node.items.is_empty() {
            Measure::default()
        } else {
            self.set(&field.selection_set.node, child_ty, level + 1, memo, false)?
        };
        let (base, times) = match spec {
            Some(s) => (s.base, self.multiplier(&s.multiplier, field)),
            None => (1, 1),
        };
        Ok(Measure {
            depth: children.depth + 1,
            aliases: children
                .aliases
                .saturating_add(usize::from(field.alias.is_some())),
            selections: children.selections.saturating_add(1),
            cost: base.saturating_add(times.saturating_mul(children.cost)),
        })
    }

    fn multiplier(&self, m: &Multiplier, field: &Field) -> usize {
        match m {
            Multiplier::One => 1,
            Multiplier::Fixed(n) => *n,
            Multiplier::Page => self
                .int_arg(field, "first")
                .or_else(|| self.int_arg(field, "last"))
                .map_or(DEFAULT_PAGE_SIZE as usize, |n| {
                    n.clamp(1, MAX_PAGE_SIZE as i64) as usize
                }),
            Multiplier::Arg(name, default) => self
                .int_arg(field, name.as_str())
                .map_or(*default, |n| n.clamp(1, MAX_PAGE_SIZE as i64) as usize),
        }
    }

    /// An integer argument, given literally or through a variable.
    fn int_arg(&self, field: &Field, name: &str) -> Option<i64> {
        // Only integers matter here; anything else (or a missing variable) takes the
        // default, and validation reports the wrong type later.
        let value = field.get_argument(name)?.node.clone();
        match value.into_const_with(|v| self.variables.get(&v).cloned().ok_or(())) {
            Ok(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn model() -> CostModel {
        CostModel::from_sdl(&crate::graphql::sdl())
    }

    fn run(q: &str) -> ServerResult<Analysis> {
        run_with(q, Variables::default())
    }

    fn run_with(q: &str, vars: Variables) -> ServerResult<Analysis> {
        check_text(q)?;
        let doc = async_graphql::parser::parse_query(q).map_err(ServerError::from)?;
        analyse(&model(), &doc, &vars, None, false)
    }

    fn code(r: ServerResult<Analysis>) -> String {
        let err = r.unwrap_err();
        match err.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(s)) => s.clone(),
            other => panic!("no code on {:?}: {other:?}", err.message),
        }
    }

    #[test]
    fn fragment_cycles_are_refused_before_any_walk() {
        let q = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        let err = run(q).unwrap_err();
        assert!(err.message.contains("within itself"), "{}", err.message);
        assert_eq!(code(run(q)), "GRAPHQL_VALIDATION_FAILED");
        // A self-spread, and a cycle far from the operation.
        assert_eq!(
            code(run("{ health { status } } fragment S on Query { ...S }")),
            "GRAPHQL_VALIDATION_FAILED"
        );
    }

    #[test]
    fn a_long_fragment_chain_is_ordered_without_recursion() {
        // 20,000 fragments in a chain: a recursive walk of the fragment graph would need
        // 20,000 frames; the explicit stack does not care. Expanded, the chain holds
        // 200 million selections: refused, quickly.
        let chain = |n: usize| {
            let mut q = String::from("{ ...F0 }");
            for i in 0..n - 1 {
                q.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
            }
            q.push_str(&format!(
                " fragment F{} on Query {{ health {{ status }} }}",
                n - 1
            ));
            async_graphql::parser::parse_query(&q).unwrap()
        };
        let (doc, model) = (chain(20_000), model());
        let started = Instant::now();
        let err = analyse(&model, &doc, &Variables::default(), None, false).unwrap_err();
        assert!(err.message.contains("selections"), "{}", err.message);
        // Linear: milliseconds even in a debug build; the bound only has to tell "linear"
        // from "quadratic" on a noisy machine.
        assert!(started.elapsed() < Duration::from_secs(5));
        // A short chain is fine.
        let ok = analyse(&model, &chain(5), &Variables::default(), None, false).unwrap();
        assert_eq!(ok.cost, 2);
    }

    #[test]
    fn exponential_fragment_fan_out_is_measured_in_linear_time_and_refused() {
        // Each fragment spreads the next twice: 2^60 selections once expanded.
        let mut q = String::from("{ ...F0 }");
        for i in 0..60 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        q.push_str(" fragment F60 on Query { health { status } }");
        // Expanded, this would never finish: that it answers at all is the test.
        assert_eq!(code(run(&q)), "QUERY_TOO_COMPLEX");
    }

    #[test]
    fn deep_brackets_are_refused_before_the_parser_sees_them() {
        let deep = format!("{{ a{} }}", "{ a".repeat(100_000) + &"}".repeat(100_000));
        assert_eq!(code(run(&deep)), "QUERY_TOO_DEEP");
        let list = format!("{{ a(x: {}1{}) }}", "[".repeat(200), "]".repeat(200));
        assert_eq!(code(run(&list)), "QUERY_TOO_DEEP");
        // Brackets inside strings and comments are not structure.
        let quoted = format!("{{ health {{ status }} }} # {}\n", "{".repeat(500) + "\"");
        assert!(run(&quoted).is_ok());
        let in_string = format!(
            "{{ jobPostings(filter: {{search: \"{}\"}}) {{ totalCount }} }}",
            "[".repeat(500)
        );
        assert!(run(&in_string).is_ok(), "{:?}", run(&in_string));
        let block = format!(
            "{{ jobPostings(filter: {{search: \"\"\"{}\\\"\"\" {{ \"\"\"}}) {{ totalCount }} }}",
            "(".repeat(500)
        );
        assert!(run(&block).is_ok(), "{:?}", run(&block));
    }

    #[test]
    fn the_parser_survives_the_deepest_nesting_allowed_on_a_small_stack() {
        // MAX_NESTING brackets must parse on far less stack than a Tokio worker has (2 MiB).
        let q = format!(
            "{{ a(x: {}1{}) }}",
            "[".repeat(MAX_NESTING - 2),
            "]".repeat(MAX_NESTING - 2)
        );
        check_text(&q).unwrap();
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || async_graphql::parser::parse_query(&q).map(|_| ()))
            .unwrap()
            .join()
            .expect("parser overflowed a 512 KiB stack")
            .unwrap();
    }

    #[test]
    fn depth_counts_through_fragments_but_not_introspection() {
        assert!(run("{ jobPostings { nodes { id } } }").is_ok());
        let deep = "{ a { a { a { a { a { a { a { a { a { a { a } } } } } } } } } } }";
        assert_eq!(code(run(deep)), "QUERY_TOO_DEEP");
        let via_fragment = "query { a { ...F } } fragment F on T { a { a { a { a { a { a { a { a { a { a } } } } } } } } } }";
        assert_eq!(code(run(via_fragment)), "QUERY_TOO_DEEP");
        let introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
        assert!(run(introspection).is_ok());
    }

    #[test]
    fn aliases_are_counted_where_fragments_are_spread() {
        let q = format!(
            "{{ {} }}",
            (0..31)
                .map(|i| format!("a{i}: health {{ status }}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(code(run(&q)), "TOO_MANY_ALIASES");
        // 8 aliases in a fragment spread 4 times are 32.
        let aliased = (0..8)
            .map(|i| format!("h{i}: health {{ status }}"))
            .collect::<Vec<_>>()
            .join(" ");
        let q = format!(
            "{{ a: jobStats {{ total }} ...F ...F ...F ...F }} fragment F on Query {{ {aliased} }}"
        );
        assert_eq!(code(run(&q)), "TOO_MANY_ALIASES");
    }

    #[test]
    fn every_list_field_multiplies_what_is_under_it() {
        let cost = |q: &str| run(q).unwrap().cost;
        // A connection: 1 + page × children.
        assert_eq!(
            cost("{ jobPostings(first: 10) { nodes { id } } }"),
            1 + 10 * 2
        );
        assert_eq!(cost("{ jobPostings { nodes { id } } }"), 1 + 20 * 2);
        // Schedules, a schedule's runs and a run's postings are connections too.
        assert_eq!(
            cost("{ schedules(first: 10) { nodes { runs(first: 9) { nodes { id } } } } }"),
            1 + 10 * (1 + (1 + 9 * 2))
        );
        assert_eq!(
            cost("{ ingestRuns(first: 50) { nodes { postings(last: 100) { nodes { id } } } } }"),
            1 + 50 * (1 + (1 + 100 * 2))
        );
        let nested = "{ schedules(first: 100) { nodes { runs(first: 100) { nodes { id } } } } }";
        assert_eq!(code(run(nested)), "QUERY_TOO_COMPLEX");
        // A list sized by an argument, and one sized by a date range.
        assert_eq!(
            cost("{ jobStats { topCompanies(limit: 50) { company count } } }"),
            1 + (1 + 50 * 2)
        );
        assert_eq!(
            cost("{ jobStats { postingsPerDay { day count } } }"),
            1 + (1 + 367 * 2)
        );
        // Page sizes from variables.
        let vars = Variables::from_json(serde_json::json!({"n": 5}));
        assert_eq!(
            run_with(
                "query($n: Int) { jobPostings(first: $n) { nodes { id } } }",
                vars
            )
            .unwrap()
            .cost,
            1 + 5 * 2
        );
    }

    #[test]
    fn large_text_fields_cost_more_than_a_scalar() {
        let plain = run("{ jobPostings(first: 100) { nodes { title } } }")
            .unwrap()
            .cost;
        let text = run("{ jobPostings(first: 100) { nodes { descriptionHtml } } }")
            .unwrap()
            .cost;
        assert_eq!(text - plain, 100 * (LARGE_TEXT_COST - 1));
        let all = "{ jobPostings(first: 100) { nodes { descriptionHtml descriptionText raw } } }";
        assert!(run(all).is_ok());
        let nested =
            "{ ingestRuns(first: 100) { nodes { postings(first: 100) { nodes { raw } } } } }";
        assert_eq!(code(run(nested)), "QUERY_TOO_COMPLEX");
    }

    #[test]
    fn a_full_page_of_postings_with_its_runs_fits_the_budget() {
        let q = "{ jobPostings(first: 100) { totalCount pageInfo { hasNextPage endCursor }
                  edges { cursor node { id databaseId source externalId url applyUrl title
                  company companyExternalId locationRaw city region country workType
                  workArrangement descriptionHtml descriptionText classification postedAt
                  expiresAt firstSeenAt lastSeenAt closedAt isOpen contentHash raw createdAt
                  updatedAt salary { text min max currency period annualMin annualMax source }
                  firstRun { id status source } lastRun { id status source } } } } }";
        let a = run(q).unwrap();
        assert!(a.cost < MAX_COMPLEXITY, "{}", a.cost);
    }

    #[test]
    fn nul_characters_are_refused_wherever_the_request_carries_them() {
        let check = |q: &str, vars: serde_json::Value| {
            let doc = async_graphql::parser::parse_query(q).unwrap();
            refuse_nul(&doc, &Variables::from_json(vars))
        };
        assert!(
            check(
                r#"{ jobPostings(filter: {search: "a b"}) { totalCount } }"#,
                serde_json::json!({})
            )
            .is_ok()
        );
        let literal = r#"mutation { createSchedule(input: {name: "a\u0000b"}) { id } }"#;
        assert!(check(literal, serde_json::json!({})).is_err());
        let in_fragment = r#"{ ...F } fragment F on Query { jobStats(filter: {companies: ["x", "\u0000"]}) { total } }"#;
        assert!(check(in_fragment, serde_json::json!({})).is_err());
        let directive = r#"{ health @skip(if: "\u0000") { status } }"#;
        assert!(check(directive, serde_json::json!({})).is_err());
        let q = "query($f: JobPostingFilter) { jobPostings(filter: $f) { totalCount } }";
        assert!(check(q, serde_json::json!({"f": {"companies": ["ok", "n\u{0}"]}})).is_err());
        assert!(check(q, serde_json::json!({"f": {"k\u{0}": 1}})).is_err());
        assert!(check(q, serde_json::json!({"f": {"companies": ["ok"]}})).is_ok());
    }

    #[test]
    fn get_refuses_mutations() {
        let doc = async_graphql::parser::parse_query("mutation { a }").unwrap();
        let err = analyse(&model(), &doc, &Variables::default(), None, true).unwrap_err();
        assert!(err.message.contains("POST"));
    }
}
