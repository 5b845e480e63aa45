//! The accounts of a job: its `[[accounts]]` tables and its accounts CSV, each account checked
//! (id syntax, provider, datasets, user_id, page_size against the provider's maximum) and no
//! account named twice.

use super::accounts_csv;
use super::file::{AccountFile, JobFile};
use super::origin::Origin;
use super::validate::{JobError, Result, Validator};
use super::validated::Account;
use crate::model::{Dataset, Provider};
use std::collections::HashMap;

impl Validator<'_> {
    pub(super) fn accounts(&self, file: &JobFile) -> Result<Vec<Account>> {
        let mut out = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (i, a) in file.accounts.iter().enumerate() {
            let origin = Origin::Table {
                path: self.path,
                index: i,
            };
            let acc = self.account(&origin, a)?;
            self.remember(&mut seen, &acc, origin.to_string())?;
            out.push(acc);
        }
        if let Some(csv) = &file.accounts_file {
            let csv_path = self.relative(csv);
            let rows = accounts_csv::read(&csv_path)?;
            for (line, a) in rows {
                let origin = Origin::Csv {
                    path: &csv_path,
                    line,
                };
                let acc = self.account(&origin, &a)?;
                self.remember(&mut seen, &acc, origin.to_string())?;
                out.push(acc);
            }
        }
        if out.is_empty() {
            return Err(JobError::NoAccounts {
                path: self.path.to_owned(),
            });
        }
        Ok(out)
    }

    fn remember(
        &self,
        seen: &mut HashMap<String, String>,
        acc: &Account,
        at: String,
    ) -> Result<()> {
        if let Some(first) = seen.get(&acc.account_id) {
            return Err(JobError::DuplicateAccount {
                path: self.path.to_owned(),
                account_id: acc.account_id.clone(),
                first: first.clone(),
                second: at,
            });
        }
        seen.insert(acc.account_id.clone(), at);
        Ok(())
    }

    fn account(&self, v: &Origin<'_>, a: &AccountFile) -> Result<Account> {
        if !valid_account_id(&a.account_id) {
            return Err(v.invalid(
                "account_id",
                format!("{:?}", a.account_id),
                "use [A-Za-z0-9][A-Za-z0-9_.-]* (at most 256 bytes) without \"..\"",
            ));
        }
        let provider: Provider = a.provider.parse().map_err(|()| {
            v.invalid(
                "provider",
                format!("{:?}", a.provider),
                "use \"linkedin\" or \"instagram\"",
            )
        })?;
        let datasets = datasets(v, a.datasets.as_deref())?;
        if let Some(u) = &a.user_id
            && (u.is_empty() || u.len() > 512 || u.chars().any(char::is_control))
        {
            return Err(v.invalid(
                "user_id",
                format!("{u:?}"),
                "use a non-empty provider_id or username without control characters",
            ));
        }
        let page_size = a
            .page_size
            .map(|p| page_size(v, provider, &datasets, p))
            .transpose()?;
        Ok(Account {
            account_id: a.account_id.clone(),
            provider,
            datasets,
            user_id: a.user_id.clone(),
            page_size,
        })
    }
}

/// The account's datasets, sorted: both when the key is left out.
fn datasets(v: &Origin<'_>, list: Option<&[String]>) -> Result<Vec<Dataset>> {
    let Some(list) = list else {
        return Ok(Dataset::ALL.to_vec());
    };
    let mut ds = Vec::new();
    for d in list {
        let parsed: Dataset = d.parse().map_err(|()| {
            v.invalid(
                "datasets",
                format!("{d:?}"),
                "use \"followers\" and/or \"following\"",
            )
        })?;
        if ds.contains(&parsed) {
            return Err(v.invalid("datasets", format!("{list:?}"), "name each dataset once"));
        }
        ds.push(parsed);
    }
    if ds.is_empty() {
        return Err(v.invalid(
            "datasets",
            "[]",
            "name at least one of \"followers\", \"following\" (or leave the key out for both)",
        ));
    }
    ds.sort();
    Ok(ds)
}

/// `page_size`, at most the smallest maximum of the account's datasets.
fn page_size(v: &Origin<'_>, provider: Provider, datasets: &[Dataset], p: i64) -> Result<u32> {
    let max = datasets
        .iter()
        .map(|d| provider.max_page_size(*d))
        .min()
        .unwrap_or(100);
    if p < 1 || p > i64::from(max) {
        let which: Vec<String> = datasets
            .iter()
            .map(|d| {
                format!(
                    "{} {} allows at most {}",
                    provider,
                    d,
                    provider.max_page_size(*d)
                )
            })
            .collect();
        return Err(v.invalid(
            "page_size",
            p,
            &format!("use 1 to {max} ({})", which.join(", ")),
        ));
    }
    u32::try_from(p).map_err(|_| v.invalid("page_size", p, &format!("use 1 to {max}")))
}

/// Accepts `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 256 bytes, without `..`.
pub(crate) fn valid_account_id(s: &str) -> bool {
    let mut bytes = s.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    first_ok
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !s.contains("..")
}
