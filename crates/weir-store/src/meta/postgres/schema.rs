//! The lake's tables on PostgreSQL and their versions: `weir init`
//! applies every migration, opening applies the ones this binary adds and
//! refuses a lake made by a newer weir.

use postgres::Transaction;

use super::PgMeta;
use super::pool::Conn;
use crate::error::{Result, StoreError};

/// Versioned schema migrations: the lake's `format` row names how many have
/// been applied. A lake newer than this binary is refused.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS lake (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (
    name TEXT COLLATE "C" PRIMARY KEY, namespace TEXT NOT NULL, default_branch TEXT NOT NULL,
    storage_namespace TEXT NOT NULL, created BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS commits (
    repo TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, parents TEXT NOT NULL,
    metarange TEXT NOT NULL, message TEXT NOT NULL, committer TEXT NOT NULL,
    created BIGINT NOT NULL, metadata TEXT NOT NULL, generation BIGINT NOT NULL,
    PRIMARY KEY (repo, id));
CREATE TABLE IF NOT EXISTS branches (
    repo TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, commit_id TEXT NOT NULL,
    PRIMARY KEY (repo, name));
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, commit_id TEXT NOT NULL,
    PRIMARY KEY (repo, name));
CREATE TABLE IF NOT EXISTS staging (
    repo TEXT COLLATE "C" NOT NULL, branch TEXT COLLATE "C" NOT NULL,
    path TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL, entry BYTEA,
    PRIMARY KEY (repo, branch, path));
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, actor TEXT NOT NULL,
    operation TEXT NOT NULL, repo TEXT NOT NULL, ref TEXT NOT NULL,
    before TEXT, after TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    repo TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL,
    branch TEXT NOT NULL, path TEXT NOT NULL, content_type TEXT, metadata TEXT NOT NULL,
    initiated BIGINT NOT NULL, PRIMARY KEY (repo, id));
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (repo, key, id);
CREATE TABLE IF NOT EXISTS upload_parts (
    repo TEXT COLLATE "C" NOT NULL, upload TEXT COLLATE "C" NOT NULL, part INTEGER NOT NULL,
    entry BYTEA NOT NULL, PRIMARY KEY (repo, upload, part));
CREATE TABLE IF NOT EXISTS access_keys (
    id TEXT COLLATE "C" PRIMARY KEY, nonce BYTEA NOT NULL, sealed BYTEA NOT NULL,
    username TEXT NOT NULL, created BIGINT NOT NULL);
"#,
    r#"
CREATE TABLE IF NOT EXISTS settings (
    repo TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (repo, key));
"#,
];

impl PgMeta {
    /// Creates the lake's schema (and the schema itself when the URL names
    /// one) in an empty database or schema.
    pub fn create(url: &str) -> Result<PgMeta> {
        let m = PgMeta::connect(url)?;
        let schema = m.pool.target.schema.clone();
        m.pool.run(move |c: &mut Conn| {
            if let Some(s) = &schema {
                c.batch(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))?;
            }
            let mut tx = c.write()?;
            let made = tx
                .query_opt(
                    "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'lake'",
                    &[],
                )?
                .is_some();
            if made
                && tx
                    .query_opt("SELECT value FROM lake WHERE key = 'format'", &[])?
                    .is_some()
            {
                return Err(StoreError::AlreadyExists {
                    kind: "lake",
                    name: "in this PostgreSQL schema (give another ?schema=)".into(),
                });
            }
            migrate(&mut tx, 0)?;
            tx.commit()?;
            Ok(())
        })?;
        Ok(m)
    }

    /// Opens a lake's schema, applying newer migrations of this binary and
    /// refusing a lake made by a newer one.
    pub fn open(url: &str) -> Result<PgMeta> {
        let m = PgMeta::connect(url)?;
        m.pool.run(|c: &mut Conn| {
            let mut tx = c.write()?;
            let applied = match tx.query_opt("SELECT value FROM lake WHERE key = 'format'", &[]) {
                Ok(Some(r)) => r.get::<_, String>(0).parse::<usize>().unwrap_or(usize::MAX),
                Ok(None) | Err(_) => {
                    return Err(StoreError::NotALake {
                        path: "the PostgreSQL schema".into(),
                        hint: "it holds no weir lake (weir init --meta postgres://... creates one)"
                            .into(),
                    });
                }
            };
            if applied > MIGRATIONS.len() {
                return Err(StoreError::NotALake {
                    path: "the PostgreSQL schema".into(),
                    hint: format!(
                        "the lake's metadata is at format {applied}, newer than this weir reads ({}): upgrade weir",
                        MIGRATIONS.len()
                    ),
                });
            }
            migrate(&mut tx, applied)?;
            tx.commit()?;
            Ok(())
        })?;
        Ok(m)
    }
}

/// Applies the migrations after the first `applied` and records the count.
fn migrate(tx: &mut Transaction<'_>, applied: usize) -> Result<()> {
    for m in &MIGRATIONS[applied..] {
        tx.batch_execute(m)?;
    }
    let n = MIGRATIONS.len().to_string();
    tx.execute(
        "INSERT INTO lake VALUES ('format', $1) ON CONFLICT (key) DO UPDATE SET value = $1",
        &[&n],
    )?;
    Ok(())
}
