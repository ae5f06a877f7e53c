//! Answers for the hottest metadata reads (repository records, branch and
//! tag heads, a branch's head with one staged path), kept for as long as the
//! database provably has not changed.
//!
//! A server resolves a branch on every request. In SQLite that is a read
//! transaction, and in WAL mode each one takes and drops a shared lock on a
//! read-mark slot of the `-shm` file (`fcntl`, behind a process-wide mutex
//! in SQLite's unix VFS): profiled under load it was most of a request's
//! metadata cost. A time-to-live would make a commit by another process (the
//! CLI beside `weir serve`) invisible for that long, so instead every cached
//! answer is tagged with the WAL-index header, which SQLite rewrites on
//! every committed write transaction, from any process
//! (<https://sqlite.org/walformat.html>, "The WAL-Index Header"). If the
//! header read now equals the tag, no transaction has committed since the
//! answer was read and it still holds. Reading the header is 96 bytes of
//! memory: the file is mapped as SQLite maps it (see [`Mapped`] for why
//! that is safe); a `pread` per lookup cost a system call each, two per
//! served request, about 6 % of a small request's time.
//!
//! The header is stored twice; a writer updates the second copy, then the
//! first. Two equal copies with the initialised flag set are a consistent
//! header; anything else (a write in progress, a database not in WAL mode,
//! no `-shm` file) means "unknown" and the read goes to SQLite uncached.
//! The header changes on every commit (the frame count, checksums and, after
//! a WAL reset, the random salts), so equal bytes mean the same snapshot.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock};

use super::{RepoRecord, StagedRow};

/// One copy of the WAL-index header.
const HEADER: usize = 48;
/// Offset of `isInit` in the header.
const IS_INIT: usize = 12;
/// Cached answers of each kind before the cache starts over.
const LIMIT: usize = 8192;

type Stamp = [u8; HEADER];
/// A branch head with the staged row of one path (or none).
pub(crate) type Lookup = Option<(String, Option<StagedRow>)>;

/// Maps nested by key part, so a lookup borrows the caller's strings
/// (a map keyed by a tuple of `String`s needs the tuple built, three
/// allocations, for every lookup).
type By<V> = HashMap<String, V>;

#[derive(Default)]
struct Answers {
    stamp: Option<Stamp>,
    /// Answers stored since the last reset.
    count: usize,
    repos: By<Option<Arc<RepoRecord>>>,
    /// table → repository → name → commit id.
    refs: HashMap<&'static str, By<By<Option<String>>>>,
    /// repository → branch → path → head and staged row.
    lookups: By<By<By<Lookup>>>,
    /// repository → branch → path → staged row.
    staged: By<By<By<Option<StagedRow>>>>,
}

/// The innermost map for a key of three parts, made on first use.
fn slot3<'a, V>(m: &'a mut By<By<By<V>>>, a: &str, b: &str) -> &'a mut By<V> {
    m.entry(a.to_string())
        .or_default()
        .entry(b.to_string())
        .or_default()
}

pub(crate) struct Hot {
    shm_path: std::path::PathBuf,
    /// Mapped on first use: the file exists once a connection has put the
    /// database in WAL mode. While this store's own connections are open
    /// SQLite does not delete or replace it, so the mapping stays right.
    shm: OnceLock<Mapped>,
    answers: Mutex<Answers>,
}

/// The two header copies at the start of a `-shm` file, mapped shared and
/// read-only, as every SQLite connection maps the file.
///
/// Reading a mapping past the end of its file raises SIGBUS, so this
/// relies on the file never shrinking below the header while mapped.
/// SQLite shrinks a `-shm` file in one place only: the first connection
/// to a database, finding no process holding the "DMS" lock, truncates it
/// to 3 bytes (`unixLockSharedMemory`). A `Hot` belongs to a store whose
/// own connection is open for as long as the store can be read, and that
/// connection holds the DMS lock, so no connection anywhere can be
/// "first" while this mapping is read. Deleting the file (SQLite's last
/// connection may unlink it) leaves the mapping valid.
struct Mapped {
    words: NonNull<AtomicU32>,
}

// The mapping is read only through atomic loads.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    fn new(file: &File) -> Option<Mapped> {
        if file.metadata().ok()?.len() < 2 * HEADER as u64 {
            return None;
        }
        // SAFETY: a fresh read-only shared mapping of an open descriptor;
        // nothing else in the process refers to the returned address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * HEADER,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(p.cast()).map(|words| Mapped { words })
    }

    /// Both copies, the first read before the second, as SQLite's readers
    /// do: a writer updates the second copy first, so equal copies are not
    /// a header caught half-written.
    fn read(&self) -> [u8; 2 * HEADER] {
        // SAFETY: the mapping is page-aligned and at least 96 bytes long
        // for as long as `self` lives (see the type's comment); other
        // processes write it concurrently, so it is read only atomically.
        let words = unsafe { std::slice::from_raw_parts(self.words.as_ptr(), 2 * HEADER / 4) };
        let mut out = [0u8; 2 * HEADER];
        for (i, w) in words.iter().enumerate() {
            if i == HEADER / 4 {
                fence(Ordering::SeqCst);
            }
            out[4 * i..4 * i + 4].copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        out
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.words.as_ptr().cast(), 2 * HEADER) };
    }
}

