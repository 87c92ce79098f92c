//! The posting filter's two forms agree: random postings are stored in a real database (SQLite,
//! and PostgreSQL with `TEST_DATABASE_URL`), and random filters go through the SQL path (the
//! service's keyset pages and count) and through the in-memory `matches` that subscriptions use;
//! both must select the same postings.
//!
//! Seeded and reproducible: a failure names its seed and case; rerun one seed with
//! `FILTER_PROPERTY_SEED=<n> cargo test -p jobintel-api --test posting_filter`.
//!
//! `search` agrees only on words written as they are in titles and companies (the SQL form is
//! full text over descriptions too, stemmed; see `service::filter`): the generated titles and
//! companies use words no other word contains and that are no stop words, descriptions use
//! words of their own, and searches pick from the title and company words.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use entity::{RunTrigger, Source, WorkArrangement, WorkType, job_posting};
use ingest::store::{NewRun, create_run};
use jobintel::service::filter::{PostingFilter, Search, matches};
use jobintel::service::postings::{self, Columns, Order, PageRequest};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, NotSet};

const POSTINGS: usize = 150;
const CASES: usize = 300;
const PAGE: u64 = 50;

/// Title words: none contains another word of the titles, companies or descriptions.
const TITLE_WORDS: &[&str] = &[
    "rust",
    "golang",
    "kotlin",
    "python",
    "scala",
    "elixir",
    "engineer",
    "developer",
    "senior",
    "staff",
    "platform",
    "lead",
];
/// Title tokens that exercise LIKE's wildcards and escape character (never searched for).
const SPECIAL_TITLE: &[&str] = &["C++", "50%", "node_js", "back\\end"];
const COMPANIES: &[&str] = &["Acme", "Globex", "Initech", "Umbrella"];
const DESCRIPTION_WORDS: &[&str] = &["lorem", "ipsum", "dolor", "amet", "consectetur"];
/// (location as written, city, region)
const LOCATIONS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("Sydney NSW", Some("Sydney"), Some("NSW")),
    ("Melbourne VIC", Some("Melbourne"), Some("VIC")),
    ("Auckland", Some("Auckland"), None),
    ("Remote", None, None),
    ("Zürich", Some("Zürich"), Some("ZH")),
];
const COUNTRIES: &[&str] = &["AU", "NZ", "US", "CH"];
const CURRENCIES: &[&str] = &["AUD", "NZD", "USD"];
const WORK_TYPES: &[WorkType] = &[
    WorkType::FullTime,
    WorkType::PartTime,
    WorkType::Contract,
    WorkType::Casual,
];
const ARRANGEMENTS: &[WorkArrangement] = &[
    WorkArrangement::OnSite,
    WorkArrangement::Hybrid,
    WorkArrangement::Remote,
    WorkArrangement::Unknown,
];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
}

/// A time in the 60 days after [`base`], to the second or to the millisecond.
fn some_time(rng: &mut StdRng) -> DateTime<Utc> {
    let ms = rng.random_range(0..60 * 86_400 * 1000_i64);
    let ms = if rng.random_bool(0.5) {
        ms - ms % 1000
    } else {
        ms
    };
    base() + TimeDelta::milliseconds(ms)
}

