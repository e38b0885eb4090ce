//! A commit's writes to SQLite's write-ahead log in one system call.
//!
//! SQLite writes each frame of a commit to the log as two `pwrite`s, the
//! frame's 24-byte header, then its page: an order's commits write 3 to 6
//! frames, so some 20 system calls per order went to the log alone
//! (`scripts/instructions-per-order`; bench/README.md). This VFS wraps
//! SQLite's own (`unix-excl`, see `super`) and changes one thing: writes
//! that extend the log are gathered in memory and go to the file as one
//! `pwrite` when the commit's last frame is complete. Everything else
//! passes straight through, after whatever was gathered.
//!
//! Why that is safe: SQLite makes a commit visible to other connections
//! only after it has written every frame, when it updates the log's index,
//! and every frame is in the file by then (the gathered writes go out with
//! the commit frame, whose header SQLite marks with the database's size;
//! the log's format fixes that field). A commit whose writes are still
//! gathered when the process dies was not yet a commit, as if it had died
//! before `pwrite`. A write that fails fails the commit, as before.
//! Anything out of that pattern (a frame rewritten in place, a read, a
//! sync, a truncation, closing) first writes out what was gathered, and so
//! does the database file's memory barrier, which SQLite issues as it makes
//! a commit visible: a last line, never needed by the commits SQLite
//! writes today (a test counts that it is not).
//!
//! Written here because no maintained crate wraps SQLite's own VFS this
//! way; the code is the forwarding SQLite's VFS interface asks for and the
//! buffer above. It is the workspace's only unsafe code: a VFS is a table
//! of C functions over raw pointers.
#![allow(unsafe_code)]

use std::{
    ffi::{CStr, c_char, c_int, c_void},
    ptr,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use libsqlite3_sys as ffi;

/// The name this VFS is registered under.
pub(crate) const NAME: &str = "unix-excl-gathered";
const NAME_C: &CStr = c"unix-excl-gathered";
/// The VFS it wraps.
const BASE: &CStr = c"unix-excl";
/// Bytes of a frame's header in the log (SQLite's file format).
const FRAME_HEADER: c_int = 24;
/// Gathered bytes past which they are written out whatever comes next,
/// and the most one system call writes: SQLite's unix VFS takes a write
/// of up to 128 KiB at a time (it keeps the low 17 bits of the length).
const MOST: usize = 64 << 10;

/// Commits that reached the database file's barrier with frames still
/// gathered (see the module's comment); read by the tests.
pub(crate) static LATE_WRITES: AtomicU64 = AtomicU64::new(0);

/// Registers the VFS (once per process); `Err` with SQLite's code if it
/// cannot be.
pub(crate) fn register() -> Result<(), c_int> {
    static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: SQLite's VFS registry is thread-safe; the base VFS is
        // SQLite's static one, and the copy made of it lives for the
        // process (leaked: a registered VFS must outlive its use).
        unsafe {
            let base = ffi::sqlite3_vfs_find(BASE.as_ptr());
            if base.is_null() {
                return Err(ffi::SQLITE_ERROR);
            }
            let mut vfs = *base;
            vfs.pNext = ptr::null_mut();
            vfs.zName = NAME_C.as_ptr();
            vfs.szOsFile = c_int::try_from(std::mem::size_of::<File>())
                .map_err(|_| ffi::SQLITE_ERROR)?
                + (*base).szOsFile;
            vfs.xOpen = Some(open);
            let vfs = Box::into_raw(Box::new(vfs));
            BASE_VFS.get_or_init(|| BaseVfs(base));
            match ffi::sqlite3_vfs_register(vfs, 0) {
                ffi::SQLITE_OK => Ok(()),
                rc => Err(rc),
            }
        }
    })
}

/// The wrapped VFS, for `open`.
struct BaseVfs(*mut ffi::sqlite3_vfs);
// SAFETY: a pointer to SQLite's static VFS, never written through here.
unsafe impl Send for BaseVfs {}
// SAFETY: as above.
unsafe impl Sync for BaseVfs {}
static BASE_VFS: OnceLock<BaseVfs> = OnceLock::new();

