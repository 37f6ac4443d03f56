//! The ingest journal: the durability point of a push.
//!
//! Entries are appended to segment files `seg-<base offset>.wal` as frames of
//! `u32 LE length | u32 LE CRC32C(payload) | payload`. One writer thread takes every entry that is
//! waiting, writes them all, calls `fdatasync` once (group commit) and only then answers each
//! caller with the journal offset just past its entry. Offsets are global byte positions across
//! segments. On open, a torn or corrupt tail (a crash mid-write) is cut off: it was never
//! acknowledged. A frame of length 0 is never written, so a run of zero bytes (what some file
//! systems show after a crash for blocks that were allocated but not written) ends the valid
//! prefix instead of reading as empty frames.
//!
//! How a failure is handled (the fault suite in `gateway/tests/faults.rs` and `docs/faults.md`
//! checks each):
//!
//! - **No space** (`ENOSPC`, `EDQUOT`) while writing a group: the file is cut back to the last
//!   good frame, every caller of that group gets [`JournalError::NoSpace`] (the push is refused
//!   with 507), and the next group simply tries again, so ingest resumes by itself once space
//!   returns. [`Journal::status`] says `NoSpace` until a group is durable again.
//! - **A failed `fdatasync`** (or any other write error): the journal marks itself failed and
//!   refuses every later append with [`JournalError::Failed`] until the process restarts. After a
//!   failed fsync the kernel may have dropped the dirty pages and marked them clean, so a retried
//!   fsync can report success for data that never reached the disk (PostgreSQL's "fsyncgate",
//!   2018): retrying and carrying on would acknowledge batches that are not durable. On restart
//!   the tail is read back from the file and verified frame by frame.
//! - **Fault injection** for tests only ([`Faults`], off unless an environment variable sets it,
//!   logged loudly when on): fail `fdatasync` after N good ones, or fail writes half-way with
//!   `ENOSPC` while a marker file exists.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// A segment is closed and a new one started past this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest payload one frame may carry.
pub const MAX_FRAME: usize = 1 << 31;

/// Journal failures: I/O on the journal's disk (operator's side) or a misuse (program).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading or writing a segment failed.
    #[error("journal I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal's disk is full (operator's side): nothing of this entry was kept, and a later
    /// append succeeds once space returns.
    #[error("journal disk full on {path}: {source}")]
    NoSpace {
        /// The segment being written.
        path: PathBuf,
        /// The error the write returned (`ENOSPC` or `EDQUOT`).
        source: std::io::Error,
    },
    /// A write or `fdatasync` failed: whether earlier unsynced data reached the disk is unknown,
    /// so the journal refuses every append until the process restarts (operator's side).
    #[error("the journal could not make data durable and refuses appends until restart")]
    Failed,
    /// The writer thread has stopped; nothing more can be made durable.
    #[error("journal writer has stopped")]
    Closed,
    /// An entry is larger than a frame can carry (program's fault).
    #[error("journal entry too large")]
    TooLarge,
    /// An entry is empty (program's fault): a zero-length frame is never written.
    #[error("journal entry is empty")]
    Empty,
    /// A fault-injection variable has a value that cannot be read (operator's side).
    #[error("fault injection setting: {0}")]
    Fault(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A durable entry handed on to the applier, in journal order.
#[derive(Debug)]
pub struct Durable {
    /// Offset just past the entry.
    pub end_offset: u64,
    /// The entry's payload.
    pub payload: Vec<u8>,
}

/// Notice of a durable entry, sent to the applier in journal order. The payload itself is read
/// back from the segment (the page cache), so entries waiting to be applied cost no heap and the
/// lag bound can be generous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset just past the entry.
    pub end_offset: u64,
    /// Base offset of the segment holding it.
    pub seg_base: u64,
    /// Payload length.
    pub len: u64,
}

/// Reads entries back from their segments, keeping the current segment open.
pub struct SegmentReader {
    dir: PathBuf,
    open: Option<(u64, File)>,
}

