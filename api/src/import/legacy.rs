//! `jobintel import legacy`: the old system's `job_postings` table (EF Core on PostgreSQL).
//!
//! The table is found by name in any spelling (`job_postings`, `"JobPostings"`), its columns
//! are matched to fields by [`Mapping`] (PascalCase or snake_case alike), and it is read in
//! keyset pages of [`BATCH`] rows on its primary key (`ctid` when it has none) inside one
//! `REPEATABLE READ, READ ONLY` transaction, on a session opened with
//! `default_transaction_read_only=on`: the import sees one snapshot, its memory stays flat,
//! and nothing it sends can write to the old database.
//!
//! Every column is read as text; date-time columns through `to_char` in UTC (a `timestamptz`
//! converted, a `timestamp` taken as UTC, as EF Core/Npgsql wrote it), so one parser
//! (`parse_datetime`) reads them all.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::Source;
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    IsolationLevel, Statement, TransactionOptions, TransactionTrait, Value,
};

use super::{
    BATCH, BadRow, Batch, BuildContext, Field, ImportError, MapFile, Mapping, Progress, RunInfo,
    Summary, Values, Writer, build_posting,
};
use crate::config::{DatabaseUrl, DbKind};

/// What `jobintel import legacy` was asked to do.
#[derive(Debug, Clone)]
pub struct LegacyOptions {
    /// The old system's PostgreSQL database.
    pub from: DatabaseUrl,
    /// The table, optionally `schema.table`; matched in any spelling.
    pub table: String,
    /// A mapping file that overrides or completes the column match.
    pub map: Option<PathBuf>,
    /// Print the mapping and sample rows; write nothing.
    pub dry_run: bool,
    /// Where bad rows are listed (default: [`super::default_report_path`]).
    pub report: Option<PathBuf>,
}

/// A column of the source table.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// `format_type` of its type (`timestamp with time zone`, `character varying(256)`, …).
    type_name: String,
}

/// The source table as found.
#[derive(Debug, Clone)]
struct Table {
    /// `"schema"."table"`, quoted.
    qualified: String,
    columns: Vec<Column>,
    /// The single-column primary key (keyset order and bad-row key); `None`: `ctid`.
    key: Option<Column>,
    /// `reltuples`, when the table has been analysed.
    estimate: Option<u64>,
}

/// Import the legacy table into `target` (`None` with `opts.dry_run`: nothing is written, not
/// even the report). `progress` shows a line on a terminal.
pub async fn import(
    target: Option<&DatabaseConnection>,
    opts: &LegacyOptions,
    progress: Progress,
) -> Result<Summary, ImportError> {
    if opts.from.kind() != DbKind::Postgres {
        return Err(ImportError::Refused(format!(
            "--from must be the old system's PostgreSQL URL (postgres://…), not {}",
            opts.from
        )));
    }
    let map = match &opts.map {
        Some(path) => MapFile::read(path)?,
        None => MapFile::default(),
    };
    let source = connect(&opts.from).await?;
    let result = read_and_store(&source, target, opts, &map, progress).await;
    source.close().await.ok();
    result
}

/// One connection to the old database whose every transaction is read-only.
async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, ImportError> {
    let mut o = ConnectOptions::new(url.expose().to_owned());
    o.max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        // Belt and braces with the READ ONLY transaction: this session cannot write at all.
        .map_sqlx_postgres_opts(|o| o.options([("default_transaction_read_only", "on")]));
    Database::connect(o)
        .await
        .map_err(|e| ImportError::Refused(format!("cannot connect to the old database {url}: {e}")))
}

