//! Access keys: an id and a secret, as lakeFS issues them. The secret is
//! kept encrypted (ChaCha20-Poly1305) under a key of this lake, not hashed:
//! the S3 gateway's SigV4 signatures are HMACs keyed by the secret itself,
//! so the server must be able to recover it (lakeFS stores secrets
//! encrypted for the same reason). Keys live in `auth.db` beside the lake's
//! metadata, or in the lake's metadata itself when it is shared
//! (PostgreSQL), so every server of the lake knows them; the encryption
//! key in `auth.key` (mode 0600) or `WEIR_AUTH_KEY` (64 hex digits), the
//! same for every server of a shared lake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, ServerError};

pub const DB_FILE: &str = "auth.db";
pub const KEY_FILE: &str = "auth.key";

/// A newly created key: the only time the secret is shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub user: String,
    pub creation_date: i64,
}

/// A stored key, without its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub access_key_id: String,
    pub user: String,
    pub creation_date: i64,
}

/// How long a looked-up key is trusted without asking the database again.
/// Every request is authenticated; this keeps SQLite and the decryption off
/// that path. A key deleted by another process (`weir auth delete-key`
/// while `weir serve` runs) stops working within this time.
const KEY_TTL: Duration = Duration::from_secs(10);

type Cached = (Instant, Option<(String, String)>);

/// Where the sealed keys are kept.
enum Rows {
    Local(Mutex<Connection>),
    Shared(std::sync::Arc<dyn weir_store::meta::MetaStore>),
}

pub struct KeyStore {
    rows: Rows,
    cipher: ChaCha20Poly1305,
    cache: Mutex<HashMap<String, Cached>>,
}