impl SegmentReader {
    /// A reader of the journal in `dir`.
    pub fn new(dir: &Path) -> SegmentReader {
        SegmentReader {
            dir: dir.to_path_buf(),
            open: None,
        }
    }

    /// Reads the payload of an appended entry.
    pub fn read(&mut self, a: &Appended) -> Result<Durable, JournalError> {
        let mut d = Durable {
            end_offset: 0,
            payload: Vec::new(),
        };
        self.read_into(a, &mut d)?;
        Ok(d)
    }

    /// Reads the payload of an appended entry into `out`, reusing its buffer: entries are
    /// megabytes, and a fresh buffer for each costs page faults on the applier's thread.
    pub fn read_into(&mut self, a: &Appended, out: &mut Durable) -> Result<(), JournalError> {
        use std::os::unix::fs::FileExt as _;
        if self.open.as_ref().map(|o| o.0) != Some(a.seg_base) {
            let path = segment_path(&self.dir, a.seg_base);
            let f = File::open(&path).map_err(io(&path))?;
            self.open = Some((a.seg_base, f));
        }
        let path = segment_path(&self.dir, a.seg_base);
        let Some((_, f)) = &self.open else {
            return Err(JournalError::Closed);
        };
        out.payload.clear();
        out.payload.resize(a.len as usize, 0);
        let pos = a.end_offset - a.seg_base - a.len;
        f.read_exact_at(&mut out.payload, pos).map_err(io(&path))?;
        out.end_offset = a.end_offset;
        Ok(())
    }
}

struct Append {
    payload: Vec<u8>,
    done: tokio::sync::oneshot::Sender<Result<u64, JournalError>>,
}

/// What the writer thread is asked to do, in order.
enum Job {
    /// Append an entry.
    Append(Append),
    /// Seal the current segment and start the next one (erasure, [`Journal::rotate`]).
    Rotate(tokio::sync::oneshot::Sender<Result<u64, JournalError>>),
}

/// Handle to the journal writer; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Job>,
    health: Arc<Health>,
    faults_on: bool,
}

/// What the writer last saw, for `/readyz` and `/metrics`.
#[derive(Debug, Default)]
struct Health {
    /// A write or fsync failed: every append is refused until restart.
    failed: AtomicBool,
    /// The last group failed for lack of space (cleared by the next durable group).
    no_space: AtomicBool,
}

/// The journal's state as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    /// Appends are made durable.
    Ok,
    /// The last append found the disk full; the next one tries again.
    NoSpace,
    /// A write or fsync failed; appends are refused until restart.
    Failed,
}

impl JournalStatus {
    /// `ok`, `no_space` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Ok => "ok",
            JournalStatus::NoSpace => "no_space",
            JournalStatus::Failed => "failed",
        }
    }
}

/// Environment variable of the injected fsync fault: `fail-after:N` makes every `fdatasync`
/// after the first N fail with `EIO`. **Test only.**
pub const FAULT_FSYNC_ENV: &str = "PESGW_FAULT_FSYNC";
/// Environment variable of the injected disk-full fault: a file path; while that file exists,
/// each group write stops half-way with `ENOSPC` (a partial frame really is written, then cut
/// off). **Test only.**
pub const FAULT_ENOSPC_ENV: &str = "PESGW_FAULT_ENOSPC_WHILE";

/// Fault injection for the fault suite (`docs/faults.md`). Compiled in always, off unless one of
/// [`FAULT_FSYNC_ENV`] or [`FAULT_ENOSPC_ENV`] is set; when on, the journal logs it at start
/// and on every injected failure, and `/readyz` shows `journal_fault_injection: true`. Never set
/// these in production.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// `fdatasync` fails with `EIO` once this many have succeeded.
    pub fsync_fail_after: Option<u64>,
    /// While this file exists, group writes fail half-way with `ENOSPC`.
    pub enospc_while: Option<PathBuf>,
}