async fn read_and_store(
    source: &DatabaseConnection,
    target: Option<&DatabaseConnection>,
    opts: &LegacyOptions,
    map: &MapFile,
    progress: Progress,
) -> Result<Summary, ImportError> {
    let txn = source
        .begin_with_options(TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            access_mode: Some(AccessMode::ReadOnly),
            sqlite_transaction_mode: None,
        })
        .await
        .map_err(ImportError::Source)?;
    let table = find_table(&txn, &opts.table).await?;
    let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    let key_name = table.key.as_ref().map(|k| k.name.as_str());
    let mapping = Arc::new(Mapping::resolve(&names, map, key_name.as_slice())?);
    let describe = format!(
        "source table {} ({} columns, {})\n{}",
        table.qualified,
        table.columns.len(),
        match &table.key {
            Some(k) => format!("read in primary-key order of {}", k.name),
            None => "no single-column primary key: read in ctid order".to_owned(),
        },
        mapping.describe()
    );
    let report = match (opts.dry_run, &opts.report) {
        (true, _) => None,
        (false, Some(path)) => Some(path.clone()),
        (false, None) => Some(super::default_report_path("legacy")),
    };
    let info = RunInfo {
        params: serde_json::json!({
            "import": "legacy",
            "from": opts.from.redacted(),
            "table": table.qualified,
        }),
    };
    let mut writer = Writer::new(target, info, report.as_deref(), progress)?;
    if let Some(n) = table.estimate {
        writer.set_total(n);
    }
    let platforms = Arc::new(map.platforms.clone());
    let default_seen = Utc::now();

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let read = async {
        let mut after: Option<String> = None;
        loop {
            let rows = read_page(&txn, &table, after.as_deref()).await?;
            let Some((last, _)) = rows.last() else {
                break;
            };
            after = Some(last.clone());
            let full = rows.len() == BATCH;
            let (mapping, platforms) = (Arc::clone(&mapping), Arc::clone(&platforms));
            let batch = tokio::task::spawn_blocking(move || {
                to_batch(rows, &mapping, &platforms, default_seen)
            })
            .await
            .map_err(|e| ImportError::Refused(format!("normalising rows failed: {e}")))?;
            if tx.send(batch).await.is_err() || !full {
                break;
            }
        }
        drop(tx);
        Ok::<_, ImportError>(())
    };
    let write = async {
        while let Some(batch) = rx.recv().await {
            writer.write(batch).await?;
        }
        Ok::<_, ImportError>(())
    };
    let (read, write) = tokio::join!(read, write);
    // Nothing was written through this transaction (it cannot be); end it either way.
    let _ = txn.rollback().await;
    let error = write.err().or(read.err());
    let mut summary = writer.finish(error.as_ref()).await?;
    if let Some(e) = error {
        return Err(e);
    }
    summary.mapping = describe;
    Ok(summary)
}

/// `"name"` with embedded quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// The table `wanted` names (`table` or `schema.table`; exact spelling first, then by
/// normalised name, `public` preferred), its columns and key.
async fn find_table(db: &impl ConnectionTrait, wanted: &str) -> Result<Table, ImportError> {
    let (schema, name) = match wanted.split_once('.') {
        Some((s, t)) => (Some(s.trim().trim_matches('"')), t.trim().trim_matches('"')),
        None => (None, wanted.trim().trim_matches('"')),
    };
    let rows = db
        .query_all_raw(stmt(
            "SELECT n.nspname::text AS schema, c.relname::text AS name, \
                    GREATEST(c.reltuples, 0)::bigint AS estimate \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY (n.nspname = 'public') DESC, n.nspname, c.relname",
            vec![],
        ))
        .await
        .map_err(ImportError::Source)?;
    let mut tables = Vec::new();
    for r in rows {
        let s: String = r.try_get("", "schema").map_err(ImportError::Source)?;
        let t: String = r.try_get("", "name").map_err(ImportError::Source)?;
        let n: i64 = r.try_get("", "estimate").map_err(ImportError::Source)?;
        tables.push((s, t, n));
    }
    let schema_ok =
        |s: &str| schema.is_none_or(|w| w == s || super::normalise(w) == super::normalise(s));
    let found = tables
        .iter()
        .find(|(s, t, _)| schema_ok(s) && t == name)
        .or_else(|| {
            tables
                .iter()
                .find(|(s, t, _)| schema_ok(s) && super::normalise(t) == super::normalise(name))
        });
    let Some((schema, name, estimate)) = found.cloned() else {
        let all: Vec<String> = tables.iter().map(|(s, t, _)| format!("{s}.{t}")).collect();
        return Err(ImportError::Refused(format!(
            "the old database has no table `{wanted}` (--table); its tables: {}",
            if all.is_empty() {
                "none".to_owned()
            } else {
                all.join(", ")
            }
        )));
    };
    let qualified = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
    let columns: Vec<Column> = db
        .query_all_raw(stmt(
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            vec![qualified.clone().into()],
        ))
        .await
        .map_err(ImportError::Source)?
        .into_iter()
        .map(|r| -> Result<Column, DbErr> {
            Ok(Column {
                name: r.try_get("", "name")?,
                type_name: r.try_get("", "type")?,
            })
        })
        .collect::<Result<_, DbErr>>()
        .map_err(ImportError::Source)?;
    let keys: Vec<String> = db
        .query_all_raw(stmt(
            "SELECT a.attname::text AS name FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
            vec![qualified.clone().into()],
        ))
        .await
        .map_err(ImportError::Source)?
        .into_iter()
        .map(|r| r.try_get("", "name"))
        .collect::<Result<_, DbErr>>()
        .map_err(ImportError::Source)?;
    let key = match keys.as_slice() {
        [one] => columns.iter().find(|c| &c.name == one).cloned(),
        _ => None,
    };
    Ok(Table {
        qualified,
        columns,
        key,
        estimate: u64::try_from(estimate).ok().filter(|n| *n > 0),
    })
}

