//! MLflow's search grammar: `filter` strings such as
//! `metrics.rmse < 1 AND params.model = 'ets' AND tags.team LIKE 'fc%'`,
//! `order_by` terms such as `metrics.rmse ASC`, and page tokens. One parser
//! for runs, experiments, registered models, versions and logged models;
//! each entity says what a key means through a lookup.

use std::cmp::Ordering;

use base64::Engine;

use crate::error::{Result, ServerError};

/// What a term names: `metrics.k`, `params.k`, `tags.k`, an attribute, or
/// a dataset field (`datasets.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Metric,
    Param,
    Tag,
    Attr,
    Dataset,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    NotNull,
}

#[derive(Debug, Clone)]
pub struct Cond {
    kind: Kind,
    key: String,
    op: Op,
    values: Vec<Val>,
}

fn bad(msg: impl Into<String>) -> ServerError {
    ServerError::InvalidArgument(msg.into())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Num(f64),
    Sym(String),
}

fn lex(s: &str) -> Result<Vec<Tok>> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '\'' || ch == '"' || ch == '`' {
            let mut j = i + 1;
            let mut t = String::new();
            while j < c.len() && c[j] != ch {
                t.push(c[j]);
                j += 1;
            }
            if j == c.len() {
                return Err(bad(format!("unterminated quote in filter: {s}")));
            }
            // A back-quoted or double-quoted key follows a prefix's dot.
            if ch != '\'' && matches!(out.last(), Some(Tok::Word(w)) if w.ends_with('.')) {
                if let Some(Tok::Word(w)) = out.last_mut() {
                    w.push_str(&t);
                }
            } else {
                out.push(Tok::Quoted(t));
            }
            i = j + 1;
        } else if "=!<>".contains(ch) {
            let two = c.get(i + 1) == Some(&'=');
            out.push(Tok::Sym(if two {
                format!("{ch}=")
            } else {
                ch.to_string()
            }));
            i += if two { 2 } else { 1 };
        } else if "(),".contains(ch) {
            out.push(Tok::Sym(ch.to_string()));
            i += 1;
        } else if ch.is_ascii_digit() || ((ch == '-' || ch == '.') && i + 1 < c.len()) {
            let mut j = i + 1;
            while j < c.len() && (c[j].is_ascii_alphanumeric() || ".+-".contains(c[j])) {
                j += 1;
            }
            let t: String = c[i..j].iter().collect();
            out.push(Tok::Num(
                t.parse()
                    .map_err(|_| bad(format!("not a number in filter: {t}")))?,
            ));
            i = j;
        } else {
            let mut j = i;
            while j < c.len() && !c[j].is_whitespace() && !"=!<>(),'\"`".contains(c[j]) {
                j += 1;
            }
            if j == i {
                return Err(bad(format!("unexpected {ch:?} in filter: {s}")));
            }
            out.push(Tok::Word(c[i..j].iter().collect()));
            i = j;
        }
    }
    Ok(out)
}

/// `metrics.rmse` → (Metric, "rmse"); a bare name is an attribute.
fn ident(w: &str) -> Result<(Kind, String)> {
    let (prefix, key) = match w.split_once('.') {
        Some((p, k)) => (p.to_ascii_lowercase(), k.to_string()),
        None => return Ok((Kind::Attr, w.to_string())),
    };
    let kind = match prefix.as_str() {
        "metric" | "metrics" => Kind::Metric,
        "param" | "params" | "parameter" | "parameters" => Kind::Param,
        "tag" | "tags" => Kind::Tag,
        "attribute" | "attributes" | "attr" | "run" => Kind::Attr,
        "dataset" | "datasets" => Kind::Dataset,
        _ => return Err(bad(format!("invalid entity type '{prefix}' in {w}"))),
    };
    if key.is_empty() {
        return Err(bad(format!("a key must follow {prefix}.")));
    }
    Ok((kind, key))
}