impl Faults {
    /// The faults the environment asks for; none unless a `PESGW_FAULT_*` variable is set. A
    /// value that cannot be read is an error, so a mistyped setting never passes silently.
    pub fn from_env() -> Result<Faults, JournalError> {
        Faults::from_vars(
            std::env::var_os(FAULT_FSYNC_ENV),
            std::env::var_os(FAULT_ENOSPC_ENV),
        )
    }

    /// The faults asked for by the values of [`FAULT_FSYNC_ENV`] and [`FAULT_ENOSPC_ENV`].
    pub fn from_vars(
        fsync: Option<std::ffi::OsString>,
        enospc: Option<std::ffi::OsString>,
    ) -> Result<Faults, JournalError> {
        let mut f = Faults::default();
        if let Some(v) = fsync {
            let v = v.to_string_lossy();
            let n = v
                .strip_prefix("fail-after:")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| {
                    JournalError::Fault(format!("{FAULT_FSYNC_ENV}={v}: expected fail-after:N"))
                })?;
            f.fsync_fail_after = Some(n);
        }
        if let Some(v) = enospc {
            if v.is_empty() {
                return Err(JournalError::Fault(format!(
                    "{FAULT_ENOSPC_ENV} is empty: expected a file path"
                )));
            }
            f.enospc_while = Some(PathBuf::from(v));
        }
        Ok(f)
    }

    /// Whether any fault is injected.
    pub fn active(&self) -> bool {
        self.fsync_fail_after.is_some() || self.enospc_while.is_some()
    }
}

/// Observes each `fdatasync` (for the fsync latency metric).
pub type SyncObserver = Box<dyn Fn(std::time::Duration) + Send>;

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("seg-{base:020}.wal"))
}

