//! Path globs of on-commit triggers, as lakeFS actions and .gitignore
//! write them: `*` is any run of characters within one path segment,
//! `**` any run across segments (`raw/**` is everything under `raw/`),
//! `?` one character.

/// Whether `path` matches `glob`.
pub fn path_glob(glob: &str, path: &str) -> bool {
    matches(glob.as_bytes(), path.as_bytes())
}

fn matches(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            // `**/` also matches no directory at all: `raw/**/x` holds `raw/x`.
            let rest = &p[2..];
            if let Some(after) = rest.strip_prefix(b"/")
                && matches(after, t)
            {
                return true;
            }
            (0..=t.len()).any(|i| matches(rest, &t[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            let segment = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
            (0..=segment).any(|i| matches(rest, &t[i..]))
        }
        Some(b'?') => t.first().is_some_and(|&c| c != b'/') && matches(&p[1..], &t[1..]),
        Some(&c) => t.first() == Some(&c) && matches(&p[1..], &t[1..]),
    }
}