/// `word` with each ASCII letter upper- or lower-cased at random.
fn any_case(rng: &mut StdRng, word: &str) -> String {
    word.chars()
        .map(|c| {
            if rng.random_bool(0.5) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// A non-empty piece of `word` (on char boundaries).
fn piece(rng: &mut StdRng, word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let start = rng.random_range(0..chars.len());
    let end = rng.random_range(start + 1..=chars.len());
    chars[start..end].iter().collect()
}

/// A random subset of `values`, never empty.
fn some_of<T: Clone>(rng: &mut StdRng, values: &[T]) -> Vec<T> {
    loop {
        let picked: Vec<T> = values
            .iter()
            .filter(|_| rng.random_bool(0.4))
            .cloned()
            .collect();
        if !picked.is_empty() {
            return picked;
        }
    }
}

fn random_posting(rng: &mut StdRng, n: usize, runs: &[i64]) -> job_posting::ActiveModel {
    let words = rng.random_range(1..=4);
    let title = (0..words)
        .map(|_| {
            let w = if rng.random_bool(0.15) {
                SPECIAL_TITLE.choose(rng).unwrap()
            } else {
                TITLE_WORDS.choose(rng).unwrap()
            };
            any_case(rng, w)
        })
        .collect::<Vec<_>>()
        .join(" ");
    let company = rng
        .random_bool(0.8)
        .then(|| COMPANIES.choose(rng).unwrap().to_string());
    let description = rng.random_bool(0.7).then(|| {
        (0..rng.random_range(3..12))
            .map(|_| *DESCRIPTION_WORDS.choose(rng).unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let location = rng
        .random_bool(0.8)
        .then(|| *LOCATIONS.choose(rng).unwrap());
    let (annual_min, annual_max) = if rng.random_bool(0.6) {
        let low = f64::from(rng.random_range(40..200_u32) * 1000);
        match rng.random_range(0..3) {
            0 => (Some(low), None),
            1 => (None, Some(low)),
            _ => (
                Some(low),
                Some(low + f64::from(rng.random_range(0..60_u32) * 1000)),
            ),
        }
    } else {
        (None, None)
    };
    let first_seen = some_time(rng);
    let last_seen = first_seen + TimeDelta::seconds(rng.random_range(0..30 * 86_400));
    let run = |rng: &mut StdRng| runs.choose(rng).copied().filter(|_| rng.random_bool(0.7));
    job_posting::ActiveModel {
        id: NotSet,
        source: Set(*Source::ALL.choose(rng).unwrap()),
        external_id: Set(format!("prop-{n}")),
        url: Set(format!("https://example.com/jobs/{n}")),
        apply_url: Set(None),
        title: Set(title),
        company: Set(company),
        company_external_id: Set(None),
        location_raw: Set(location.map(|(raw, _, _)| raw.to_owned())),
        city: Set(location.and_then(|(_, c, _)| c.map(str::to_owned))),
        region: Set(location.and_then(|(_, _, r)| r.map(str::to_owned))),
        country: Set(rng
            .random_bool(0.8)
            .then(|| COUNTRIES.choose(rng).unwrap().to_string())),
        work_type: Set(rng
            .random_bool(0.8)
            .then(|| *WORK_TYPES.choose(rng).unwrap())),
        work_arrangement: Set(*ARRANGEMENTS.choose(rng).unwrap()),
        salary_text: Set(None),
        salary_min: Set(annual_min),
        salary_max: Set(annual_max),
        salary_currency: Set(rng
            .random_bool(0.8)
            .then(|| CURRENCIES.choose(rng).unwrap().to_string())),
        salary_period: Set(None),
        salary_annual_min: Set(annual_min),
        salary_annual_max: Set(annual_max),
        salary_source: Set(None),
        description_html: Set(description.as_ref().map(|d| format!("<p>{d}</p>"))),
        description_text: Set(description),
        classification: Set(None),
        posted_at: Set(rng.random_bool(0.8).then(|| some_time(rng))),
        expires_at: Set(None),
        first_seen_at: Set(first_seen),
        last_seen_at: Set(last_seen),
        closed_at: Set(rng.random_bool(0.2).then_some(last_seen)),
        content_hash: Set(format!("h{n}")),
        raw: Set(None),
        first_run_id: Set(run(rng)),
        last_run_id: Set(run(rng)),
        created_at: Set(first_seen),
        updated_at: Set(last_seen),
        // A third joined another posting's cluster (`distinct` leaves them out).
        cluster_id: Set(rng.random_bool(0.3).then_some(1)),
        ..Default::default()
    }
}

/// A filter as `JobPostingFilter::to_service` produces them (upper-case codes, parsed search),
/// with bounds often taken from the stored postings, to land on their edges.
fn random_filter(rng: &mut StdRng, stored: &[job_posting::Model], runs: &[i64]) -> PostingFilter {
    let some_posting = |rng: &mut StdRng| stored.choose(rng).unwrap().clone();
    let mut f = PostingFilter::default();
    if rng.random_bool(0.3) {
        let words: Vec<String> = (0..rng.random_range(1..=2))
            .map(|_| {
                let w = if rng.random_bool(0.7) {
                    TITLE_WORDS.choose(rng).unwrap()
                } else {
                    COMPANIES.choose(rng).unwrap()
                };
                any_case(rng, w)
            })
            .collect();
        let sep = *[" ", ", ", " / ", "! "].choose(rng).unwrap();
        f.search = Search::parse(&words.join(sep));
    }
    if rng.random_bool(0.3) {
        f.sources = some_of(rng, Source::ALL);
    }
    if rng.random_bool(0.2) {
        let mut companies: Vec<String> = some_of(rng, COMPANIES)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if rng.random_bool(0.3) {
            companies.push("acme".into()); // exact names only: matches nothing
        }
        f.companies = companies;
    }
    if rng.random_bool(0.3) {
        let text = if rng.random_bool(0.7) {
            let word = if rng.random_bool(0.8) {
                TITLE_WORDS.choose(rng).unwrap()
            } else {
                SPECIAL_TITLE.choose(rng).unwrap()
            };
            piece(rng, word)
        } else {
            ["%", "_", "\\", "50%", "e_j", "+", "k\\e"]
                .choose(rng)
                .unwrap()
                .to_string()
        };
        f.title_contains = Some(any_case(rng, &text));
    }
    if rng.random_bool(0.25) {
        let (raw, city, region) = *LOCATIONS.choose(rng).unwrap();
        let from = *[Some(raw), city, region].choose(rng).unwrap();
        let text = piece(rng, from.unwrap_or(raw));
        f.location_contains = Some(any_case(rng, &text));
    }
    if rng.random_bool(0.2) {
        f.countries = some_of(rng, &["AU", "NZ", "US", "GB"])
            .into_iter()
            .map(str::to_owned)
            .collect();
    }
    if rng.random_bool(0.2) {
        f.work_types = some_of(rng, WORK_TYPES);
    }
    if rng.random_bool(0.2) {
        f.work_arrangements = some_of(rng, ARRANGEMENTS);
    }
    let salary_bound = |rng: &mut StdRng| {
        let p = some_posting(rng);
        match p.salary_annual_min.or(p.salary_annual_max) {
            Some(v) if rng.random_bool(0.5) => v,
            _ => f64::from(rng.random_range(30..270_u32) * 1000),
        }
    };
    if rng.random_bool(0.2) {
        f.salary_annual_min = Some(salary_bound(rng));
    }
    if rng.random_bool(0.2) {
        f.salary_annual_max = Some(salary_bound(rng));
    }
    if rng.random_bool(0.15) {
        f.salary_currency = Some(
            ["AUD", "NZD", "USD", "EUR"]
                .choose(rng)
                .unwrap()
                .to_string(),
        );
    }
    let posted_bound = |rng: &mut StdRng| match some_posting(rng).posted_at {
        Some(t) if rng.random_bool(0.5) => t,
        _ => some_time(rng),
    };
    if rng.random_bool(0.2) {
        f.posted_after = Some(posted_bound(rng));
    }
    if rng.random_bool(0.2) {
        f.posted_before = Some(posted_bound(rng));
    }
    if rng.random_bool(0.15) {
        f.seen_after = Some(if rng.random_bool(0.5) {
            some_posting(rng).last_seen_at
        } else {
            some_time(rng)
        });
    }
    if rng.random_bool(0.2) {
        f.open = Some(rng.random_bool(0.5));
    }
    if rng.random_bool(0.2) {
        f.distinct = true;
    }
    if rng.random_bool(0.15) {
        let missing = runs.iter().max().unwrap() + 100;
        f.run_ids = vec![*runs.choose(rng).unwrap()];
        if rng.random_bool(0.2) {
            f.run_ids.push(*[missing, runs[0]].choose(rng).unwrap());
        }
    }
    f
}

/// Every posting the SQL path selects, walking the service's keyset pages.
async fn by_sql(db: &DatabaseConnection, f: &PostingFilter, what: &str) -> BTreeSet<i64> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = postings::page(
            db,
            PageRequest {
                filter: f,
                order: Order::default(),
                cursor: cursor.take(),
                backward: false,
                limit: PAGE,
                columns: Columns::id_only(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: page failed: {}", e.message()));
        ids.extend(page.rows.iter().map(|(m, _)| m.id));
        if !page.has_more {
            break;
        }
        cursor = page.rows.last().map(|(_, pos)| pos.clone());
    }
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "{what}: a posting on two pages");
    set
}

#[test]
fn the_vocabulary_keeps_search_to_words_both_forms_see_alike() {
    let searched: Vec<String> = TITLE_WORDS
        .iter()
        .chain(COMPANIES)
        .map(|w| w.to_lowercase())
        .collect();
    let tokens: Vec<String> = TITLE_WORDS
        .iter()
        .chain(COMPANIES)
        .chain(SPECIAL_TITLE)
        .chain(DESCRIPTION_WORDS)
        .map(|w| w.to_lowercase())
        .collect();
    for s in &searched {
        for t in &tokens {
            assert!(s == t || !t.contains(s.as_str()), "`{t}` contains `{s}`");
        }
    }
}

#[tokio::test]
async fn sql_and_in_memory_filters_select_the_same_postings() {
    let seed: u64 = std::env::var("FILTER_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f11e);
    for db in testkit::databases("posting_filter").await {
        let conn = &db.conn;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut runs = Vec::new();
        for _ in 0..4 {
            let new = NewRun::manual(Source::Seek, Default::default(), RunTrigger::Manual);
            runs.push(create_run(conn, new).await.unwrap().id);
        }
        let postings: Vec<_> = (0..POSTINGS)
            .map(|n| random_posting(&mut rng, n, &runs))
            .collect();
        job_posting::Entity::insert_many(postings)
            .exec_without_returning(conn)
            .await
            .unwrap();
        // `matches` sees the postings as stored (PostgreSQL keeps microseconds).
        let stored = job_posting::Entity::find().all(conn).await.unwrap();
        let mut nonempty = 0;
        for case in 0..CASES {
            // PostgreSQL: the first half while the postings wait to be indexed for full text
            // (searches read the view), the second half once they are (searches read the index).
            if case == CASES / 2 {
                ingest::search_index::refresh_all(conn).await.unwrap();
            }
            let f = random_filter(&mut rng, &stored, &runs);
            let what = format!("{:?}, seed {seed}, case {case}: {f:?}", db.backend);
            let want: BTreeSet<i64> = stored
                .iter()
                .filter(|p| matches(&f, p))
                .map(|p| p.id)
                .collect();
            let got = by_sql(conn, &f, &what).await;
            if got != want {
                let show = |ids: BTreeSet<i64>| -> Vec<job_posting::Model> {
                    stored
                        .iter()
                        .filter(|p| ids.contains(&p.id))
                        .cloned()
                        .collect()
                };
                panic!(
                    "{what}\nonly SQL: {:#?}\nonly matches: {:#?}",
                    show(got.difference(&want).copied().collect()),
                    show(want.difference(&got).copied().collect()),
                );
            }
            let count = postings::count(conn, &f).await.unwrap();
            assert_eq!(count as usize, want.len(), "{what}: count");
            nonempty += usize::from(!want.is_empty() && want.len() < stored.len());
        }
        // The generator is worth something only if most filters select some but not all.
        assert!(
            nonempty > CASES / 3,
            "{:?}: {nonempty} selective filters",
            db.backend
        );
    }
}
