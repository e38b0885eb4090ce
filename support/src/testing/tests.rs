use super::with_database;

#[test]
fn replaces_the_database_name() {
    assert_eq!(
        with_database("postgres://u:p@h:5433/postgres", "t1"),
        "postgres://u:p@h:5433/t1"
    );
    assert_eq!(
        with_database("postgres://u@h:5433", "t1"),
        "postgres://u@h:5433/t1"
    );
    assert_eq!(
        with_database("postgres://u@h/x?sslmode=disable", "t1"),
        "postgres://u@h/t1?sslmode=disable"
    );
}
