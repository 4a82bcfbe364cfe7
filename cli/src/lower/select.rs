//! Which operations a service publishes (`include` / `exclude`), and the selectors that
//! matched nothing: a tag or operationId that is not in the spec is a typo to report, not a
//! silently empty gateway.

use std::collections::BTreeSet;
use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean};
use crate::load::{Candidate, Selection, SelectorKind, ServiceConfig};

pub struct Verdicts<'a> {
    include: Option<&'a Selection>,
    exclude: &'a Selection,
    include_used: Vec<bool>,
    exclude_used: Vec<bool>,
}

impl<'a> Verdicts<'a> {
    pub fn new(config: &'a ServiceConfig) -> Verdicts<'a> {
        Verdicts {
            include: config.include.as_ref(),
            exclude: &config.exclude,
            include_used: vec![false; config.include.as_ref().map_or(0, |s| s.selectors.len())],
            exclude_used: vec![false; config.exclude.selectors.len()],
        }
    }

    /// Why the operation is left out, or `None` when it is published.
    pub fn verdict(&mut self, candidate: &Candidate<'_>) -> Option<String> {
        let included = match self.include {
            None => true,
            Some(include) => {
                let hits = include.matching(candidate);
                for &i in &hits {
                    self.include_used[i] = true;
                }
                !hits.is_empty()
            }
        };
        let excluded_by = self.exclude.matching(candidate);
        for &i in &excluded_by {
            self.exclude_used[i] = true;
        }
        if let Some(&first) = excluded_by.first() {
            let selector = &self.exclude.selectors[first];
            return Some(format!(
                "exclude.{}: {}",
                selector.kind.key(),
                selector.text
            ));
        }
        (!included).then(|| "not in include".to_owned())
    }

    pub fn report_unused<'b>(
        &self,
        manifest: &Path,
        operation_ids: impl Iterator<Item = &'b str> + Clone,
        tags: &BTreeSet<String>,
        diags: &mut Diagnostics,
    ) {
        let lists = self
            .include
            .into_iter()
            .zip([&self.include_used])
            .chain([(self.exclude, &self.exclude_used)]);
        for (selection, used) in lists {
            for (selector, _) in selection
                .selectors
                .iter()
                .zip(used.iter())
                .filter(|(_, used)| !**used)
            {
                let (what, help) = match selector.kind {
                    SelectorKind::Operation => (
                        "no operation has this operationId",
                        did_you_mean(&selector.text, operation_ids.clone()),
                    ),
                    SelectorKind::Tag => (
                        "no operation has this tag",
                        did_you_mean(&selector.text, tags.iter().map(String::as_str)),
                    ),
                    SelectorKind::Path => ("no path of the spec matches this glob", None),
                };
                diags.push(
                    Diagnostic::error(
                        "gateway::manifest::unknown_selector",
                        format!("`{}`: {what}", selector.text),
                    )
                    .at(Location::new(manifest, selector.pointer.clone()))
                    .help(help.unwrap_or_else(|| {
                        "selectors name the spec's operationIds, tags, and path templates as written (before `mount`)".to_owned()
                    })),
                );
            }
        }
    }
}
