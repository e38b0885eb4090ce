use clap::Parser;

use live::AllowedOrigins;

use super::Config;

fn policy(args: &[&str]) -> String {
    let config = Config::try_parse_from(args).unwrap();
    AllowedOrigins::new(&config.allowed_origins)
        .unwrap()
        .to_string()
}

#[test]
fn allowed_origins_keep_their_port_lists_whole() {
    assert_eq!(
        policy(&[
            "order-service",
            "--allowed-origins",
            "https://*.example.com:[8443,9443],http://localhost",
        ]),
        "requests without Origin, the same origin, https://*.example.com:[8443,9443], http://localhost"
    );
    assert_eq!(
        policy(&[
            "order-service",
            "--allowed-origins",
            "http://a:[1,2]",
            "--allowed-origins",
            "http://b",
        ]),
        "requests without Origin, the same origin, http://a:[1,2], http://b"
    );
}
