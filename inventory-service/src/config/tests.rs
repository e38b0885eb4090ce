use clap::Parser;

use super::Config;

#[test]
fn the_token_comes_from_its_flag() {
    let config = Config::try_parse_from(["inventory-service", "--inventory-token", "t0k"]).unwrap();
    assert_eq!(config.inventory_token.as_deref(), Some("t0k"));
}
