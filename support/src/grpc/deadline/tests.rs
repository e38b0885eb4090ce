use std::time::Duration;

use super::parse;

#[test]
fn grpc_timeout_values() {
    assert_eq!(parse("1500m"), Some(Duration::from_millis(1500)));
    assert_eq!(parse("2S"), Some(Duration::from_secs(2)));
    assert_eq!(
        parse("99999999H"),
        Some(Duration::from_secs(99_999_999 * 3600))
    );
    assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
    for bad in ["", "m", "123456789m", "10x", "-1S", "1.5S", "1é"] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}
