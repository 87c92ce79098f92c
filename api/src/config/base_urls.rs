//! `--<source>-base-url` / `JOBINTEL_<SOURCE>_BASE_URL`, one per registered source that has a
//! live host, generated from the source registry (`ingest::sources::all`): a new source gets
//! its setting, its help line and its place in `EngineConfig` without an edit here.

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use ingest::engine::BaseUrls;

/// The operator's base URL overrides, by source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceBaseUrls(pub BaseUrls);

/// (flag, variable, source) of every source whose base URL can be overridden.
fn overridable() -> impl Iterator<Item = (String, String, &'static ingest::sources::SourceSpec)> {
    ingest::sources::all().filter_map(|s| {
        let spec = s.spec();
        Some((spec.base_url_flag()?, spec.base_url_variable()?, spec))
    })
}

impl FromArgMatches for SourceBaseUrls {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut urls = BaseUrls::new();
        for (flag, _, spec) in overridable() {
            if let Some(url) = matches.get_one::<url::Url>(&flag) {
                urls.insert(spec.source, url.clone());
            }
        }
        Ok(SourceBaseUrls(urls))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SourceBaseUrls {
    fn augment_args(cmd: Command) -> Command {
        overridable().fold(cmd, |cmd, (flag, variable, spec)| {
            let default = spec.default_base_url.unwrap_or_default();
            cmd.arg(
                Arg::new(flag.clone())
                    .long(flag)
                    .env(variable.clone())
                    .value_name(variable)
                    .global(true)
                    .value_parser(clap::value_parser!(url::Url))
                    .help(format!("Base URL for {} (default {default})", spec.name)),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// The `<SOURCE>` argument's help: every registered source's value.
pub fn source_names_help() -> String {
    let names: Vec<&str> = ingest::sources::all()
        .map(|s| s.spec().source.as_str())
        .collect();
    format!("One of: {}", names.join(", "))
}

/// `jobintel ingest --help`'s closing section: each source and the parameters it takes.
pub fn sources_help() -> String {
    let mut out = String::from("Sources:\n");
    for imp in ingest::sources::all() {
        let spec = imp.spec();
        out.push_str(&format!(
            "  {:<16}{}\n",
            spec.source.as_str(),
            spec.description
        ));
        for p in spec.params {
            let flag = match p.name {
                "maxPages" => "max-pages",
                other => other,
            };
            let mut line = format!(
                "{}{}",
                if p.required { "(required) " } else { "" },
                p.description
            );
            if !p.allowed_values.is_empty() {
                line.push_str(&format!(" [{}]", p.allowed_values.join(", ")));
            }
            out.push_str(&format!("{:<18}--{flag:<10} {line}\n", ""));
        }
        if !spec.requires_one_of.is_empty() {
            let any: Vec<String> = spec
                .requires_one_of
                .iter()
                .map(|n| format!("--{n}"))
                .collect();
            out.push_str(&format!("{:<18}needs {}\n", "", any.join(" or ")));
        }
    }
    out
}
