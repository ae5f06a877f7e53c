//! `weir://REPO[/REF[/PATH]]` URIs; `lakefs://` is accepted as a synonym so
//! commands copied from lakectl work unchanged.

use std::fmt;

use crate::error::CoreError;
use crate::names;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeirUri {
    pub repo: String,
    pub reference: Option<String>,
    /// Object path or prefix; empty when absent. May end with `/`.
    pub path: String,
}

impl WeirUri {
    pub fn parse(uri: &str) -> Result<WeirUri, CoreError> {
        let bad = |reason: &str| CoreError::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        let rest = uri
            .strip_prefix("weir://")
            .or_else(|| uri.strip_prefix("lakefs://"))
            .ok_or_else(|| bad("expected weir://REPO/REF/PATH (lakefs:// also works)"))?;
        let mut parts = rest.splitn(3, '/');
        let repo = parts.next().unwrap_or_default();
        names::validate_repo(repo).map_err(|e| bad(&e.to_string()))?;
        let reference = match parts.next() {
            None | Some("") => None,
            Some(r) => Some(r.to_string()),
        };
        let path = parts.next().unwrap_or_default().to_string();
        if !path.is_empty() {
            names::validate_prefix(&path).map_err(|e| bad(&e.to_string()))?;
        }
        Ok(WeirUri {
            repo: repo.to_string(),
            reference,
            path,
        })
    }

    /// The ref, or an error naming what the command needs.
    pub fn require_ref(&self) -> Result<&str, CoreError> {
        self.reference
            .as_deref()
            .ok_or_else(|| CoreError::InvalidUri {
                uri: self.to_string(),
                reason: "this command needs a ref: weir://REPO/REF".into(),
            })
    }

    /// The object path, or an error naming what the command needs.
    pub fn require_path(&self) -> Result<&str, CoreError> {
        self.require_ref()?;
        if self.path.is_empty() || self.path.ends_with('/') {
            return Err(CoreError::InvalidUri {
                uri: self.to_string(),
                reason: "this command needs an object path: weir://REPO/REF/PATH".into(),
            });
        }
        Ok(&self.path)
    }
}

impl fmt::Display for WeirUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "weir://{}", self.repo)?;
        if let Some(r) = &self.reference {
            write!(f, "/{r}")?;
            if !self.path.is_empty() {
                write!(f, "/{}", self.path)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u = WeirUri::parse("weir://demand/main/raw/a.csv").unwrap();
        assert_eq!(u.repo, "demand");
        assert_eq!(u.reference.as_deref(), Some("main"));
        assert_eq!(u.path, "raw/a.csv");
        let u = WeirUri::parse("lakefs://demand/main~1/").unwrap();
        assert_eq!(u.reference.as_deref(), Some("main~1"));
        assert_eq!(u.path, "");
        let u = WeirUri::parse("weir://demand").unwrap();
        assert!(u.reference.is_none());
        assert!(u.require_ref().is_err());
        assert_eq!(u.to_string(), "weir://demand");
    }

    #[test]
    fn rejects() {
        for bad in [
            "s3://demand/main",
            "weir://",
            "weir://De/main",
            "weir://demand/main/../x",
            "weir://demand/main//x",
            "demand/main",
        ] {
            assert!(WeirUri::parse(bad).is_err(), "{bad}");
        }
    }
}
