use super::*;

#[test]
fn connection_level_failures_are_unreachable() {
    use std::io::{Error as IoError, ErrorKind};
    let unavailable = [
        sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed,
        sqlx::Error::WorkerCrashed,
        sqlx::Error::Io(IoError::from(ErrorKind::ConnectionRefused)),
        sqlx::Error::Io(IoError::from(ErrorKind::UnexpectedEof)),
        sqlx::Error::Tls("handshake failed".into()),
        sqlx::Error::Protocol("unexpected end of message".into()),
    ];
    for e in &unavailable {
        assert_eq!(classify(e), Some(Outage::Unreachable), "{e:?}");
    }
    let not = [
        sqlx::Error::RowNotFound,
        sqlx::Error::ColumnNotFound("x".into()),
        sqlx::Error::Decode("bad".into()),
        sqlx::Error::InvalidArgument("bad".into()),
    ];
    for e in &not {
        assert_eq!(classify(e), None, "{e:?}");
    }
}

#[test]
fn postgres_sqlstates() {
    for code in [
        "08000", "08003", "08006", "08001", "08P01", "57P01", "57P02", "57P03", "53300",
    ] {
        assert_eq!(pg_sqlstate(code), Some(Outage::Unreachable), "{code}");
    }
    // Out of disk, failing disk.
    for code in ["53100", "58030"] {
        assert_eq!(pg_sqlstate(code), Some(Outage::Storage), "{code}");
    }
    // Insufficient resources, out of memory, configuration limit exceeded.
    for code in ["53000", "53200", "53400"] {
        assert_eq!(pg_sqlstate(code), Some(Outage::Exhausted), "{code}");
    }
    // Constraint violations, bad SQL, invalid text (NUL), serialization
    // failures, a cancelled query, other system errors: not outages.
    for code in [
        "23505", "23514", "42601", "22021", "40001", "57014", "58000", "58P01", "5",
    ] {
        assert_eq!(pg_sqlstate(code), None, "{code}");
    }
}

#[test]
fn postgres_errors_that_end_the_session() {
    // Whatever the SQLSTATE, the connection is gone: a full disk refusing a
    // new backend's cache file (XX000), a failed login, a timeout.
    for severity in [PgSeverity::Fatal, PgSeverity::Panic] {
        assert_eq!(pg_session_ended(severity), Some(Outage::Unreachable));
    }
    for severity in [
        PgSeverity::Error,
        PgSeverity::Warning,
        PgSeverity::Notice,
        PgSeverity::Log,
    ] {
        assert_eq!(pg_session_ended(severity), None, "{severity:?}");
    }
}

#[test]
fn sqlite_codes() {
    // BUSY, LOCKED, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT, LOCKED_SHAREDCACHE.
    for code in ["5", "6", "261", "517", "773", "262"] {
        assert_eq!(sqlite_code(Some(code)), Some(Outage::Unreachable), "{code}");
    }
    // IOERR, IOERR_READ, IOERR_WRITE, IOERR_FSYNC, IOERR_NOMEM, FULL.
    for code in ["10", "266", "778", "1034", "3082", "13"] {
        assert_eq!(sqlite_code(Some(code)), Some(Outage::Storage), "{code}");
    }
    assert_eq!(sqlite_code(Some("7")), Some(Outage::Exhausted));
    // ERROR, READONLY, CORRUPT, CONSTRAINT_CHECK, CONSTRAINT_UNIQUE.
    for code in ["1", "8", "11", "275", "2067"] {
        assert_eq!(sqlite_code(Some(code)), None, "{code}");
    }
    assert_eq!(sqlite_code(None), None);
    assert_eq!(sqlite_code(Some("nope")), None);
}
