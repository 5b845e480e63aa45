//! Where the output is, as DuckDB will read it: `output.url` (or `--output`) made an absolute
//! local path or an `s3://` URL, and refused where it would change the meaning of a glob or of
//! the SQL it is echoed in.
//!
//! Knows paths and URLs; knows nothing of the views or their SQL.

use super::error::ViewsError;
use std::path::{Component, Path, PathBuf};

/// Where the output is, as DuckDB will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// An absolute local directory, without a trailing slash.
    Local(PathBuf),
    /// `s3://bucket/prefix`, without a trailing slash.
    S3(String),
}

impl Root {
    /// The root of `output.url` (a path, `file://` URL or `s3://` URL, as the job layer
    /// accepted it), a relative path resolved against `cwd`.
    pub fn resolve(
        url: &str,
        cwd: impl FnOnce() -> std::io::Result<PathBuf>,
    ) -> Result<Root, ViewsError> {
        if url.starts_with("s3://") {
            let url = url.trim_end_matches('/');
            check_text(url)?;
            return Ok(Root::S3(url.to_owned()));
        }
        let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let base = cwd().map_err(|source| ViewsError::NoWorkingDirectory {
                path: url.to_owned(),
                source,
            })?;
            base.join(path)
        };
        let abs = normalize(&abs);
        let text = abs.to_str().ok_or_else(|| ViewsError::UnusablePath {
            path: abs.display().to_string(),
            why: "is not valid UTF-8",
        })?;
        check_text(text)?;
        Ok(Root::Local(abs))
    }

    /// The root as text, for globs and comments.
    pub(super) fn text(&self) -> String {
        match self {
            // Checked to be UTF-8 in `resolve`.
            Root::Local(p) => p.to_string_lossy().into_owned(),
            Root::S3(u) => u.clone(),
        }
    }
}

/// `.` dropped and `..` applied lexically (the directory may not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Rejects what would change the meaning of the glob or break the SQL comment it is echoed in.
fn check_text(text: &str) -> Result<(), ViewsError> {
    let bad = |why| {
        Err(ViewsError::UnusablePath {
            path: text.to_owned(),
            why,
        })
    };
    if text.contains(['*', '?', '[', ']', '{', '}']) {
        return bad("holds a glob character");
    }
    if text.contains(['\n', '\r']) {
        return bad("holds a line break");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cwd() -> std::io::Result<PathBuf> {
        Ok(PathBuf::from("/home/ana/work"))
    }

    #[test]
    fn relative_paths_become_absolute_and_normal() -> Result<(), ViewsError> {
        assert_eq!(
            Root::resolve("./out", cwd)?,
            Root::Local("/home/ana/work/out".into())
        );
        assert_eq!(
            Root::resolve("../data/out/", cwd)?,
            Root::Local("/home/ana/data/out".into())
        );
        assert_eq!(
            Root::resolve("file:///srv/pp", cwd)?,
            Root::Local("/srv/pp".into())
        );
        assert_eq!(
            Root::resolve("s3://bucket/pre/fix/", cwd)?,
            Root::S3("s3://bucket/pre/fix".into())
        );
        Ok(())
    }

    #[test]
    fn glob_characters_and_line_breaks_are_refused() {
        for bad in ["/tmp/a*b", "out[1]", "s3://b/p?x", "/tmp/a\nCREATE"] {
            let e = Root::resolve(bad, cwd).err();
            assert!(
                matches!(e, Some(ViewsError::UnusablePath { .. })),
                "{bad:?}: {e:?}"
            );
            assert_eq!(e.map(|e| e.exit().code()), Some(2));
        }
    }
}
