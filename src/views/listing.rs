//! Whether a view's glob matches at least one file of a local output, by listing only the
//! directories the glob walks through (DuckDB refuses a view whose glob matches nothing).
//!
//! Knows the local disk and the globs' shape (`*` directories, then `*.parquet`); knows nothing
//! of SQL.

use super::error::ViewsError;
use super::sql::Presence;
use std::path::Path;

/// Whether a local glob of `*` directories ending in `*.parquet` matches at least one file.
/// A missing directory matches nothing; one that cannot be listed is an error.
pub fn local_presence(root: &Path, glob: &str) -> Result<Presence, ViewsError> {
    let segments: Vec<&str> = glob.split('/').collect();
    let found = matches(root, &segments)?;
    Ok(if found {
        Presence::Files
    } else {
        Presence::NoFiles
    })
}

fn matches(dir: &Path, segments: &[&str]) -> Result<bool, ViewsError> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(false);
    };
    let list_error = |source| ViewsError::List {
        path: dir.display().to_string(),
        source,
    };
    if *first != "*" && !first.contains('*') {
        let next = dir.join(first);
        return if rest.is_empty() {
            Ok(next.is_file())
        } else {
            matches(&next, rest)
        };
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(list_error(e)),
    };
    for entry in entries {
        let entry = entry.map_err(list_error)?;
        let path = entry.path();
        if rest.is_empty() {
            let suffix = first.trim_start_matches('*');
            let name = entry.file_name();
            if path.is_file() && name.to_string_lossy().ends_with(suffix) {
                return Ok(true);
            }
        } else if path.is_dir() && matches(&path, rest)? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_presence_follows_the_glob_depth() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*.parquet")?,
            Presence::NoFiles
        );
        let part = root.join("tables/account_daily/snapshot_date=2024-05-01");
        std::fs::create_dir_all(&part)?;
        std::fs::write(part.join("notes.txt"), "x")?;
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*.parquet")?,
            Presence::NoFiles
        );
        std::fs::write(part.join("part-00000.parquet"), "x")?;
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*.parquet")?,
            Presence::Files
        );
        // One level too deep or too shallow matches nothing.
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*/*.parquet")?,
            Presence::NoFiles
        );
        assert_eq!(local_presence(root, "tables/*.parquet")?, Presence::NoFiles);
        Ok(())
    }
}