/// A file as SQLite sees it: ours first, the wrapped VFS's right after it
/// in the same allocation (`szOsFile` counts both).
#[repr(C)]
struct File {
    /// What SQLite calls through: [`METHODS`].
    base: ffi::sqlite3_file,
    /// The wrapped VFS's file.
    real: *mut ffi::sqlite3_file,
    /// For a log: what is gathered. Null for any other file.
    log: *mut Gathered,
    /// For a database: its log's file, while open (for the barrier).
    db_log: *mut File,
    /// For a log: its database's file, to unlink `db_log` on close.
    db: *mut File,
}

/// Writes that extend a log, gathered.
#[derive(Default)]
struct Gathered {
    bytes: Vec<u8>,
    /// Where `bytes` go in the file.
    at: i64,
    /// Past the last byte written or gathered: writes from here on extend
    /// the log; one before it rewrites a frame in place.
    end: i64,
    /// The last write was the header of a commit frame: its page ends the
    /// commit.
    commit_page_next: bool,
}

/// The wrapped file's methods.
///
/// # Safety
/// `f` is a file this VFS opened.
unsafe fn real(
    f: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    // SAFETY: per the caller; `real` was opened with methods, or `open`
    // would not have given SQLite ours.
    unsafe {
        let real = (*f.cast::<File>()).real;
        (real, &*(*real).pMethods)
    }
}

/// Writes out what `log` gathered (nothing for a null `log`).
///
/// # Safety
/// `log` is null or the gathered writes of the log `real` is.
unsafe fn flush(log: *mut Gathered, real: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: per the caller; a connection uses its files from one thread
    // at a time.
    unsafe {
        let Some(log) = log.as_mut() else {
            return ffi::SQLITE_OK;
        };
        log.commit_page_next = false;
        if log.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let write = (*(*real).pMethods).xWrite.expect("xWrite");
        let mut at = log.at;
        let mut rc = ffi::SQLITE_OK;
        for chunk in log.bytes.chunks(MOST) {
            // At most MOST bytes: the casts are exact.
            rc = write(real, chunk.as_ptr().cast(), chunk.len() as c_int, at);
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += chunk.len() as i64;
        }
        log.bytes.clear();
        rc
    }
}

/// Writes out `f`'s gathered writes, if it is a log.
///
/// # Safety
/// `f` is a file this VFS opened.
unsafe fn flush_file(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: per the caller.
    unsafe {
        let file = f.cast::<File>();
        flush((*file).log, (*file).real)
    }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives `f` szOsFile bytes: room for `File` and the
    // wrapped file after it (`File` is a multiple of 8 bytes).
    unsafe {
        let file = f.cast::<File>();
        let real = f
            .cast::<u8>()
            .add(std::mem::size_of::<File>())
            .cast::<ffi::sqlite3_file>();
        (*file).base.pMethods = ptr::null();
        let Some(base) = BASE_VFS.get() else {
            return ffi::SQLITE_ERROR;
        };
        let base_open = (*base.0).xOpen.expect("xOpen");
        let rc = base_open(base.0, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        // Every method is forwarded, shared memory included (version 3).
        if (*real).pMethods.is_null() || (*(*real).pMethods).iVersion < 3 {
            if let Some(close) = (*real).pMethods.as_ref().and_then(|m| m.xClose) {
                close(real);
            }
            return ffi::SQLITE_CANTOPEN;
        }
        (*file).real = real;
        (*file).log = ptr::null_mut();
        (*file).db_log = ptr::null_mut();
        (*file).db = ptr::null_mut();
        if flags & ffi::SQLITE_OPEN_WAL != 0 {
            let log = Box::into_raw(Box::<Gathered>::default());
            (*file).log = log;
            // The database's file object (opened through this VFS too: the
            // VFS is chosen per connection).
            let db = ffi::sqlite3_database_file_object(name.cast::<c_char>()).cast::<File>();
            if !db.is_null() && ptr::eq((*db).base.pMethods, &METHODS) {
                (*db).db_log = file;
                (*file).db = db;
            }
        }
        (*file).base.pMethods = &METHODS;
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes each file it opened once, after its last use.
    unsafe {
        let file = f.cast::<File>();
        let flushed = flush_file(f);
        let (real, methods) = real(f);
        if !(*file).log.is_null() {
            if let Some(db) = (*file).db.as_mut() {
                db.db_log = ptr::null_mut();
            }
            drop(Box::from_raw((*file).log));
            (*file).log = ptr::null_mut();
        }
        // SQLite closes a database's log first; should it not, the log
        // must not reach back into this file once it is gone.
        if let Some(log) = (*file).db_log.as_mut() {
            log.db = ptr::null_mut();
        }
        let rc = methods.xClose.expect("xClose")(real);
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            rc
        }
    }
}

unsafe extern "C" fn write(
    f: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes `amount` readable bytes at `data`.
    unsafe {
        let file = f.cast::<File>();
        let (real, methods) = real(f);
        let Some(log) = (*file).log.as_mut() else {
            return methods.xWrite.expect("xWrite")(real, data, amount, offset);
        };
        let Ok(length) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        // A new log starts over at its header.
        if offset == 0 {
            log.end = 0;
        }
        let extends = offset >= log.end
            && (log.bytes.is_empty() || offset == log.at + log.bytes.len() as i64);
        if !extends {
            // A frame rewritten in place, or a gap: as SQLite wrote it.
            let rc = flush(log, real);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            log.end = log.end.max(offset + i64::from(amount));
            return methods.xWrite.expect("xWrite")(real, data, amount, offset);
        }
        if log.bytes.is_empty() {
            log.at = offset;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), length);
        log.bytes.extend_from_slice(bytes);
        log.end = offset + i64::from(amount);
        let ends_commit = log.commit_page_next;
        // A frame's header: bytes 4-7 are the database's size in pages for
        // a commit frame, 0 for any other.
        log.commit_page_next = amount == FRAME_HEADER && bytes[4..8] != [0; 4];
        if ends_commit || log.bytes.len() >= MOST {
            return flush(log, real);
        }
        ffi::SQLITE_OK
    }
}

