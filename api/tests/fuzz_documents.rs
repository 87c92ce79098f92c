//! Generated GraphQL documents through the whole request path — HTTP body, parse cache,
//! document limits, validation, execution — against a real database, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL. Asserts that no document crashes the server (a panic or
//! a stack overflow would end this test process), that every request is answered in GraphQL's
//! shape within a time bound, and that the server still serves afterwards.
//!
//! The generator knows the schema's shape, so most documents get past validation and run:
//! fragments (shared, chained, doubling, cyclic, undefined), deep nesting, aliases,
//! directives, variables of right and wrong types, literal values of every kind, batches,
//! GET, and text corrupted after generation.
//!
//! CI runs a short bounded pass. A longer run, with a fixed seed to reproduce a failure:
//!
//! ```sh
//! JOBINTEL_FUZZ_CASES=20000 JOBINTEL_FUZZ_SEED=7 \
//!   cargo test --release -p jobintel-api --test fuzz_documents -- --nocapture
//! ```

mod support;

use std::time::{Duration, Instant};

use jobintel::state::AppState;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// No document may take longer than this to answer (the machine is shared and noisy: the
/// point is "bounded", not "fast"; the longest is printed).
const TIME_BOUND: Duration = Duration::from_secs(3);

/// `(field, returned type or "" for a scalar, arguments)` by type: the schema's shape.
fn fields(ty: &str) -> &'static [(&'static str, &'static str, &'static [&'static str])] {
    match ty {
        "Query" => &[
            ("health", "Health", &[]),
            (
                "jobPostings",
                "JobPostingConnection",
                &["first", "last", "after", "before", "filter", "orderBy"],
            ),
            ("jobPosting", "JobPosting", &["id"]),
            ("node", "Node", &["id"]),
            ("jobStats", "JobStats", &["filter"]),
            (
                "ingestRuns",
                "IngestRunConnection",
                &["first", "after", "filter"],
            ),
            ("ingestRun", "IngestRun", &["id"]),
            (
                "schedules",
                "ScheduleConnection",
                &["first", "after", "enabled"],
            ),
            ("schedule", "Schedule", &["id"]),
            ("sources", "SourceInfo", &[]),
        ],
        "Mutation" => &[
            ("cancelIngestRun", "IngestRun", &["id"]),
            ("deleteSchedule", "", &["id"]),
            ("pauseSchedule", "Schedule", &["id"]),
            ("resumeSchedule", "Schedule", &["id"]),
            ("createSchedule", "Schedule", &["input"]),
        ],
        "Subscription" => &[
            ("jobPostingAdded", "JobPosting", &["filter"]),
            ("ingestRunEvents", "IngestRunEvent", &["runId", "sources"]),
        ],
        "Health" => &[
            ("status", "", &[]),
            ("database", "", &[]),
            ("jobCount", "", &[]),
            ("version", "", &[]),
            ("sources", "", &[]),
        ],
        "JobPostingConnection" => &[
            ("totalCount", "", &[]),
            ("edges", "JobPostingEdge", &[]),
            ("nodes", "JobPosting", &[]),
            ("pageInfo", "PageInfo", &[]),
        ],
        "JobPostingEdge" => &[("cursor", "", &[]), ("node", "JobPosting", &[])],
        "PageInfo" => &[
            ("hasNextPage", "", &[]),
            ("hasPreviousPage", "", &[]),
            ("startCursor", "", &[]),
            ("endCursor", "", &[]),
        ],
        "Node" => &[("id", "", &[])],
        "JobPosting" => &[
            ("id", "", &[]),
            ("title", "", &[]),
            ("company", "", &[]),
            ("url", "", &[]),
            ("descriptionHtml", "", &[]),
            ("descriptionText", "", &[]),
            ("raw", "", &[]),
            ("salary", "Salary", &[]),
            ("firstRun", "IngestRun", &[]),
            ("lastRun", "IngestRun", &[]),
        ],
        "Salary" => &[
            ("min", "", &[]),
            ("max", "", &[]),
            ("currency", "", &[]),
            ("annualMin", "", &[]),
        ],
        "IngestRun" => &[
            ("id", "", &[]),
            ("status", "", &[]),
            ("source", "", &[]),
            ("error", "", &[]),
            (
                "postings",
                "JobPostingConnection",
                &["first", "last", "filter"],
            ),
        ],
        "IngestRunConnection" => &[
            ("edges", "IngestRunEdge", &[]),
            ("nodes", "IngestRun", &[]),
            ("pageInfo", "PageInfo", &[]),
        ],
        "IngestRunEdge" => &[("cursor", "", &[]), ("node", "IngestRun", &[])],
        "IngestRunEvent" => &[
            ("kind", "", &[]),
            ("runId", "", &[]),
            ("jobsNew", "", &[]),
            ("run", "IngestRun", &[]),
        ],
        "ScheduleConnection" => &[("nodes", "Schedule", &[]), ("pageInfo", "PageInfo", &[])],
        "Schedule" => &[
            ("id", "", &[]),
            ("name", "", &[]),
            ("cron", "", &[]),
            ("upcomingFires", "", &["count"]),
            ("runs", "ScheduleRunConnection", &["first"]),
            ("lastRun", "IngestRun", &[]),
        ],
        "ScheduleRunConnection" => &[("nodes", "IngestRun", &[])],
        "JobStats" => &[
            ("total", "", &[]),
            ("open", "", &[]),
            ("bySource", "SourceCount", &[]),
            ("topCompanies", "CompanyCount", &["limit"]),
            ("postingsPerDay", "DayCount", &["from", "to"]),
            ("salary", "SalaryStats", &[]),
        ],
        "SourceCount" => &[("source", "", &[]), ("count", "", &[])],
        "CompanyCount" => &[("company", "", &[]), ("count", "", &[])],
        "DayCount" => &[("date", "", &[]), ("count", "", &[])],
        "SalaryStats" => &[
            ("currency", "", &[]),
            ("count", "", &[]),
            ("median", "", &[]),
        ],
        "SourceInfo" => &[("name", "", &[]), ("params", "SourceParam", &[])],
        "SourceParam" => &[("name", "", &[]), ("required", "", &[])],
        _ => &[("id", "", &[]), ("nope", "", &[])],
    }
}

