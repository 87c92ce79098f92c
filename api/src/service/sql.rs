//! SQL text with bound values, for the queries the service layer writes by hand (postings,
//! statistics): placeholders as each backend wants them, and the few values that must be
//! written into the text instead of bound (see [`Sql::int`], [`Sql::vocabulary_list`],
//! [`Sql::pg_text_literal`]).

use std::fmt::Write as _;

use sea_orm::{DbBackend, Statement, Value};

/// SQL text with bound values, numbered `$n` on PostgreSQL and `?` on SQLite.
pub(crate) struct Sql {
    pub backend: DbBackend,
    pub text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Sql {
            backend,
            text: String::with_capacity(512),
            values: Vec::new(),
        }
    }

    pub fn is_pg(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        if self.is_pg() {
            let _ = write!(self.text, "${}", self.values.len());
        } else {
            self.text.push('?');
        }
        self
    }

    /// `(?, ?, …)`.
    pub fn bind_list<V: Into<Value>>(&mut self, items: impl IntoIterator<Item = V>) -> &mut Self {
        self.text.push('(');
        for (i, v) in items.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v);
        }
        self.text.push(')');
        self
    }

    /// An integer written into the SQL text. For LIMIT and OFFSET: SQLite (3.47+) reads a bound
    /// LIMIT while planning and then marks the prepared statement stale on every new binding, so
    /// a bound LIMIT is re-parsed and re-planned on every execution.
    pub fn int(&mut self, n: i64) -> &mut Self {
        let _ = write!(self.text, "{n}");
        self
    }

    /// Values of a closed vocabulary (stored enum strings: lower-case letters and `_`), written
    /// into the SQL text: with SQLite's STAT4, a bound value compared with an indexed column makes
    /// the statement re-plan on every execution once the database has been ANALYZEd.
    pub fn vocabulary_list<'v>(&mut self, items: impl IntoIterator<Item = &'v str>) -> &mut Self {
        self.text.push('(');
        for (i, v) in items.into_iter().enumerate() {
            debug_assert!(v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            if i > 0 {
                self.text.push_str(", ");
            }
            self.text.push('\'');
            self.text
                .extend(v.chars().filter(|c| c.is_ascii_lowercase() || *c == '_'));
            self.text.push('\'');
        }
        self.text.push(')');
        self
    }

    /// Text written into the SQL as an escape-string literal (`E'…'`: read the same whatever
    /// `standard_conforming_strings` says), PostgreSQL only; the text must not hold a NUL. For
    /// LIKE patterns: the best plan for an ILIKE depends on the pattern (a trigram index for a
    /// rare text, the posting order for a common one), and a statement prepared with a bound
    /// pattern switches after five runs to a generic plan made without it (measured, rare
    /// `locationContains` on 100,000 postings: 0.07 ms planned with the pattern, 383 ms from
    /// the sixth run on).
    pub fn pg_text_literal(&mut self, text: &str) -> &mut Self {
        debug_assert!(self.is_pg() && !text.contains('\0'));
        self.text.push_str("E'");
        for c in text.chars() {
            match c {
                '\\' => self.text.push_str("\\\\"),
                '\'' => self.text.push_str("''"),
                c => self.text.push(c),
            }
        }
        self.text.push('\'');
        self
    }

    pub fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}
