//! Validation of repository, branch and tag names and of object paths.
//!
//! The rules follow lakeFS so that names valid in one system are valid in
//! the other: repositories `^[a-z0-9][a-z0-9-]{2,62}$`, branches
//! `^\w[-\w]*$`. Tags additionally allow dots (`v1.0`) but never anything a
//! ref expression or a URI gives meaning to (`~ ^ @ /`).

use crate::error::CoreError;

/// The tenant of lakes made before tenants existed, of the first key, and
/// of the lake's operators.
pub const DEFAULT_TENANT: &str = "default";

const REPO_RULE: &str =
    "use 3-63 characters: lowercase letters, digits and '-', starting with a letter or digit";
const BRANCH_RULE: &str =
    "use letters, digits, '_' and '-', starting with a letter, digit or '_' (at most 256)";
const TAG_RULE: &str = "use letters, digits, '_', '-' and '.', starting with a letter, digit or '_', \
     without '..' and not ending in '.' (at most 256)";

fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn validate_repo(name: &str) -> Result<(), CoreError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidName {
            kind: "repository",
            name: name.to_string(),
            rule: REPO_RULE,
        })
    }
}

pub fn validate_branch(name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.chars().next().is_some_and(word)
        && name.chars().all(|c| word(c) || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidName {
            kind: "branch",
            name: name.to_string(),
            rule: BRANCH_RULE,
        })
    }
}

pub fn validate_tag(name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.chars().next().is_some_and(word)
        && name.chars().all(|c| word(c) || c == '-' || c == '.')
        && !name.contains("..")
        && !name.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidName {
            kind: "tag",
            name: name.to_string(),
            rule: TAG_RULE,
        })
    }
}

/// Longest object path accepted, in bytes (S3's key limit).
pub const MAX_PATH_LEN: usize = 1024;

/// An object path inside a ref: relative, `/`-separated, no empty, `.` or
/// `..` segments, no control characters. This is what keeps every write
/// inside the lake whatever a client sends. One trailing `/` is allowed: a
/// "directory marker", the empty object pyarrow, Hadoop's s3a and Spark
/// write for a folder, which S3 and lakeFS store as any other key.
pub fn validate_path(path: &str) -> Result<(), CoreError> {
    let bad = |reason| {
        Err(CoreError::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("the path is empty");
    }
    if path.len() > MAX_PATH_LEN {
        return bad("longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return bad("absolute paths are not allowed; paths are relative to the ref");
    }
    if path.chars().any(|c| c.is_control()) {
        return bad("control characters are not allowed");
    }
    for seg in path.strip_suffix('/').unwrap_or(path).split('/') {
        match seg {
            "" => return bad("empty path segment ('//')"),
            "." | ".." => return bad("'.' and '..' segments are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

/// A listing prefix: like a path but may be empty or end with `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), CoreError> {
    if prefix.is_empty() {
        return Ok(());
    }
    validate_path(prefix.strip_suffix('/').unwrap_or(prefix))
}

/// The repository where weir keeps its own records (pipeline runs, lineage
/// events) as Delta tables, queryable like any other.
pub const SYSTEM_REPO: &str = "weir-system";

/// The repository of a tenant's MLflow tracking store: `mlflow` for the
/// default tenant, `TENANT-mlflow` for another.
pub fn tracking_repo(tenant: &str) -> String {
    if tenant == DEFAULT_TENANT {
        "mlflow".into()
    } else {
        format!("{tenant}-mlflow")
    }
}

/// Repositories weir keeps its own records in (the system repository,
/// tracking stores): they do not count when a command picks the lake's
/// only repository for the user.
pub fn is_records_repo(name: &str) -> bool {
    name == SYSTEM_REPO || name == "mlflow" || name.ends_with("-mlflow")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        for ok in ["demand", "abc", "a-1", "0ab"] {
            validate_repo(ok).unwrap();
        }
        for bad in [
            "ab",
            "Demand",
            "-abc",
            "a_b",
            "a.b",
            &"a".repeat(64),
            "de/mand",
        ] {
            assert!(validate_repo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branch_and_tag_names() {
        for ok in ["main", "feature-1", "_x", "run_2024"] {
            validate_branch(ok).unwrap();
        }
        for bad in ["", "-x", "a.b", "a/b", "a~1", "a^", "main@", "a b"] {
            assert!(validate_branch(bad).is_err(), "{bad}");
        }
        for ok in ["v1.0", "release-2024.01", "x"] {
            validate_tag(ok).unwrap();
        }
        for bad in ["", ".x", "v1..0", "v1.", "a/b", "a~1", "a@", "a^2"] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        for ok in [
            "a",
            "a/b.csv",
            "sales/_delta_log/00000000000000000000.json",
            "a/",
            "a/b/",
        ] {
            validate_path(ok).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "a//",
            "/",
            "../",
            "./a",
            "a\0b",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        validate_prefix("").unwrap();
        validate_prefix("a/").unwrap();
        assert!(validate_prefix("../").is_err());
    }
}
