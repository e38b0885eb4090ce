use super::{Bounded, CodeName, MAX_LOGGED_PATH};

#[test]
fn a_short_path_is_shown_as_it_is() {
    assert_eq!(Bounded("/orders/42").to_string(), "/orders/42");
}

#[test]
fn a_long_path_is_cut_at_the_bound_on_a_character() {
    let long = "é".repeat(MAX_LOGGED_PATH + 1);
    let shown = Bounded(&long).to_string();
    assert_eq!(shown, format!("{}…", "é".repeat(MAX_LOGGED_PATH)));
    let exact = "é".repeat(MAX_LOGGED_PATH);
    assert_eq!(Bounded(&exact).to_string(), exact);
}

#[test]
fn control_characters_cannot_split_a_line() {
    let shown = Bounded("/a\nINFO forged\r\u{1b}[31m").to_string();
    assert_eq!(shown, "/a\\nINFO forged\\r\\u{1b}[31m");
    assert!(!shown.chars().any(char::is_control));
}

#[test]
fn grpc_codes_are_named_as_grpc_tools_name_them() {
    assert_eq!(CodeName(tonic::Code::Ok).to_string(), "OK");
    assert_eq!(CodeName(tonic::Code::NotFound).to_string(), "NotFound");
    assert_eq!(
        CodeName(tonic::Code::Unavailable).to_string(),
        "Unavailable"
    );
}
