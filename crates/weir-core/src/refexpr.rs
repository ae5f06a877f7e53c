//! Ref expressions, as lakeFS and git spell them.
//!
//! `main`, `v1.0`, `3fa9c2d1` (a unique commit-id prefix), `main~2` (second
//! first-parent ancestor), `main^2` (second parent of a merge), `main@` (the
//! branch's committed state, without uncommitted changes). Modifiers chain:
//! `main@~1^2`.

use std::fmt;

use crate::error::CoreError;

/// One navigation step after the base ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefStep {
    /// `~N`: follow the first parent N times.
    Ancestor(u32),
    /// `^N`: take the N-th parent (1-based).
    Parent(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefExpr {
    /// A branch, tag or commit-id prefix.
    pub base: String,
    /// `branch@`: ignore the branch's uncommitted changes.
    pub committed_only: bool,
    pub steps: Vec<RefStep>,
}

impl RefExpr {
    pub fn parse(expr: &str) -> Result<RefExpr, CoreError> {
        let bad = |reason: &str| CoreError::InvalidRef {
            expr: expr.to_string(),
            reason: reason.to_string(),
        };
        let split = expr.find(['~', '^']).unwrap_or(expr.len());
        let (head, mut rest) = expr.split_at(split);
        let (base, committed_only) = match head.strip_suffix('@') {
            Some(b) => (b, true),
            None => (head, false),
        };
        if base.is_empty() {
            return Err(bad("it names no branch, tag or commit"));
        }
        if !base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(bad(
                "a ref is a branch, tag or commit id, optionally followed by @, ~N or ^N",
            ));
        }
        let mut steps = Vec::new();
        while let Some(op) = rest.chars().next() {
            rest = &rest[1..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let n = if digits == 0 {
                1
            } else {
                rest[..digits]
                    .parse::<u32>()
                    .map_err(|_| bad("the number after ~ or ^ is too large"))?
            };
            rest = &rest[digits..];
            steps.push(match op {
                '~' => RefStep::Ancestor(n),
                '^' => RefStep::Parent(n),
                _ => return Err(bad("only ~N and ^N may follow the ref")),
            });
        }
        Ok(RefExpr {
            base: base.to_string(),
            committed_only,
            steps,
        })
    }

    /// True when the expression is a bare name, so it can be written to.
    pub fn is_plain(&self) -> bool {
        !self.committed_only && self.steps.is_empty()
    }
}

impl fmt::Display for RefExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        if self.committed_only {
            f.write_str("@")?;
        }
        for s in &self.steps {
            match s {
                RefStep::Ancestor(n) => write!(f, "~{n}")?,
                RefStep::Parent(n) => write!(f, "^{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lakefs_forms() {
        let r = RefExpr::parse("main").unwrap();
        assert!(r.is_plain());
        let r = RefExpr::parse("main@").unwrap();
        assert!(r.committed_only && r.steps.is_empty());
        let r = RefExpr::parse("main~2^2~").unwrap();
        assert_eq!(
            r.steps,
            vec![
                RefStep::Ancestor(2),
                RefStep::Parent(2),
                RefStep::Ancestor(1)
            ]
        );
        assert_eq!(r.to_string(), "main~2^2~1");
        let r = RefExpr::parse("v1.0^").unwrap();
        assert_eq!(r.base, "v1.0");
        assert_eq!(r.steps, vec![RefStep::Parent(1)]);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "@",
            "~1",
            "main~x",
            "ma in",
            "a/b",
            "main~99999999999",
            "main@@",
        ] {
            assert!(RefExpr::parse(bad).is_err(), "{bad}");
        }
    }
}