/// Lists the segments of a journal directory as `(base offset, path)`, in order.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(base) = name
            .strip_prefix("seg-")
            .and_then(|s| s.strip_suffix(".wal"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((base, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the valid frames of one segment; returns them with the length of the valid prefix.
/// Frames of a segment as `(end position, payload)`.
type Frames = Vec<(u64, Vec<u8>)>;

fn read_segment(path: &Path) -> Result<(Frames, u64), JournalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(path))?;
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        // No entry is empty: a zero length is unwritten (zeroed) space, not a frame.
        if len == 0 {
            break;
        }
        let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let end = pos + 8 + len;
        frames.push((end as u64, payload.to_vec()));
        pos = end;
    }
    Ok((frames, pos as u64))
}

/// Reads every durable entry whose end offset is past `after`, in order.
pub fn read_after(dir: &Path, after: u64) -> Result<Vec<Durable>, JournalError> {
    let segs = segments(dir)?;
    let mut out = Vec::new();
    for (i, (base, path)) in segs.iter().enumerate() {
        let next_base = segs.get(i + 1).map(|s| s.0).unwrap_or(u64::MAX);
        if next_base <= after {
            continue;
        }
        let (frames, _) = read_segment(path)?;
        for (end, payload) in frames {
            if base + end > after {
                out.push(Durable {
                    end_offset: base + end,
                    payload,
                });
            }
        }
    }
    Ok(out)
}

/// Deletes segments that lie wholly at or below `synced` (the store is durable past them).
pub fn prune(dir: &Path, synced: u64) -> Result<usize, JournalError> {
    let segs = segments(dir)?;
    let mut removed = 0;
    for w in segs.windows(2) {
        if w[1].0 <= synced {
            match std::fs::remove_file(&w[0].1) {
                Ok(()) => removed += 1,
                // An erasure's [`prune_before`] took it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&w[0].1)(e)),
            }
        }
    }
    Ok(removed)
}

/// Deletes every segment that starts below `base` (the segment [`Journal::rotate`] started) and
/// returns how many: call it only once the store has applied and flushed up to `base`. A segment
/// already removed by the applier's own pruning meanwhile is not an error.
pub fn prune_before(dir: &Path, base: u64) -> Result<usize, JournalError> {
    let mut removed = 0;
    for (b, path) in segments(dir)? {
        if b >= base {
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, cuts off a torn tail, and starts the writer,
    /// with the faults the environment injects (none unless a `PESGW_FAULT_*` variable is set).
    /// Each durable entry is also announced on `applied_tx` (bounded: a full channel makes pushes
    /// wait, which bounds the apply lag). Returns the handle and the offset of the journal's end.
    pub fn open(
        dir: &Path,
        applied_tx: mpsc::SyncSender<Appended>,
        on_sync: SyncObserver,
    ) -> Result<(Journal, u64), JournalError> {
        Journal::open_with(dir, applied_tx, on_sync, Faults::from_env()?)
    }

    /// [`Journal::open`] with explicit fault injection (tests).
    pub fn open_with(
        dir: &Path,
        applied_tx: mpsc::SyncSender<Appended>,
        on_sync: SyncObserver,
        faults: Faults,
    ) -> Result<(Journal, u64), JournalError> {
        if faults.active() {
            tracing::warn!(
                ?faults,
                "JOURNAL FAULT INJECTION IS ON (test only: {FAULT_FSYNC_ENV} / {FAULT_ENOSPC_ENV}); \
                 this gateway will fail writes or fsyncs on purpose"
            );
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let segs = segments(dir)?;
        let (base, path, len) = match segs.last() {
            Some((base, path)) => {
                let (_, valid) = read_segment(path)?;
                (*base, path.clone(), valid)
            }
            None => (0, segment_path(dir, 0), 0),
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(len).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        sync_dir(dir)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let health = Arc::new(Health::default());
        let faults_on = faults.active();
        let writer = Writer {
            dir: dir.to_path_buf(),
            base,
            pos: len,
            file,
            path,
            applied_tx,
            on_sync,
            health: health.clone(),
            faults,
            syncs: 0,
        };
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(io(dir))?;
        Ok((
            Journal {
                tx,
                health,
                faults_on,
            },
            base + len,
        ))
    }

    /// Appends one entry and waits until it is on disk; returns the offset just past it.
    pub async fn append(&self, payload: Vec<u8>) -> Result<u64, JournalError> {
        if payload.len() >= MAX_FRAME {
            return Err(JournalError::TooLarge);
        }
        if payload.is_empty() {
            return Err(JournalError::Empty);
        }
        if self.health.failed.load(Ordering::Acquire) {
            return Err(JournalError::Failed);
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Append(Append { payload, done }))
            .map_err(|_| JournalError::Closed)?;
        wait.await.map_err(|_| JournalError::Closed)?
    }

    /// Whether appends are being made durable, the disk was full last time, or the journal has
    /// failed until restart.
    pub fn status(&self) -> JournalStatus {
        if self.health.failed.load(Ordering::Acquire) {
            JournalStatus::Failed
        } else if self.health.no_space.load(Ordering::Acquire) {
            JournalStatus::NoSpace
        } else {
            JournalStatus::Ok
        }
    }

    /// Whether test-only fault injection is on.
    pub fn fault_injection(&self) -> bool {
        self.faults_on
    }

    /// Seals the current segment and starts the next one, after every entry appended before
    /// this call; returns the new segment's base offset (the journal's end then). Every segment
    /// before it may be removed by [`prune_before`] once the store has applied and flushed up
    /// to that offset: erasure uses it so that no segment written before it remains.
    pub async fn rotate(&self) -> Result<u64, JournalError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Rotate(done))
            .map_err(|_| JournalError::Closed)?;
        wait.await.map_err(|_| JournalError::Closed)?
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Whether an I/O error means the disk (or the quota) is full.
fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.kind() == std::io::ErrorKind::StorageFull
}

/// Why a group was not made durable.
enum GroupError {
    /// Out of space: the group's bytes were cut off again; the journal carries on.
    NoSpace(std::io::Error),
    /// Anything else: the journal is failed until restart.
    Failed(std::io::Error),
}

impl GroupError {
    fn of_write(e: std::io::Error) -> GroupError {
        if is_no_space(&e) {
            GroupError::NoSpace(e)
        } else {
            GroupError::Failed(e)
        }
    }
}

struct Writer {
    dir: PathBuf,
    base: u64,
    pos: u64,
    file: File,
    path: PathBuf,
    applied_tx: mpsc::SyncSender<Appended>,
    on_sync: SyncObserver,
    health: Arc<Health>,
    faults: Faults,
    /// `fdatasync`/`fsync` calls that succeeded (for [`Faults::fsync_fail_after`]).
    syncs: u64,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut buf = Vec::new();
        let mut next = None;
        loop {
            let job = match next.take() {
                Some(job) => job,
                None => match rx.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            let first = match job {
                Job::Rotate(done) => {
                    let _ = done.send(self.seal_segment());
                    continue;
                }
                Job::Append(a) => a,
            };
            let mut group = vec![first];
            while let Ok(more) = rx.try_recv() {
                match more {
                    Job::Append(a) => group.push(a),
                    // A rotation comes after the entries sent before it.
                    rotate @ Job::Rotate(_) => {
                        next = Some(rotate);
                        break;
                    }
                }
            }
            if self.health.failed.load(Ordering::Acquire) {
                for a in group {
                    let _ = a.done.send(Err(JournalError::Failed));
                }
                continue;
            }
            match self.write_group(&group, &mut buf) {
                Ok(ends) => {
                    self.health.no_space.store(false, Ordering::Release);
                    for (a, end) in group.into_iter().zip(ends) {
                        let _ = a.done.send(Ok(end));
                        let notice = Appended {
                            end_offset: end,
                            seg_base: self.base,
                            len: a.payload.len() as u64,
                        };
                        drop(a.payload);
                        // Blocks when the applier is too far behind: pushes wait (bounded lag).
                        if self.applied_tx.send(notice).is_err() {
                            tracing::error!("applier stopped; journal writer stops");
                            return;
                        }
                    }
                }
                Err(GroupError::NoSpace(e)) => {
                    tracing::warn!(
                        error = %e,
                        path = %self.path.display(),
                        entries = group.len(),
                        "journal disk full: the group is refused and cut off; the next one tries again"
                    );
                    self.health.no_space.store(true, Ordering::Release);
                    for a in group {
                        let _ = a.done.send(Err(JournalError::NoSpace {
                            path: self.path.clone(),
                            source: std::io::Error::new(e.kind(), e.to_string()),
                        }));
                    }
                }
                Err(GroupError::Failed(e)) => {
                    tracing::error!(
                        error = %e,
                        path = %self.path.display(),
                        "journal write or fsync failed: durability of unsynced data is unknown; \
                         refusing every push until the gateway is restarted"
                    );
                    self.health.failed.store(true, Ordering::Release);
                    for a in group {
                        let _ = a.done.send(Err(JournalError::Failed));
                    }
                }
            }
        }
    }

    /// Writes a group's frames after the last good frame, then one `fdatasync`. On a failed
    /// write the file is cut back to where the group started.
    fn write_group(&mut self, group: &[Append], buf: &mut Vec<u8>) -> Result<Vec<u64>, GroupError> {
        if self.pos >= SEGMENT_BYTES {
            self.rotate()?;
        }
        let start = self.pos;
        let ends = match self.write_frames(group, buf) {
            Ok(ends) => ends,
            Err(e) => {
                // A partial frame may be in the file: cut it off, so the next group lands right
                // after the last good frame (a crash before this would leave a torn tail, which
                // open cuts off the same way).
                if let Err(t) = self.file.set_len(start) {
                    return Err(GroupError::Failed(t));
                }
                return Err(GroupError::of_write(e));
            }
        };
        let t = Instant::now();
        self.sync_data().map_err(GroupError::Failed)?;
        (self.on_sync)(t.elapsed());
        Ok(ends)
    }

    /// Writes the frames at `self.pos` and moves it past them.
    fn write_frames(
        &mut self,
        group: &[Append],
        buf: &mut Vec<u8>,
    ) -> Result<Vec<u64>, std::io::Error> {
        buf.clear();
        let mut ends = Vec::with_capacity(group.len());
        let mut at = self.pos;
        let mut end = self.pos;
        for a in group {
            buf.extend_from_slice(&(a.payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&a.payload).to_le_bytes());
            if a.payload.len() > 1 << 20 {
                // Large payloads are written directly instead of copied into the group buffer.
                self.write_at(buf, at)?;
                at += buf.len() as u64;
                buf.clear();
                self.write_at(&a.payload, at)?;
                at += a.payload.len() as u64;
            } else {
                buf.extend_from_slice(&a.payload);
            }
            end += 8 + a.payload.len() as u64;
            ends.push(self.base + end);
        }
        self.write_at(buf, at)?;
        self.pos = end;
        Ok(ends)
    }

    fn write_at(&self, bytes: &[u8], at: u64) -> Result<(), std::io::Error> {
        if let Some(marker) = &self.faults.enospc_while {
            if marker.exists() && !bytes.is_empty() {
                // Injected: half the bytes reach the file, then the disk is "full".
                let _ = self.file.write_all_at(&bytes[..bytes.len() / 2], at);
                tracing::warn!(marker = %marker.display(), "injected ENOSPC ({FAULT_ENOSPC_ENV})");
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        self.file.write_all_at(bytes, at)
    }

    /// `fdatasync` of the current segment (or `fsync` with `all`), through the injected fault.
    fn sync(&mut self, all: bool) -> Result<(), std::io::Error> {
        if let Some(n) = self.faults.fsync_fail_after {
            if self.syncs >= n {
                tracing::error!(after = n, "injected fdatasync failure ({FAULT_FSYNC_ENV})");
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
        }
        if all {
            self.file.sync_all()?;
        } else {
            self.file.sync_data()?;
        }
        self.syncs += 1;
        Ok(())
    }

    fn sync_data(&mut self) -> Result<(), std::io::Error> {
        self.sync(false)
    }

    /// Starts the next segment. Nothing changes unless the new segment was created: a full disk
    /// leaves the writer on the old one, to try again with the next group.
    fn rotate(&mut self) -> Result<(), GroupError> {
        self.sync(true).map_err(GroupError::Failed)?;
        let base = self.base + self.pos;
        let path = segment_path(&self.dir, base);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(GroupError::of_write)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(GroupError::Failed)?;
        self.base = base;
        self.pos = 0;
        self.path = path;
        self.file = file;
        Ok(())
    }

    /// Seals the current segment and starts the next (nothing to do when the current one is
    /// still empty); returns the new segment's base offset, the journal's end. A failed fsync
    /// fails the journal as it does for a group.
    fn seal_segment(&mut self) -> Result<u64, JournalError> {
        if self.health.failed.load(Ordering::Acquire) {
            return Err(JournalError::Failed);
        }
        if self.pos > 0 {
            match self.rotate() {
                Ok(()) => {}
                Err(GroupError::NoSpace(source)) => {
                    return Err(JournalError::NoSpace {
                        path: self.path.clone(),
                        source,
                    })
                }
                Err(GroupError::Failed(e)) => {
                    tracing::error!(
                        error = %e,
                        path = %self.path.display(),
                        "journal fsync failed while sealing a segment; refusing every push until \
                         the gateway is restarted"
                    );
                    self.health.failed.store(true, Ordering::Release);
                    return Err(JournalError::Failed);
                }
            }
        }
        Ok(self.base + self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn open(dir: &Path) -> (Journal, u64, mpsc::Receiver<Appended>) {
        open_faulty(dir, Faults::default())
    }

    fn open_faulty(dir: &Path, faults: Faults) -> (Journal, u64, mpsc::Receiver<Appended>) {
        let (tx, rx) = mpsc::sync_channel(1024);
        let (j, end) = Journal::open_with(dir, tx, Box::new(|_| {}), faults).unwrap();
        (j, end, rx)
    }

    /// The end offsets of the next `n` notices to the applier, then checks that no other comes.
    fn announced(rx: &mpsc::Receiver<Appended>, n: usize) -> Vec<u64> {
        let wait = std::time::Duration::from_secs(10);
        let ends = (0..n)
            .map(|_| rx.recv_timeout(wait).unwrap().end_offset)
            .collect();
        let extra = rx.recv_timeout(std::time::Duration::from_millis(100));
        assert!(extra.is_err(), "unexpected notice {extra:?}");
        ends
    }

    fn payloads(dir: &Path) -> Vec<Vec<u8>> {
        read_after(dir, 0)
            .unwrap()
            .into_iter()
            .map(|d| d.payload)
            .collect()
    }

    #[tokio::test]
    async fn a_full_disk_refuses_the_group_cuts_its_partial_frame_and_resumes_after() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("disk-full");
        let faults = Faults {
            enospc_while: Some(marker.clone()),
            ..Faults::default()
        };
        let (j, _, rx) = open_faulty(&dir.path().join("j"), faults);
        let a = j.append(b"alpha".to_vec()).await.unwrap();
        std::fs::write(&marker, b"").unwrap();
        for _ in 0..3 {
            let e = j.append(vec![b'x'; 300]).await.unwrap_err();
            assert!(matches!(e, JournalError::NoSpace { .. }), "{e}");
            assert_eq!(j.status(), JournalStatus::NoSpace);
            // The half-written frame was cut off again.
            let seg = segment_path(&dir.path().join("j"), 0);
            assert_eq!(std::fs::metadata(&seg).unwrap().len(), a);
        }
        std::fs::remove_file(&marker).unwrap();
        let b = j.append(b"beta".to_vec()).await.unwrap();
        assert_eq!(b, a + 8 + 4, "the next entry follows the last good frame");
        assert_eq!(j.status(), JournalStatus::Ok);
        assert_eq!(
            payloads(&dir.path().join("j")),
            vec![b"alpha".to_vec(), b"beta".to_vec()]
        );
        // Only durable entries were announced to the applier (each just after its answer).
        assert_eq!(announced(&rx, 2), vec![a, b]);
    }

    #[tokio::test]
    async fn a_failed_fsync_fails_the_journal_until_it_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults {
            fsync_fail_after: Some(2),
            ..Faults::default()
        };
        let (j, _, rx) = open_faulty(dir.path(), faults);
        j.append(b"one".to_vec()).await.unwrap();
        let two = j.append(b"two".to_vec()).await.unwrap();
        assert!(matches!(
            j.append(b"three".to_vec()).await,
            Err(JournalError::Failed)
        ));
        assert_eq!(j.status(), JournalStatus::Failed);
        // Never retried into a success: every later append is refused too.
        for _ in 0..3 {
            assert!(matches!(
                j.append(b"four".to_vec()).await,
                Err(JournalError::Failed)
            ));
        }
        assert_eq!(
            announced(&rx, 2)[1],
            two,
            "the failed entry was never announced"
        );
        drop(j);
        // Reopened without the fault: appends go on after the last frame read back.
        let (j, end, _rx) = open(dir.path());
        assert!(end >= two);
        let next = j.append(b"five".to_vec()).await.unwrap();
        assert_eq!(next, end + 8 + 4);
        assert_eq!(payloads(dir.path()).last().unwrap(), b"five");
    }

    #[tokio::test]
    async fn a_zeroed_tail_is_not_read_as_empty_frames() {
        let dir = tempfile::tempdir().unwrap();
        let kept = {
            let (j, _, _rx) = open(dir.path());
            j.append(b"kept".to_vec()).await.unwrap()
        };
        let seg = segment_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[0u8; 64]).unwrap();
        drop(f);
        assert_eq!(payloads(dir.path()), vec![b"kept".to_vec()]);
        let (j, end, _rx) = open(dir.path());
        assert_eq!(end, kept);
        assert_eq!(j.append(b"next".to_vec()).await.unwrap(), kept + 12);
        assert!(matches!(
            j.append(Vec::new()).await,
            Err(JournalError::Empty)
        ));
    }

    #[test]
    fn fault_settings_are_read_or_refused() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(Faults::from_vars(None, None).unwrap(), Faults::default());
        assert!(!Faults::default().active());
        let f = Faults::from_vars(os("fail-after:3"), os("/tmp/full")).unwrap();
        assert_eq!(f.fsync_fail_after, Some(3));
        assert_eq!(f.enospc_while, Some(PathBuf::from("/tmp/full")));
        assert!(f.active());
        for bad in ["3", "fail-after:", "fail-after:x", "fail_after:3"] {
            assert!(matches!(
                Faults::from_vars(os(bad), None),
                Err(JournalError::Fault(_))
            ));
        }
        assert!(Faults::from_vars(None, os("")).is_err());
    }

    #[tokio::test]
    async fn appended_entries_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (j, end, rx) = open(dir.path());
        assert_eq!(end, 0);
        let a = j.append(b"alpha".to_vec()).await.unwrap();
        let b = j.append(b"beta".to_vec()).await.unwrap();
        assert_eq!(a, 13);
        assert_eq!(b, 25);
        let mut reader = SegmentReader::new(dir.path());
        assert_eq!(reader.read(&rx.recv().unwrap()).unwrap().payload, b"alpha");
        assert_eq!(reader.read(&rx.recv().unwrap()).unwrap().payload, b"beta");
        let all = read_after(dir.path(), 0).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].payload, b"beta");
        assert_eq!(read_after(dir.path(), a).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn torn_tail_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (j, _, _rx) = open(dir.path());
            j.append(b"kept".to_vec()).await.unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let seg = segment_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2, 3, 4, b'x']).unwrap();
        drop(f);
        let (j, end, _rx) = open(dir.path());
        assert_eq!(end, 12);
        let next = j.append(b"next".to_vec()).await.unwrap();
        assert_eq!(next, 24);
        let all = read_after(dir.path(), 0).unwrap();
        assert_eq!(
            all.iter().map(|d| d.payload.clone()).collect::<Vec<_>>(),
            vec![b"kept".to_vec(), b"next".to_vec()]
        );
    }

    #[tokio::test]
    async fn rotate_starts_a_segment_and_prune_before_removes_every_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _, rx) = open(dir.path());
        let a = j.append(b"alpha".to_vec()).await.unwrap();
        let base = j.rotate().await.unwrap();
        assert_eq!(base, a, "the new segment starts at the journal's end");
        // A segment still empty is not rotated again.
        assert_eq!(j.rotate().await.unwrap(), a);
        let b = j.append(b"beta".to_vec()).await.unwrap();
        assert_eq!(b, a + 8 + 4);
        let bases =
            |d: &Path| -> Vec<u64> { segments(d).unwrap().into_iter().map(|s| s.0).collect() };
        assert_eq!(bases(dir.path()), vec![0, a]);
        assert_eq!(prune_before(dir.path(), base).unwrap(), 1);
        assert_eq!(bases(dir.path()), vec![a]);
        assert_eq!(payloads(dir.path()), vec![b"beta".to_vec()]);
        assert_eq!(prune_before(dir.path(), base).unwrap(), 0);
        // The applier reads the next entry from the new segment.
        let notices: Vec<Appended> = (0..2).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(notices[1].seg_base, a);
        let mut reader = SegmentReader::new(dir.path());
        assert_eq!(reader.read(&notices[1]).unwrap().payload, b"beta");
        drop(j);
        let (_j, end, _rx) = open(dir.path());
        assert_eq!(end, b, "reopened, the journal ends where it did");
    }

    #[test]
    fn prune_keeps_the_segment_holding_the_synced_offset() {
        let dir = tempfile::tempdir().unwrap();
        for base in [0u64, 100, 200] {
            std::fs::write(segment_path(dir.path(), base), b"").unwrap();
        }
        assert_eq!(prune(dir.path(), 150).unwrap(), 1);
        let left: Vec<u64> = segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(left, vec![100, 200]);
    }
}
