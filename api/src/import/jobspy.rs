//! `jobintel import jobspy FILE.csv`: a CSV written by python-jobspy (`scrape_jobs(...).to_csv`).
//!
//! Its header names the columns (`id, site, job_url, job_url_direct, title, company, location,
//! date_posted, job_type, salary_source, interval, min_amount, max_amount, currency, is_remote,
//! …, description, company_industry, …`); they are matched like the legacy table's, with
//! JobSpy's `id` as the external id and `company_industry` as the classification. `site` names
//! the source: the boards jobintel does not scrape (LinkedIn, Glassdoor, Google, ZipRecruiter,
//! …) are import-only sources (see `ingest::sources::registry`).
//!
//! The file is streamed with `csv_core` into buffers of bounded size: a record over
//! [`MAX_RECORD_BYTES`] is skipped as it is read (never held whole), a cell over
//! [`MAX_CELL_BYTES`] makes its row bad, and only a batch of rows is in memory at a time.
//! A row's first and last seen are the file's modification time (when JobSpy wrote it, which is
//! when it saw the postings), so importing the same file again changes nothing.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use entity::Source;
use ingest::SalarySource;
use sea_orm::DatabaseConnection;

use super::{
    BATCH, BadRow, Batch, BuildContext, Field, ImportError, MapFile, Mapping, Progress, RunInfo,
    Summary, Values, Writer, build_posting,
};

/// A cell over this is an absurd value (a real description is a few KiB): its row is bad.
pub const MAX_CELL_BYTES: usize = 1024 * 1024;
/// A record over this is dropped while it is read, so a broken file (an unclosed quote that
/// swallows the rest) cannot grow memory without bound.
pub const MAX_RECORD_BYTES: usize = 4 * MAX_CELL_BYTES;
/// More fields than this in one record: the file is not a JobSpy CSV.
const MAX_FIELDS: usize = 1024;

/// What `jobintel import jobspy` was asked to do.
#[derive(Debug, Clone)]
pub struct JobspyOptions {
    pub file: PathBuf,
    /// Print the mapping and sample rows; write nothing.
    pub dry_run: bool,
    /// Where bad rows are listed (default: [`super::default_report_path`]).
    pub report: Option<PathBuf>,
}

/// Import a JobSpy CSV into `target` (`None` with `opts.dry_run`: nothing is written).
pub async fn import(
    target: Option<&DatabaseConnection>,
    opts: &JobspyOptions,
    progress: Progress,
) -> Result<Summary, ImportError> {
    let path = opts.file.clone();
    let file = std::fs::File::open(&path).map_err(ImportError::io("cannot open", &path))?;
    let seen: DateTime<Utc> = file
        .metadata()
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    let mut records = Records::new(std::io::BufReader::with_capacity(64 * 1024, file));
    let header = match records
        .next()
        .map_err(ImportError::io("cannot read", &path))?
    {
        Some(Record::Fields(header)) => header,
        _ => {
            return Err(ImportError::Refused(format!(
                "{} has no CSV header line",
                path.display()
            )));
        }
    };
    let header: Vec<String> = header
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            // A BOM written by spreadsheet tools.
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                &h
            };
            h.trim().to_owned()
        })
        .collect();
    let mapping = Mapping::resolve(&header, &jobspy_map(&header), &[])?;
    let describe = format!(
        "JobSpy CSV {} ({} columns)\n{}",
        path.display(),
        header.len(),
        mapping.describe()
    );
    let report = match (opts.dry_run, &opts.report) {
        (true, _) => None,
        (false, Some(p)) => Some(p.clone()),
        (false, None) => Some(super::default_report_path("jobspy")),
    };
    let info = RunInfo {
        params: serde_json::json!({
            "import": "jobspy",
            "file": std::path::absolute(&path).unwrap_or(path.clone()).display().to_string(),
        }),
    };
    let mut writer = Writer::new(target, info, report.as_deref(), progress)?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let reader_path = path.clone();
    let reader = tokio::task::spawn_blocking(move || {
        read_batches(&mut records, &header, &mapping, seen, &tx)
            .map_err(ImportError::io("cannot read", &reader_path))
    });
    let mut error = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = writer.write(batch).await {
            error = Some(e);
            break;
        }
    }
    // Stops the reader at its next batch if the writer failed.
    drop(rx);
    let read = reader
        .await
        .map_err(|e| ImportError::Refused(format!("reading {} failed: {e}", path.display())))
        .and_then(|r| r);
    let error = error.or(read.err());
    let mut summary = writer.finish(error.as_ref()).await?;
    if let Some(e) = error {
        return Err(e);
    }
    summary.mapping = describe;
    Ok(summary)
}