const TYPES: &[&str] = &[
    "Query",
    "JobPosting",
    "IngestRun",
    "JobPostingConnection",
    "Schedule",
    "JobStats",
    "Node",
    "Nope",
];

struct Gen {
    rng: StdRng,
    fragments: Vec<(String, &'static str)>,
    variables: Vec<(String, &'static str)>,
    aliases: usize,
    /// Half the documents are hostile or broken on purpose; the other half are valid, so
    /// that they get past validation and execute.
    wild: bool,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A chance taken only in a wild document.
    fn wild(&mut self, p: f64) -> bool {
        self.wild && self.rng.random_bool(p)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn int(&mut self) -> String {
        self.pick(&[
            "0",
            "1",
            "5",
            "20",
            "100",
            "101",
            "-1",
            "2147483647",
            "-2147483648",
            "99999999999999999999",
            "1.5",
        ])
        .to_owned()
    }

    fn string(&mut self) -> String {
        self.pick(&[
            r#""""#,
            r#""rust engineer""#,
            r#""\u0000""#,
            r#""ü 日本 \n \" \\""#,
            r#""""block "string" \""" """"#,
            r#""AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA""#,
            r#""' OR 1=1 --""#,
            r#""%_%""#,
            r#""Sm9iUG9zdGluZzox""#,
            r#""0 */6 * * *""#,
            r#""61 * * * *""#,
            r#""Australia/Sydney""#,
            r#""Not/AZone""#,
        ])
        .to_owned()
    }

    /// A literal value, nested at most `depth` more levels.
    fn value(&mut self, depth: usize) -> String {
        let choice = if depth == 0 {
            self.rng.random_range(0..5)
        } else {
            self.rng.random_range(0..8)
        };
        match choice {
            0 => self.int(),
            1 => self.string(),
            2 => self
                .pick(&["true", "false", "null", "GREENHOUSE", "SEEK", "NOPE"])
                .into(),
            3 if !self.variables.is_empty() => {
                let (name, _) =
                    self.variables[self.rng.random_range(0..self.variables.len())].clone();
                format!("${name}")
            }
            3 | 4 => self.string(),
            5 => {
                let n = self.rng.random_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.value(depth - 1)).collect();
                format!("[{}]", items.join(", "))
            }
            _ => {
                let n = self.rng.random_range(0..4);
                let keys = [
                    "search",
                    "sources",
                    "companies",
                    "titleContains",
                    "salaryAnnualMin",
                    "open",
                    "field",
                    "direction",
                    "name",
                    "source",
                    "cron",
                    "timeZone",
                    "keywords",
                    "nope",
                ];
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        let k = self.pick(&keys);
                        format!("{k}: {}", self.value(depth - 1))
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
        }
    }

    fn argument(&mut self, name: &str) -> String {
        // Mostly well-typed, so that most documents run; sometimes anything at all.
        let wild = self.wild(0.2);
        let value = match name {
            "first" | "last" | "limit" | "count" if !wild => {
                if self.wild(0.3) {
                    self.int()
                } else {
                    self.rng.random_range(0..30).to_string()
                }
            }
            "filter" if !wild => self
                .pick(&[
                    "{}",
                    r#"{search: "engineer"}"#,
                    r#"{search: "\u0000 ' OR 1=1 -- %_", open: true}"#,
                    r#"{sources: [GREENHOUSE, SEEK], companies: ["Acme"]}"#,
                    r#"{titleContains: "%", locationContains: "_", countries: ["AU"]}"#,
                    r#"{salaryAnnualMin: 100000, salaryAnnualMax: 1e300}"#,
                    r#"{postedAfter: "2026-01-01T00:00:00Z", seenAfter: "not a date"}"#,
                    r#"{sources: [LEVER], workTypes: [FULL_TIME]}"#,
                ])
                .to_owned(),
            "orderBy" if !wild => self
                .pick(&[
                    "{field: RELEVANCE}",
                    "{field: TITLE, direction: ASC}",
                    "{field: SALARY_ANNUAL_MAX}",
                ])
                .to_owned(),
            "after" | "before" if !wild => self
                .pick(&[r#""""#, r#""Zm9v""#, r#""aWQ6MQ""#, r#""!!!""#])
                .to_owned(),
            "enabled" if !wild => "true".into(),
            "from" | "to" if !wild => self
                .pick(&[r#""2026-01-01""#, r#""1900-01-01""#, r#""9999-12-31""#])
                .to_owned(),
            "input" if !wild => format!(
                "{{name: {}, source: GREENHOUSE, target: \"acme\", cron: {}, timeZone: {}}}",
                self.string(),
                self.pick(&[
                    r#""0 */6 * * *""#,
                    r#""61 * * * *""#,
                    r#""* * * * * * * *""#,
                    r#""0 0 31 2 *""#,
                    r#""@yearly""#
                ]),
                self.pick(&[r#""UTC""#, r#""Australia/Sydney""#, r#""Not/AZone""#]),
            ),
            "id" | "runId" if self.chance(0.7) => self
                .pick(&[
                    "\"1\"",
                    "\"Sm9iUG9zdGluZzox\"",
                    "\"SW5nZXN0UnVuOjE=\"",
                    "\"-5\"",
                ])
                .into(),
            _ => {
                let depth = self.rng.random_range(0..4);
                self.value(depth)
            }
        };
        format!("{name}: {value}")
    }

    fn directives(&mut self) -> String {
        let mut out = String::new();
        while self.chance(0.06) {
            let d = self.pick(&[
                "@skip(if: true)",
                "@skip(if: false)",
                "@include(if: false)",
                "@include(if: $flag)",
                "@nope(x: 1)",
            ]);
            if d.starts_with("@nope") && !self.wild {
                continue;
            }
            out.push(' ');
            out.push_str(d);
        }
        out
    }

    /// A selection set on `ty`, nested at most `depth` more levels.
    fn selection(&mut self, ty: &'static str, depth: usize) -> String {
        let n = self.rng.random_range(1..5);
        let mut items = Vec::new();
        for _ in 0..n {
            let roll = self.rng.random_range(0..100);
            if roll < 10 && !self.fragments.is_empty() {
                let (name, on) =
                    self.fragments[self.rng.random_range(0..self.fragments.len())].clone();
                if on != ty && !self.wild {
                    continue;
                }
                let times = if self.chance(0.2) { 3 } else { 1 };
                for _ in 0..times {
                    items.push(format!("...{name}{}", self.directives()));
                }
                continue;
            }
            if roll == 10 && self.wild {
                items.push(format!("...Undefined{}", self.rng.random_range(0..3)));
                continue;
            }
            if roll < 16 && depth > 0 {
                let on = if ty == "Node" {
                    self.pick(&["JobPosting", "IngestRun"])
                } else if !self.wild || self.chance(0.8) {
                    ty
                } else {
                    self.pick(&["JobPosting", "IngestRun", "Query", "Nope"])
                };
                let body = self.selection(on, depth - 1);
                items.push(format!("... on {on}{} {body}", self.directives()));
                continue;
            }
            if roll < 23 {
                items.push("__typename".into());
                continue;
            }
            let (name, child, args) = self.pick(fields(ty));
            let mut field = String::new();
            // Same-named fields with different arguments must be aliased apart.
            if !args.is_empty() || self.chance(0.1) {
                self.aliases += 1;
                field.push_str(&format!("a{}: ", self.aliases));
            }
            field.push_str(if self.wild(0.01) { "nope" } else { name });
            let mut given = Vec::new();
            for a in args {
                let required = matches!(*a, "id" | "input");
                if (required && self.chance(0.97)) || self.chance(0.5) {
                    given.push(self.argument(a));
                }
            }
            if !given.is_empty() {
                field.push_str(&format!("({})", given.join(", ")));
            }
            field.push_str(&self.directives());
            if !child.is_empty() {
                if depth == 0 {
                    field.push_str(" { __typename }");
                } else {
                    let body = self.selection(child, depth - 1);
                    field.push(' ');
                    field.push_str(&body);
                }
            }
            items.push(field);
        }
        format!("{{ {} }}", items.join(" "))
    }

    fn document(&mut self) -> (String, Value, Option<String>) {
        self.fragments.clear();
        self.variables.clear();
        self.wild = self.chance(0.5);
        let mut vars = serde_json::Map::new();
        for i in 0..self.rng.random_range(0..3) {
            let ty = self.pick(&["Int", "String", "Boolean", "JobPostingFilter", "[Source!]"]);
            let name = format!("v{i}");
            let value = match self.rng.random_range(0..5) {
                0 => json!(5),
                1 => json!("x"),
                2 => json!({"search": "rust", "nope": [1, 2]}),
                3 => json!(null),
                _ => json!([true, {"a": []}]),
            };
            vars.insert(name.clone(), value);
            self.variables.push((name, ty));
        }
        vars.insert("flag".into(), json!(self.chance(0.5)));
        self.variables.push(("flag".into(), "Boolean"));
        let mut defs = Vec::new();
        // Fragments: some on others (a DAG), some doubling chains, some cycles.
        let nfrag = self.rng.random_range(0..6);
        for i in 0..nfrag {
            let on = if !self.wild || self.chance(0.7) {
                "Query"
            } else {
                self.pick(TYPES)
            };
            let depth = self.rng.random_range(0..4);
            let body = self.selection(on, depth);
            defs.push(format!("fragment F{i} on {on} {body}"));
            self.fragments.push((format!("F{i}"), on));
        }
        if self.wild(0.2) {
            let n = self.rng.random_range(2..40);
            for i in 0..n {
                defs.push(format!(
                    "fragment D{i} on Query {{ ...D{j} ...D{j} }}",
                    j = i + 1
                ));
            }
            defs.push(format!("fragment D{n} on Query {{ health {{ status }} }}"));
            self.fragments.push(("D0".into(), "Query"));
        }
        if self.wild(0.1) {
            defs.push("fragment C0 on Query { ...C1 } fragment C1 on Query { ...C0 }".into());
            self.fragments.push(("C0".into(), "Query"));
        }
        let nops = if self.chance(0.15) { 2 } else { 1 };
        let mut op_name = None;
        for k in 0..nops {
            let (kw, root) = match self.rng.random_range(0..10) {
                0 => ("mutation", "Mutation"),
                1 => ("subscription", "Subscription"),
                _ => ("query", "Query"),
            };
            let depth = self.rng.random_range(1..6);
            let body = self.selection(root, depth);
            // Declared once the document is final: see below.
            let var_defs = "__VARS__";
            let name = if nops > 1 || self.chance(0.3) {
                let n = format!("Op{k}");
                op_name = Some(n.clone());
                format!(" {n}")
            } else {
                String::new()
            };
            defs.push(format!("{kw}{name}{var_defs} {body}"));
        }
        // Deliberately deep nesting, sometimes past every limit.
        if self.wild(0.1) {
            let n = self.pick(&[9usize, 12, 63, 64, 65, 200, 5_000]);
            defs.push(format!("query Deep {}{}", "{ a ".repeat(n), "}".repeat(n)));
        }
        defs.reverse();
        // An unused fragment is a validation error: drop those nothing spreads (most of the
        // time), until none is left.
        if !self.wild(0.2) {
            loop {
                let text = defs.join("\n");
                let before = defs.len();
                defs.retain(|d| {
                    let Some(name) = d.strip_prefix("fragment ") else {
                        return true;
                    };
                    let name = name.split(' ').next().unwrap_or_default();
                    let spread = format!("...{name}");
                    text.match_indices(&spread).any(|(i, _)| {
                        !text[i + spread.len()..]
                            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    })
                });
                if defs.len() == before {
                    break;
                }
            }
        }
        let mut text = defs.join("\n");
        // Declare the variables the final text uses (an unused one is a validation error).
        let everything = self.wild(0.1);
        let var_defs: Vec<String> = self
            .variables
            .iter()
            .filter(|(n, _)| {
                everything
                    || text.match_indices(&format!("${n}")).any(|(i, _)| {
                        !text[i + n.len() + 1..].starts_with(|c: char| c.is_ascii_alphanumeric())
                    })
            })
            .map(|(n, t)| format!("${n}: {t}"))
            .collect();
        let var_defs = if var_defs.is_empty() {
            String::new()
        } else {
            format!("({})", var_defs.join(", "))
        };
        text = text.replace("__VARS__", &var_defs);
        if self.wild(0.3) {
            self.corrupt(&mut text);
        }
        if self.wild(0.2) {
            op_name = Some(self.pick(&["Op0", "Op1", "Nope", ""]).to_owned());
        }
        (text, Value::Object(vars), op_name)
    }

    fn corrupt(&mut self, text: &mut String) {
        let mut bytes = std::mem::take(text).into_bytes();
        for _ in 0..self.rng.random_range(1..4) {
            if bytes.is_empty() {
                break;
            }
            let at = self.rng.random_range(0..bytes.len());
            match self.rng.random_range(0..4) {
                0 => bytes.truncate(at),
                1 => {
                    let c = self.pick(b"{}[]()\"#.$@!:=\\\n\0");
                    bytes.insert(at, c);
                }
                2 => {
                    let end = (at + self.rng.random_range(1..40)).min(bytes.len());
                    let slice = bytes[at..end].to_vec();
                    bytes.splice(at..at, slice);
                }
                _ => {
                    bytes.remove(at);
                }
            }
        }
        *text = String::from_utf8_lossy(&bytes).into_owned();
    }
}

fn cases() -> usize {
    std::env::var("JOBINTEL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn seed() -> u64 {
    std::env::var("JOBINTEL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_documents_never_crash_or_wedge_the_server() {
    for db in testkit::databases("fuzz_documents").await {
        let seed = seed();
        let n = cases();
        eprintln!(
            "fuzz: {n} cases, JOBINTEL_FUZZ_SEED={seed} ({:?})",
            db.backend
        );
        let server =
            support::start(AppState::new(db.conn.clone(), support::test_settings()).unwrap()).await;
        let client = reqwest::Client::new();
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed),
            fragments: Vec::new(),
            variables: Vec::new(),
            aliases: 0,
            wild: false,
        };
        let mut slowest = (Duration::ZERO, String::new());
        let mut codes = std::collections::BTreeMap::<String, usize>::new();
        for case in 0..n {
            let transport = g.rng.random_range(0..10);
            let mut docs = vec![g.document()];
            if transport == 0 {
                for _ in 0..g.rng.random_range(1..12) {
                    docs.push(g.document());
                }
            }
            let body = |(q, v, op): &(String, Value, Option<String>)| json!({ "query": q, "variables": v, "operationName": op });
            let request = match transport {
                0 => client
                    .post(server.url("/graphql"))
                    .json(&Value::Array(docs.iter().map(body).collect())),
                1 => {
                    let mut url = url::Url::parse(&server.url("/graphql")).unwrap();
                    url.query_pairs_mut()
                        .append_pair("query", &docs[0].0)
                        .append_pair("variables", &docs[0].1.to_string());
                    client.get(url)
                }
                2 => client
                    .post(server.url("/graphql"))
                    .header("content-type", "application/graphql")
                    .body(docs[0].0.clone()),
                _ => client.post(server.url("/graphql")).json(&body(&docs[0])),
            };
            let started = Instant::now();
            let resp = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("case {case} (seed {seed}): no answer: {e}\n{docs:?}"));
            let status = resp.status();
            let text = resp.text().await.unwrap();
            let took = started.elapsed();
            assert!(
                !status.is_server_error(),
                "case {case} (seed {seed}): {status} {text}\n{docs:?}"
            );
            assert!(
                took < TIME_BOUND,
                "case {case} (seed {seed}) took {took:?}\n{docs:?}"
            );
            if took > slowest.0 {
                slowest = (took, docs[0].0.chars().take(300).collect());
            }
            // Every answer is GraphQL's shape (or a plain refusal of the HTTP request).
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let first = if v.is_array() { &v[0] } else { &v };
                let code = first["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or(if first["errors"].is_null() {
                        "ok"
                    } else {
                        "(none)"
                    })
                    .to_owned();
                // Every error says what it is, and none is the server's own fault.
                let entries: Vec<&Value> = match v.as_array() {
                    Some(items) => items.iter().collect(),
                    None => vec![&v],
                };
                for entry in entries {
                    for e in entry["errors"].as_array().into_iter().flatten() {
                        let c = e["extensions"]["code"].as_str();
                        assert!(
                            c.is_some() && c != Some("INTERNAL"),
                            "case {case} (seed {seed}): error {e}\n{docs:?}"
                        );
                    }
                }
                *codes.entry(code).or_default() += 1;
            } else {
                assert!(
                    status.is_client_error(),
                    "case {case} (seed {seed}): {status} not JSON: {text}"
                );
                *codes
                    .entry(format!("HTTP {}", status.as_u16()))
                    .or_default() += 1;
            }
        }
        eprintln!("fuzz: slowest {:?}: {}", slowest.0, slowest.1);
        eprintln!("fuzz: answers by code: {codes:?}");
        let v = server.gql("{ health { status } }").await;
        assert_eq!(v["data"]["health"]["status"], "ok", "{v}");
        server.stop().await;
    }
}