pub fn parse_filter(s: &str) -> Result<Vec<Cond>> {
    let toks = lex(s)?;
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) => Some(w.to_ascii_uppercase()),
        _ => None,
    };
    while i < toks.len() {
        let Some(Tok::Word(w)) = toks.get(i) else {
            return Err(bad(format!("expected a key in filter: {s}")));
        };
        let (kind, key) = ident(w)?;
        i += 1;
        let op = match (toks.get(i), word(i).as_deref(), word(i + 1).as_deref()) {
            (Some(Tok::Sym(o)), ..) => match o.as_str() {
                "=" | "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                _ => return Err(bad(format!("invalid comparator '{o}' in filter: {s}"))),
            },
            (_, Some("LIKE"), _) => Op::Like,
            (_, Some("ILIKE"), _) => Op::ILike,
            (_, Some("IN"), _) => Op::In,
            (_, Some("NOT"), Some("IN")) => {
                i += 1;
                Op::NotIn
            }
            (_, Some("IS"), Some("NULL")) => {
                i += 1;
                Op::IsNull
            }
            (_, Some("IS"), Some("NOT")) if word(i + 2).as_deref() == Some("NULL") => {
                i += 2;
                Op::NotNull
            }
            _ => {
                return Err(bad(format!(
                    "expected a comparator after {w} in filter: {s}"
                )));
            }
        };
        i += 1;
        let mut values = Vec::new();
        match op {
            Op::IsNull | Op::NotNull => {}
            Op::In | Op::NotIn => {
                if toks.get(i) != Some(&Tok::Sym("(".into())) {
                    return Err(bad(format!("IN takes a list in parentheses: {s}")));
                }
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Quoted(q)) => values.push(Val::Str(q.clone())),
                        Some(Tok::Num(n)) => values.push(Val::Num(*n)),
                        _ => return Err(bad(format!("expected a value in the list: {s}"))),
                    }
                    i += 1;
                    match toks.get(i) {
                        Some(Tok::Sym(c)) if c == "," => i += 1,
                        Some(Tok::Sym(c)) if c == ")" => {
                            i += 1;
                            break;
                        }
                        _ => return Err(bad(format!("unclosed list in filter: {s}"))),
                    }
                }
            }
            _ => {
                match toks.get(i) {
                    Some(Tok::Quoted(q)) => values.push(Val::Str(q.clone())),
                    Some(Tok::Num(n)) => values.push(Val::Num(*n)),
                    _ => return Err(bad(format!("expected a value after {w} in filter: {s}"))),
                }
                i += 1;
            }
        }
        if kind == Kind::Metric && !matches!(values.first(), None | Some(Val::Num(_))) {
            return Err(bad(format!("metrics.{key} compares with a number: {s}")));
        }
        out.push(Cond {
            kind,
            key,
            op,
            values,
        });
        match word(i).as_deref() {
            None if i >= toks.len() => {}
            Some("AND") => {
                i += 1;
                if i >= toks.len() {
                    return Err(bad(format!("filter ends with AND: {s}")));
                }
            }
            _ => {
                return Err(bad(format!(
                    "terms are joined by AND; OR is not supported: {s}"
                )));
            }
        }
    }
    Ok(out)
}

/// SQL's LIKE: `%` any run, `_` one character.
pub fn like(pattern: &str, text: &str, fold: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Num(x), Val::Str(y)) | (Val::Str(y), Val::Num(x)) => {
            let y: f64 = y.parse().ok()?;
            let o = x.partial_cmp(&y)?;
            Some(if matches!(a, Val::Num(_)) {
                o
            } else {
                o.reverse()
            })
        }
    }
}