/// JobSpy's own names for what the synonyms do not cover, for the columns the file has.
fn jobspy_map(header: &[String]) -> MapFile {
    let mut map = MapFile::default();
    for (column, field) in [
        ("id", Field::ExternalId),
        ("company_industry", Field::Classification),
        ("job_function", Field::Classification),
    ] {
        let taken = map.columns.iter().any(|(_, f)| *f == Some(field));
        if !taken && header.iter().any(|h| h == column) {
            map.columns.push((column.to_owned(), Some(field)));
        }
    }
    map
}

/// Read every record after the header into batches of postings and bad rows.
fn read_batches(
    records: &mut Records<impl BufRead>,
    header: &[String],
    mapping: &Mapping,
    seen: DateTime<Utc>,
    tx: &tokio::sync::mpsc::Sender<Batch>,
) -> std::io::Result<()> {
    let platforms = HashMap::new();
    let description = mapping.fields.get(&Field::Description).copied();
    let salary_source = header.iter().position(|h| h == "salary_source");
    let mut batch = Batch::default();
    loop {
        let line = records.line;
        let Some(record) = records.next()? else {
            break;
        };
        let key = |cells: &[String]| {
            mapping
                .fields
                .get(&Field::ExternalId)
                .and_then(|i| cells.get(*i))
                .filter(|id| !id.is_empty() && id.len() <= 255)
                .map(|id| format!("{id} (line {line})"))
                .unwrap_or_else(|| format!("line {line}"))
        };
        let cells = match record {
            Record::Fields(cells) if cells.len() == 1 && cells[0].is_empty() => continue,
            Record::Fields(cells) => cells,
            Record::TooBig => {
                batch.bad.push(BadRow {
                    key: format!("line {line}"),
                    reason: format!("record over {} MiB", MAX_RECORD_BYTES >> 20),
                });
                continue;
            }
        };
        if cells.len() != header.len() {
            batch.bad.push(BadRow {
                key: key(&cells),
                reason: format!(
                    "{} fields where the header has {}",
                    cells.len(),
                    header.len()
                ),
            });
        } else if let Some(i) = cells.iter().position(|c| c.len() > MAX_CELL_BYTES) {
            batch.bad.push(BadRow {
                key: key(&cells),
                reason: format!(
                    "`{}` is {} bytes (over {} MiB)",
                    header[i],
                    cells[i].len(),
                    MAX_CELL_BYTES >> 20
                ),
            });
        } else {
            match to_posting(
                &cells,
                header,
                mapping,
                &platforms,
                description,
                salary_source,
                seen,
            ) {
                Ok(p) => batch.postings.push(p),
                Err(reason) => batch.bad.push(BadRow {
                    key: key(&cells),
                    reason,
                }),
            }
        }
        if batch.postings.len() + batch.bad.len() >= BATCH
            && tx.blocking_send(std::mem::take(&mut batch)).is_err()
        {
            return Ok(());
        }
    }
    if !(batch.postings.is_empty() && batch.bad.is_empty()) {
        let _ = tx.blocking_send(batch);
    }
    Ok(())
}

