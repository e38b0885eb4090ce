use super::*;

#[test]
fn an_unreachable_database_is_unavailable_not_internal() {
    let lost = || Error::Database(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
    let status = tonic::Status::from(lost());
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(status.message(), UNAVAILABLE);
    let response = lost().into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "1");

    let bug = || Error::Database(sqlx::Error::RowNotFound);
    assert_eq!(tonic::Status::from(bug()).code(), tonic::Code::Internal);
    assert_eq!(
        bug().into_response().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