/// How a column is read: as text, date-times as ISO 8601 in UTC.
fn select_expr(c: &Column) -> String {
    let q = format!("t.{}", quote_ident(&c.name));
    let t = c.type_name.as_str();
    if t.starts_with("timestamp") && t.ends_with("with time zone") {
        format!("to_char({q} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    } else if t.starts_with("timestamp") {
        format!("to_char({q}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
    } else if t == "date" {
        format!("to_char({q}, 'YYYY-MM-DD')")
    } else {
        format!("CAST({q} AS text)")
    }
}

/// One keyset page after `after` (a key as text): `(key, cells)` per row.
async fn read_page(
    db: &impl ConnectionTrait,
    table: &Table,
    after: Option<&str>,
) -> Result<Vec<(String, Vec<Option<String>>)>, ImportError> {
    // Qualified by the table's alias: a bare `"Id"` in ORDER BY would name the output column
    // `CAST("Id" AS text)` (PostgreSQL names a cast after its column) and sort as text.
    let (key, key_type) = match &table.key {
        Some(k) => (format!("t.{}", quote_ident(&k.name)), k.type_name.as_str()),
        None => ("t.ctid".to_owned(), "tid"),
    };
    let exprs: Vec<String> = table.columns.iter().map(select_expr).collect();
    let mut sql = format!(
        "SELECT CAST({key} AS text) AS jobintel_key, {} FROM {} AS t",
        exprs.join(", "),
        table.qualified
    );
    let mut values: Vec<Value> = Vec::new();
    if let Some(after) = after {
        sql.push_str(&format!(" WHERE {key} > CAST($1 AS {key_type})"));
        values.push(after.to_owned().into());
    }
    sql.push_str(&format!(" ORDER BY {key} LIMIT {BATCH}"));
    let rows = db
        .query_all_raw(stmt(&sql, values))
        .await
        .map_err(ImportError::Source)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let key: Option<String> = r.try_get_by_index(0).map_err(ImportError::Source)?;
        let mut cells = Vec::with_capacity(table.columns.len());
        for i in 0..table.columns.len() {
            cells.push(
                r.try_get_by_index::<Option<String>>(i + 1)
                    .map_err(ImportError::Source)?,
            );
        }
        out.push((key.unwrap_or_default(), cells));
    }
    Ok(out)
}

/// Rows to postings (on the blocking pool: HTML sanitising is CPU work).
fn to_batch(
    rows: Vec<(String, Vec<Option<String>>)>,
    mapping: &Mapping,
    platforms: &HashMap<String, Source>,
    default_seen: DateTime<Utc>,
) -> Batch {
    let mut batch = Batch::default();
    let description = mapping.fields.get(&Field::Description).copied();
    for (key, cells) in rows {
        // The row as the old system had it, but for the description, which is stored anyway.
        let raw: serde_json::Map<String, serde_json::Value> = mapping
            .columns
            .iter()
            .zip(&cells)
            .enumerate()
            .filter(|(i, _)| Some(*i) != description)
            .map(|(_, (c, v))| {
                (
                    c.clone(),
                    v.clone().map_or(serde_json::Value::Null, Into::into),
                )
            })
            .collect();
        let values = Values::of(mapping, &cells);
        let cx = BuildContext {
            platforms,
            default_seen,
            salary_source: None,
            raw: serde_json::Value::Object(raw),
        };
        match build_posting(&values, cx) {
            Ok(p) => batch.postings.push(p),
            Err(reason) => batch.bad.push(BadRow { key, reason }),
        }
    }
    batch
}