fn random_string(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// The lake's encryption key, created on first use.
fn load_or_create_key(path: &Path) -> Result<[u8; 32]> {
    match std::fs::read(path) {
        Ok(b) if b.len() == 32 => {
            let mut k = [0u8; 32];
            k.copy_from_slice(&b);
            Ok(k)
        }
        Ok(_) => Err(ServerError::Keys(format!(
            "{} is not a 32-byte key",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = [0u8; 32];
            rand::rng().fill(&mut k);
            write_private(path, &k).map_err(|e| ServerError::Keys(e.to_string()))?;
            Ok(k)
        }
        Err(e) => Err(ServerError::Keys(format!("{}: {e}", path.display()))),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

impl KeyStore {
    /// Opens (creating if needed) the key store of the lake in `dir`.
    pub fn open(dir: &Path) -> Result<KeyStore> {
        let db = Connection::open(dir.join(DB_FILE))?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS access_keys (
                access_key_id TEXT PRIMARY KEY,
                nonce BLOB NOT NULL,
                secret BLOB NOT NULL,
                user TEXT NOT NULL,
                created INTEGER NOT NULL
            )",
        )?;
        KeyStore::with_rows(dir, Rows::Local(Mutex::new(db)))
    }

    /// The keys of `lake`: in its metadata when that is shared by several
    /// servers, else beside it in `dir`.
    pub fn for_lake(lake: &weir_store::Lake, dir: &Path) -> Result<KeyStore> {
        let meta = lake.meta_store();
        if meta.keeps_access_keys() {
            KeyStore::with_rows(dir, Rows::Shared(meta))
        } else {
            KeyStore::open(dir)
        }
    }

    fn with_rows(dir: &Path, rows: Rows) -> Result<KeyStore> {
        let key = match std::env::var("WEIR_AUTH_KEY") {
            Ok(hex_key) => {
                let b = hex::decode(hex_key.trim())
                    .ok()
                    .filter(|b| b.len() == 32)
                    .ok_or_else(|| {
                        ServerError::Keys("WEIR_AUTH_KEY: give 64 hex digits (32 bytes)".into())
                    })?;
                let mut k = [0u8; 32];
                k.copy_from_slice(&b);
                k
            }
            Err(_) => load_or_create_key(&dir.join(KEY_FILE))?,
        };
        Ok(KeyStore {
            rows,
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(dir: &Path) -> PathBuf {
        dir.join(DB_FILE)
    }

    /// A new key for `user`, in lakeFS's format (`AKIAJ…`, 20 characters;
    /// a 40-character secret).
    pub fn create(&self, user: &str) -> Result<NewKey> {
        if user.is_empty() || user.len() > 128 || user.chars().any(char::is_control) {
            return Err(ServerError::InvalidArgument(
                "user: 1 to 128 printable characters".into(),
            ));
        }
        if user == crate::gate::ANONYMOUS {
            return Err(ServerError::InvalidArgument(
                "user: \"anonymous\" is reserved for unsigned requests".into(),
            ));
        }
        let id = format!(
            "AKIAJ{}",
            random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 15)
        );
        let mut raw = [0u8; 30];
        rand::rng().fill(&mut raw);
        let secret = base64::engine::general_purpose::STANDARD.encode(raw);
        let mut nonce = [0u8; 12];
        rand::rng().fill(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
            .map_err(|e| ServerError::Keys(e.to_string()))?;
        let created = chrono::Utc::now().timestamp();
        match &self.rows {
            Rows::Local(db) => {
                db.lock().unwrap().execute(
                    "INSERT INTO access_keys VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, nonce.to_vec(), sealed, user, created],
                )?;
            }
            Rows::Shared(m) => m.put_access_key(&weir_store::meta::AccessKeyRecord {
                id: id.clone(),
                nonce: nonce.to_vec(),
                sealed,
                user: user.to_string(),
                created,
            })?,
        }
        Ok(NewKey {
            access_key_id: id,
            secret_access_key: secret,
            user: user.to_string(),
            creation_date: created,
        })
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        match &self.rows {
            Rows::Local(db) => {
                let db = db.lock().unwrap();
                let mut st = db.prepare(
                    "SELECT access_key_id, user, created FROM access_keys ORDER BY created, access_key_id",
                )?;
                let rows = st.query_map([], |r| {
                    Ok(KeyInfo {
                        access_key_id: r.get(0)?,
                        user: r.get(1)?,
                        creation_date: r.get(2)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            }
            Rows::Shared(m) => Ok(m
                .list_access_keys()?
                .into_iter()
                .map(|k| KeyInfo {
                    access_key_id: k.id,
                    user: k.user,
                    creation_date: k.created,
                })
                .collect()),
        }
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        let found = match &self.rows {
            Rows::Local(db) => {
                db.lock()
                    .unwrap()
                    .execute("DELETE FROM access_keys WHERE access_key_id = ?1", [id])?
                    > 0
            }
            Rows::Shared(m) => m.delete_access_key(id)?,
        };
        self.cache.lock().unwrap().remove(id);
        if !found {
            return Err(ServerError::NotFound(format!("no access key {id}")));
        }
        Ok(())
    }

    /// The secret and user of `id`, for checking a request.
    pub fn secret(&self, id: &str) -> Result<Option<(String, String)>> {
        if let Some((at, v)) = self.cache.lock().unwrap().get(id)
            && at.elapsed() < KEY_TTL
        {
            return Ok(v.clone());
        }
        let v = self.secret_uncached(id)?;
        let mut cache = self.cache.lock().unwrap();
        // Unknown ids are cached too (a client retrying a wrong key should
        // not reach SQLite each time); the bound keeps a flood of made-up
        // ids from growing the map.
        if cache.len() >= 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < KEY_TTL);
            if cache.len() >= 10_000 {
                cache.clear();
            }
        }
        cache.insert(id.to_string(), (Instant::now(), v.clone()));
        Ok(v)
    }

    /// [`KeyStore::secret`] answered from memory, or None when that would
    /// need the database (so async callers can avoid a blocking call).
    pub fn secret_cached(&self, id: &str) -> Option<Option<(String, String)>> {
        self.fresh(id, Option::clone)
    }

    /// `f` of the remembered secret and user of `id`, unless forgotten or
    /// older than [`KEY_TTL`]; read under the lock, so nothing is copied
    /// that `f` does not return.
    fn fresh<T>(&self, id: &str, f: impl FnOnce(&Option<(String, String)>) -> T) -> Option<T> {
        let cache = self.cache.lock().unwrap();
        let (at, v) = cache.get(id)?;
        (at.elapsed() < KEY_TTL).then(|| f(v))
    }

    /// [`KeyStore::check`] answered from memory, as [`KeyStore::secret_cached`].
    pub fn check_cached(&self, id: &str, secret: &str) -> Option<Option<String>> {
        self.fresh(id, |v| match v {
            Some((s, user)) if constant_time_eq(s.as_bytes(), secret.as_bytes()) => {
                Some(user.clone())
            }
            _ => None,
        })
    }

    fn secret_uncached(&self, id: &str) -> Result<Option<(String, String)>> {
        let row: Option<(Vec<u8>, Vec<u8>, String)> = match &self.rows {
            Rows::Local(db) => db
                .lock()
                .unwrap()
                .query_row(
                    "SELECT nonce, secret, user FROM access_keys WHERE access_key_id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?,
            Rows::Shared(m) => m.get_access_key(id)?.map(|k| (k.nonce, k.sealed, k.user)),
        };
        let Some((nonce, sealed, user)) = row else {
            return Ok(None);
        };
        if nonce.len() != 12 {
            return Err(ServerError::Keys(format!("access key {id}: bad nonce")));
        }
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&nonce), sealed.as_slice())
            .map_err(|_| {
                ServerError::Keys(format!(
                    "access key {id}: cannot decrypt (auth.key changed?)"
                ))
            })?;
        Ok(Some((String::from_utf8_lossy(&plain).into_owned(), user)))
    }

    /// The user when `id` and `secret` match a stored key.
    pub fn check(&self, id: &str, secret: &str) -> Result<Option<String>> {
        Ok(match self.secret(id)? {
            Some((s, user)) if constant_time_eq(s.as_bytes(), secret.as_bytes()) => Some(user),
            _ => None,
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