impl Cond {
    /// Whether the entity whose values `get` looks up meets the term. A
    /// run without the key meets only `IS NULL`; in the registry, a model
    /// without the tag also meets `!=` and `NOT IN` (as MLflow's own
    /// client relies on: it adds `tag.mlflow.prompt.is_prompt != 'true'`).
    pub fn holds(&self, get: &dyn Fn(Kind, &str) -> Option<Val>, absent_differs: bool) -> bool {
        let v = get(self.kind, &self.key);
        let Some(v) = v else {
            return self.op == Op::IsNull
                || (absent_differs && matches!(self.op, Op::Ne | Op::NotIn));
        };
        let first = self.values.first();
        let text = |v: &Val| match v {
            Val::Str(s) => s.clone(),
            Val::Num(n) => n.to_string(),
        };
        match self.op {
            Op::IsNull => false,
            Op::NotNull => true,
            Op::In => self
                .values
                .iter()
                .any(|x| compare(&v, x) == Some(Ordering::Equal)),
            Op::NotIn => !self
                .values
                .iter()
                .any(|x| compare(&v, x) == Some(Ordering::Equal)),
            Op::Like | Op::ILike => {
                first.is_some_and(|p| like(&text(p), &text(&v), self.op == Op::ILike))
            }
            op => {
                let Some(o) = first.and_then(|x| compare(&v, x)) else {
                    return false;
                };
                match op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Ne => o != Ordering::Equal,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                    Op::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }
            }
        }
    }
}

pub fn holds_all(conds: &[Cond], get: &dyn Fn(Kind, &str) -> Option<Val>) -> bool {
    conds.iter().all(|c| c.holds(get, false))
}

/// [`holds_all`] for registry entities.
pub fn holds_all_registry(conds: &[Cond], get: &dyn Fn(Kind, &str) -> Option<Val>) -> bool {
    conds.iter().all(|c| c.holds(get, true))
}

#[derive(Debug, Clone)]
pub struct OrderKey {
    kind: Kind,
    key: String,
    asc: bool,
}

/// `order_by` terms: `metrics.rmse`, `attributes.start_time DESC`.
pub fn parse_order(terms: &[String]) -> Result<Vec<OrderKey>> {
    terms
        .iter()
        .map(|t| {
            let toks = lex(t)?;
            let (name, dir) = match toks.as_slice() {
                [Tok::Word(w)] => (w.clone(), None),
                [Tok::Word(w), Tok::Word(d)] => (w.clone(), Some(d.to_ascii_uppercase())),
                _ => return Err(bad(format!("invalid order_by clause '{t}'"))),
            };
            let asc = match dir.as_deref() {
                None | Some("ASC") => true,
                Some("DESC") => false,
                Some(d) => return Err(bad(format!("invalid ordering '{d}' in '{t}'"))),
            };
            let (kind, key) = ident(&name)?;
            Ok(OrderKey { kind, key, asc })
        })
        .collect()
}

/// Orders two entities by `keys`; a missing value goes last either way.
pub fn order(
    keys: &[OrderKey],
    a: &dyn Fn(Kind, &str) -> Option<Val>,
    b: &dyn Fn(Kind, &str) -> Option<Val>,
) -> Ordering {
    for k in keys {
        let o = match (a(k.kind, &k.key), b(k.kind, &k.key)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = compare(&x, &y).unwrap_or(Ordering::Equal);
                if k.asc { o } else { o.reverse() }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The offset a page token stands for.
pub fn offset(token: Option<&str>) -> Result<usize> {
    let Some(t) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| bad(format!("invalid page token {t}")))?;
    let v: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|_| bad(format!("invalid page token {t}")))?;
    v["offset"]
        .as_u64()
        .map(|o| o as usize)
        .ok_or_else(|| bad(format!("invalid page token {t}")))
}

/// The token of the page after `end` of `total` items, if there is one.
pub fn next_token(end: usize, total: usize) -> Option<String> {
    (end < total).then(|| {
        base64::engine::general_purpose::STANDARD
            .encode(serde_json::json!({ "offset": end }).to_string())
    })
}