/// Forwards a method to the wrapped file after writing out what was
/// gathered.
macro_rules! flushed_then {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: `f` is a file this VFS opened.
            unsafe {
                let rc = flush_file(f);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                let (real, methods) = real(f);
                methods.$method.expect(stringify!($method))(real $(, $arg)*)
            }
        }
    };
}

/// Forwards a method to the wrapped file as it is.
macro_rules! forwarded {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $out:ty) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $out {
            // SAFETY: `f` is a file this VFS opened.
            unsafe {
                let (real, methods) = real(f);
                methods.$method.expect(stringify!($method))(real $(, $arg)*)
            }
        }
    };
}

flushed_then!(read, xRead, (data: *mut c_void, amount: c_int, offset: i64));
flushed_then!(truncate, xTruncate, (size: i64));
flushed_then!(sync, xSync, (flags: c_int));
flushed_then!(file_size, xFileSize, (size: *mut i64));
flushed_then!(file_control, xFileControl, (op: c_int, arg: *mut c_void));
forwarded!(lock, xLock, (level: c_int) -> c_int);
forwarded!(unlock, xUnlock, (level: c_int) -> c_int);
forwarded!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int);
forwarded!(sector_size, xSectorSize, () -> c_int);
forwarded!(device_characteristics, xDeviceCharacteristics, () -> c_int);
forwarded!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int);
forwarded!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int);
forwarded!(shm_unmap, xShmUnmap, (delete: c_int) -> c_int);
forwarded!(fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int);
forwarded!(unfetch, xUnfetch, (offset: i64, page: *mut c_void) -> c_int);

/// The database file's barrier, as SQLite makes a commit visible: its log's
/// gathered writes, had any been left, go out first (see the module's
/// comment).
unsafe extern "C" fn shm_barrier(f: *mut ffi::sqlite3_file) {
    // SAFETY: `f` is a file this VFS opened; `db_log` is its open log's.
    unsafe {
        let file = f.cast::<File>();
        if let Some(log_file) = (*file).db_log.as_mut()
            && let Some(log) = log_file.log.as_mut()
            && !log.bytes.is_empty()
        {
            LATE_WRITES.fetch_add(1, Relaxed);
            let rc = flush(log, log_file.real);
            if rc != ffi::SQLITE_OK {
                tracing::error!(rc, "writing a commit's frames out at the barrier failed");
            }
        }
        let (real, methods) = real(f);
        methods.xShmBarrier.expect("xShmBarrier")(real);
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};
