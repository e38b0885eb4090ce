use super::{THRESHOLD_BYTES, disk_space};
use crate::actuator::Status;

#[test]
fn reports_the_directory_s_file_system_as_spring_does() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let disk = disk_space(dir.path());
    let details = &disk.details;
    let total = details["total"].as_u64().expect("total");
    let free = details["free"].as_u64().expect("free");
    assert!(total > 0 && free <= total, "{details:?}");
    assert_eq!(details["threshold"], THRESHOLD_BYTES);
    assert_eq!(details["exists"], true);
    assert_eq!(details["path"], dir.path().display().to_string());
    assert_eq!(disk.status, Status::up_if(free >= THRESHOLD_BYTES));
}

#[test]
fn a_directory_that_is_not_there_is_down() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let gone = dir.path().join("gone");
    let disk = disk_space(&gone);
    assert_eq!(disk.status, Status::Down);
    assert_eq!(disk.details["exists"], false);
    assert!(disk.details.contains_key("error"), "{:?}", disk.details);
}
