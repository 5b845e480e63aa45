//! `accounts_file`: a CSV list of accounts for jobs with thousands of them.
//!
//! Header `account_id,provider[,datasets][,user_id][,page_size]`; `datasets` holds
//! `followers` and/or `following` separated by `;`, `|` or spaces (a comma would split the cell).

use super::error::JobError;
use super::file::AccountFile;
use std::path::Path;

const COLUMNS: [&str; 5] = ["account_id", "provider", "datasets", "user_id", "page_size"];

/// Reads the CSV into raw account entries, each with its 1-based line number.
pub(super) fn read(path: &Path) -> Result<Vec<(u64, AccountFile)>, JobError> {
    let err = |message: String| JobError::AccountsFile {
        path: path.to_owned(),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_path(path)
        .map_err(|e| err(format!("cannot read it: {e}")))?;
    let headers = rdr
        .headers()
        .map_err(|e| err(format!("cannot read the header: {e}")))?
        .clone();
    let mut index = [None; 5];
    for (i, h) in headers.iter().enumerate() {
        match COLUMNS.iter().position(|c| *c == h) {
            Some(c) if index[c].is_none() => index[c] = Some(i),
            Some(_) => return Err(err(format!("column {h:?} appears twice in the header"))),
            None => {
                return Err(err(format!(
                    "unknown column {h:?} in the header; allowed: {}",
                    COLUMNS.join(", ")
                )));
            }
        }
    }
    if index[0].is_none() || index[1].is_none() {
        return Err(err(
            "the header must name account_id and provider (then optionally datasets, user_id, page_size)"
                .to_owned(),
        ));
    }
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| err(format!("malformed row: {e}")))?;
        let line = rec.position().map_or(0, |p| p.line());
        let cell = |c: usize| {
            index[c]
                .and_then(|i| rec.get(i))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let page_size = match cell(4) {
            None => None,
            Some(s) => Some(s.parse::<i64>().map_err(|_| JobError::AccountsFileValue {
                path: path.to_owned(),
                line,
                column: "page_size".to_owned(),
                value: format!("{s:?}"),
                allowed: "use a whole number".to_owned(),
            })?),
        };
        out.push((
            line,
            AccountFile {
                account_id: cell(0).unwrap_or_default(),
                provider: cell(1).unwrap_or_default(),
                datasets: cell(2).map(|s| {
                    s.split([';', '|', ' '])
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
                user_id: cell(3),
                page_size,
            },
        ));
    }
    Ok(out)
}