fn to_posting(
    cells: &[String],
    header: &[String],
    mapping: &Mapping,
    platforms: &HashMap<String, Source>,
    description: Option<usize>,
    salary_source: Option<usize>,
    seen: DateTime<Utc>,
) -> Result<ingest::store::ImportedPosting, String> {
    let row: Vec<Option<String>> = cells.iter().map(|c| Some(c.clone())).collect();
    let mut values = Values::of(mapping, &row);
    // JobSpy prefixes Indeed's job key with `in-`; without it the id is the one jobintel's own
    // Indeed source stores, so a posting both scraped and imported is one row.
    let stripped;
    if let (Some(site), Some(id)) = (values.get(Field::Source), values.get(Field::ExternalId))
        && super::source_from_label(site, platforms) == Some(Source::Indeed)
        && let Some(rest) = id.strip_prefix("in-")
    {
        stripped = rest.to_owned();
        values.set(Field::ExternalId, &stripped);
    }
    let raw: serde_json::Map<String, serde_json::Value> = header
        .iter()
        .zip(cells)
        .enumerate()
        .filter(|(i, (_, c))| Some(*i) != description && !c.is_empty())
        .map(|(_, (h, c))| (h.clone(), serde_json::Value::String(c.clone())))
        .collect();
    let salary_source = salary_source
        .and_then(|i| cells.get(i))
        .map(|s| match s.trim() {
            "description" => SalarySource::Parsed,
            _ => SalarySource::Structured,
        });
    build_posting(
        &values,
        BuildContext {
            platforms,
            default_seen: seen,
            salary_source,
            raw: serde_json::Value::Object(raw),
        },
    )
    .map(|mut p| {
        // The file's time, not the posting date: JobSpy saw them when it wrote the file.
        p.first_seen_at = seen;
        p.last_seen_at = seen;
        p
    })
}

/// One CSV record as read.
enum Record {
    Fields(Vec<String>),
    /// Over [`MAX_RECORD_BYTES`] (or [`MAX_FIELDS`]): dropped while reading.
    TooBig,
}

/// A streaming CSV record reader over `csv_core` with bounded buffers.
struct Records<R> {
    core: csv_core::Reader,
    input: R,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The line the next record starts on (1-based).
    line: u64,
    done: bool,
}

impl<R: BufRead> Records<R> {
    fn new(input: R) -> Self {
        Records {
            core: csv_core::Reader::new(),
            input,
            out: vec![0; 64 * 1024],
            ends: vec![0; 64],
            line: 1,
            done: false,
        }
    }

    fn next(&mut self) -> std::io::Result<Option<Record>> {
        use csv_core::ReadRecordResult as R;
        if self.done {
            return Ok(None);
        }
        let (mut outlen, mut endlen) = (0, 0);
        let mut too_big = false;
        loop {
            let input = self.input.fill_buf()?;
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            self.input.consume(nin);
            outlen += nout;
            endlen += nend;
            match result {
                R::InputEmpty => {}
                R::OutputFull if self.out.len() >= MAX_RECORD_BYTES => {
                    // Keep parsing to the record's end, dropping what it holds.
                    too_big = true;
                    outlen = 0;
                }
                R::OutputFull => {
                    let len = (self.out.len() * 2).min(MAX_RECORD_BYTES);
                    self.out.resize(len, 0);
                }
                R::OutputEndsFull if self.ends.len() >= MAX_FIELDS => {
                    too_big = true;
                    endlen = 0;
                }
                R::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                }
                R::Record => {
                    // csv_core counts lines from 1, so this is the line the next record starts on.
                    self.line = self.core.line();
                    if too_big {
                        return Ok(Some(Record::TooBig));
                    }
                    let mut fields = Vec::with_capacity(endlen);
                    let mut start = 0;
                    for &end in &self.ends[..endlen] {
                        let bytes = self.out.get(start..end).unwrap_or_default();
                        fields.push(String::from_utf8_lossy(bytes).into_owned());
                        start = end;
                    }
                    return Ok(Some(Record::Fields(fields)));
                }
                R::End => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Vec<String>> {
        let mut r = Records::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(rec) = r.next().unwrap() {
            match rec {
                Record::Fields(f) => out.push(f),
                Record::TooBig => out.push(vec!["<too big>".into()]),
            }
        }
        out
    }

    #[test]
    fn quoted_cells_with_commas_quotes_and_newlines_are_read_whole() {
        let rows = all("id,description\r\n1,\"a, \"\"b\"\"\nc\"\n2,plain\n");
        assert_eq!(rows[1], vec!["1", "a, \"b\"\nc"]);
        assert_eq!(rows[2], vec!["2", "plain"]);
    }

    #[test]
    fn a_record_over_the_cap_is_dropped_and_the_next_one_is_read() {
        let big = "x".repeat(MAX_RECORD_BYTES + 10);
        let rows = all(&format!("id,d\n1,{big}\n2,ok\n"));
        assert_eq!(rows[1], vec!["<too big>"]);
        assert_eq!(rows[2], vec!["2", "ok"]);
    }
}