/// Descriptors of `-shm` files by (device, inode), never closed. Closing
/// any descriptor of a file drops every POSIX lock the process holds on
/// it, SQLite's read locks on the same file included
/// (<https://sqlite.org/howtocorrupt.html>, 2.2): a descriptor of our own
/// closed beside a live connection would let a writer overwrite frames a
/// reader is still using. So each file is opened once per process and kept.
static SHM_FILES: Mutex<Vec<(FileId, Arc<File>)>> = Mutex::new(Vec::new());

/// (device, inode).
type FileId = (u64, u64);

fn open_shm(path: &Path) -> Option<Arc<File>> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).ok()?;
    let key = (md.dev(), md.ino());
    let mut files = SHM_FILES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, f)) = files.iter().find(|(k, _)| *k == key) {
        return Some(f.clone());
    }
    let f = File::open(path).ok()?;
    let opened = f.metadata().ok().map(|m| (m.dev(), m.ino()));
    if opened != Some(key) {
        // Replaced between the two looks: keep it open all the same.
        std::mem::forget(f);
        return None;
    }
    let f = Arc::new(f);
    files.push((key, f.clone()));
    Some(f)
}

impl Hot {
    pub(crate) fn new(db: &Path) -> Hot {
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        Hot {
            shm_path: shm.into(),
            shm: OnceLock::new(),
            answers: Mutex::new(Answers::default()),
        }
    }

    /// The current WAL-index header, when it can be read consistently.
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        let mapped = match self.shm.get() {
            Some(m) => m,
            // Not mapped yet (or the file is not there yet): try again, and
            // keep the mapping once made.
            None => {
                let m = Mapped::new(&*open_shm(&self.shm_path)?)?;
                self.shm.get_or_init(|| m)
            }
        };
        let buf = mapped.read();
        let (a, b) = buf.split_at(HEADER);
        (a == b && a[IS_INIT] != 0).then(|| a.try_into().expect("header size"))
    }

    /// The answer `get` finds, or else `read`'s, remembered with `put`,
    /// when the database has not changed since it was stored. The stamp is
    /// taken before the read: if the database changes in between, the
    /// answer is newer than its tag, which only costs a miss later.
    fn cached<V: Clone>(
        &self,
        get: impl FnOnce(&Answers) -> Option<&V>,
        put: impl FnOnce(&mut Answers, V),
        read: impl FnOnce() -> crate::error::Result<V>,
    ) -> crate::error::Result<V> {
        let Some(stamp) = self.stamp() else {
            return read();
        };
        {
            let a = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            if a.stamp == Some(stamp)
                && let Some(v) = get(&a)
            {
                return Ok(v.clone());
            }
        }
        let v = read()?;
        let mut a = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if a.stamp != Some(stamp) || a.count >= LIMIT {
            *a = Answers {
                stamp: Some(stamp),
                ..Answers::default()
            };
        }
        a.count += 1;
        put(&mut a, v.clone());
        Ok(v)
    }

    pub(crate) fn repo(
        &self,
        name: &str,
        read: impl FnOnce() -> crate::error::Result<Option<Arc<RepoRecord>>>,
    ) -> crate::error::Result<Option<Arc<RepoRecord>>> {
        self.cached(
            |a| a.repos.get(name),
            |a, v| {
                a.repos.insert(name.to_string(), v);
            },
            read,
        )
    }

    pub(crate) fn reference(
        &self,
        table: &'static str,
        repo: &str,
        name: &str,
        read: impl FnOnce() -> crate::error::Result<Option<String>>,
    ) -> crate::error::Result<Option<String>> {
        self.cached(
            |a| a.refs.get(table)?.get(repo)?.get(name),
            |a, v| {
                let by_repo = a.refs.entry(table).or_default();
                let names = by_repo.entry(repo.to_string()).or_default();
                names.insert(name.to_string(), v);
            },
            read,
        )
    }

    pub(crate) fn lookup(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        read: impl FnOnce() -> crate::error::Result<Lookup>,
    ) -> crate::error::Result<Lookup> {
        self.cached(
            |a| a.lookups.get(repo)?.get(branch)?.get(path),
            |a, v| {
                slot3(&mut a.lookups, repo, branch).insert(path.to_string(), v);
            },
            read,
        )
    }

    pub(crate) fn staged(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        read: impl FnOnce() -> crate::error::Result<Option<StagedRow>>,
    ) -> crate::error::Result<Option<StagedRow>> {
        self.cached(
            |a| a.staged.get(repo)?.get(branch)?.get(path),
            |a, v| {
                slot3(&mut a.staged, repo, branch).insert(path.to_string(), v);
            },
            read,
        )
    }
}
