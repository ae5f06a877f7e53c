//! Connections to the lake's PostgreSQL, each owned by a thread of its own.
//!
//! The `postgres` client drives its connection with a private runtime and
//! panics when used from an async runtime's thread; the metadata trait is
//! synchronous and called from async code (as SQLite is). So each
//! connection lives on a pool thread, callers hand it a closure and wait
//! for the answer (leaving a multi-threaded runtime's worker with
//! `block_in_place`, so other tasks move on meanwhile). A connection that
//! fails is dropped and made again on its next use.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::mpsc::{Receiver, Sender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement, Transaction};

use crate::error::{Result, StoreError};

/// Threads (and so connections at most) per process.
const THREADS: usize = 8;

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        match e.as_db_error() {
            // A NUL byte or broken UTF-8 from a client: no stored name can
            // contain it, so it is bad input, not a failure.
            Some(db) if db.code().code() == "22021" => StoreError::InvalidArgument(format!(
                "a name or path holds a byte the lake never stores: {}",
                db.message()
            )),
            // The server is going away or cannot take the connection
            // (shutdown, restart, too many clients): the connection is
            // dropped and the caller told to retry, as when it is down.
            Some(db)
                if ["57", "08", "53"]
                    .iter()
                    .any(|class| db.code().code().starts_with(class)) =>
            {
                StoreError::Unavailable(format!("{} ({})", db.message(), db.code().code()))
            }
            Some(db) => StoreError::Postgres(format!("{} ({})", db.message(), db.code().code())),
            // No answer from the server: refused, reset, closed, timed out.
            None => StoreError::Unavailable(e.to_string()),
        }
    }
}

/// Where the lake's metadata is: a `postgres://` URL, with `?schema=NAME`
/// to keep several lakes in one database.
#[derive(Clone)]
pub(crate) struct Target {
    config: postgres::Config,
    pub schema: Option<String>,
    /// The key of the lake's write lock (`pg_advisory_xact_lock`).
    pub lock_key: i64,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target> {
        let bad = |m: String| StoreError::InvalidArgument(format!("metadata URL: {m}"));
        let mut u = url::Url::parse(url).map_err(|e| bad(format!("{url:?}: {e}")))?;
        if !matches!(u.scheme(), "postgres" | "postgresql") {
            return Err(bad(format!(
                "{}: is not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE?schema=NAME)",
                u.scheme()
            )));
        }
        if u.password().is_some() {
            return Err(bad(
                "a password is not written to the lake's descriptor: give it in PGPASSWORD".into(),
            ));
        }
        let mut schema = None;
        let rest: Vec<(String, String)> = u
            .query_pairs()
            .filter_map(|(k, v)| {
                if k == "schema" {
                    schema = Some(v.into_owned());
                    None
                } else {
                    Some((k.into_owned(), v.into_owned()))
                }
            })
            .collect();
        u.set_query(None);
        if !rest.is_empty() {
            u.query_pairs_mut().extend_pairs(rest);
        }
        if let Some(s) = &schema
            && !(s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && s.len() <= 63)
        {
            return Err(bad(format!(
                "schema {s:?}: use lower-case letters, digits and _ (at most 63)"
            )));
        }
        let mut config = postgres::Config::from_str(u.as_str()).map_err(|e| bad(e.to_string()))?;
        if let Ok(p) = std::env::var("PGPASSWORD") {
            config.password(p);
        }
        config.connect_timeout(Duration::from_secs(5));
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("weir");
        // A statement that hangs fails instead of holding a request forever.
        config.options("-c statement_timeout=60000");
        let lock_key =
            crate::tree::fnv1a64(&format!("weir:{}", schema.as_deref().unwrap_or("public"))) as i64;
        Ok(Target {
            config,
            schema,
            lock_key,
        })
    }
}

/// One connection with its prepared statements.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    lock_key: i64,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Conn {
    fn open(t: &Target) -> Result<Conn> {
        let mut client = t.config.connect(NoTls)?;
        if let Some(s) = &t.schema {
            client.batch_execute(&format!("SET search_path TO \"{s}\""))?;
        }
        Ok(Conn {
            client,
            statements: HashMap::new(),
            lock_key: t.lock_key,
        })
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub fn query(&mut self, sql: &'static str, params: Params<'_>) -> Result<Vec<Row>> {
        let st = self.statement(sql)?;
        Ok(self.client.query(&st, params)?)
    }

    pub fn query_opt(&mut self, sql: &'static str, params: Params<'_>) -> Result<Option<Row>> {
        let st = self.statement(sql)?;
        Ok(self.client.query_opt(&st, params)?)
    }

    pub fn query_one(&mut self, sql: &'static str, params: Params<'_>) -> Result<Row> {
        let st = self.statement(sql)?;
        Ok(self.client.query_one(&st, params)?)
    }

    /// A statement built at run time (not cached).
    pub fn query_dyn(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        Ok(self.client.query(sql, params)?)
    }

    pub fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.client.batch_execute(sql)?)
    }

    /// A write transaction holding the lake's lock until it ends.
    pub fn write(&mut self) -> Result<Transaction<'_>> {
        let key = self.lock_key;
        let mut tx = self.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
        Ok(tx)
    }
}

type Job = Box<dyn FnOnce(&mut Option<Conn>, &Target) + Send>;

pub(crate) struct Pool {
    jobs: Mutex<Sender<Job>>,
    pub target: Target,
}

impl Pool {
    pub fn new(url: &str) -> Result<Pool> {
        let target = Target::parse(url)?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..THREADS {
            let (rx, target) = (rx.clone(), target.clone());
            std::thread::Builder::new()
                .name(format!("weir-pg-{i}"))
                .spawn(move || serve(&rx, &target))
                .map_err(StoreError::Io)?;
        }
        Ok(Pool {
            jobs: Mutex::new(tx),
            target,
        })
    }

    /// Runs `f` on a connection and waits for its answer.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = sync_channel::<Result<T>>(1);
        let job: Job = Box::new(move |slot, target| {
            let out = match slot {
                Some(c) if !c.client.is_closed() => f(c),
                _ => match Conn::open(target) {
                    Ok(c) => f(slot.insert(c)),
                    Err(e) => Err(e),
                },
            };
            if matches!(out, Err(StoreError::Unavailable(_))) {
                *slot = None;
            }
            let _ = tx.send(out);
        });
        self.jobs
            .lock()
            .map_err(|_| StoreError::Unavailable("the connection pool stopped".into()))?
            .send(job)
            .map_err(|_| StoreError::Unavailable("the connection pool stopped".into()))?;
        let wait = || {
            rx.recv()
                .unwrap_or_else(|_| Err(StoreError::Unavailable("a pool thread stopped".into())))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

/// A pool thread: takes jobs until the pool is dropped.
fn serve(rx: &Mutex<Receiver<Job>>, target: &Target) {
    let mut conn: Option<Conn> = None;
    loop {
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut conn, target),
            Err(_) => return,
        }
    }
}
