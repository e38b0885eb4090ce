use super::*;

/// `key=` padded with `v` to `len` characters.
fn member(key: &str, len: usize) -> String {
    format!("{key}={}", "v".repeat(len - key.len() - 1))
}

#[test]
fn a_list_within_the_limits_is_kept_as_it_is() {
    for list in ["", "a=1", "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"] {
        assert!(matches!(cap(list), Cow::Borrowed(l) if l == list));
    }
    let full = (0..MAX_MEMBERS)
        .map(|i| format!("k{i}=1"))
        .collect::<Vec<_>>();
    assert_eq!(cap(&full.join(",")), full.join(","));
}

#[test]
fn long_members_go_first_the_last_of_them_first() {
    let short = member("a", 100);
    let (long1, long2) = (member("l1", 200), member("l2", 200));
    let tail = member("z", 100);
    let list = [short.as_str(), &long1, &long2, &tail].join(",");
    // 603 characters: dropping the last long member (200 + a comma) is enough.
    assert_eq!(cap(&list), [short.as_str(), &long1, &tail].join(","));
}

#[test]
fn then_members_go_from_the_end() {
    let members: Vec<String> = (0..10).map(|i| member(&format!("k{i}"), 60)).collect();
    let long = member("long", 129);
    let mut list = vec![long.clone()];
    list.extend(members.iter().cloned());
    // 129 + 10 × 60 + 10 commas: the long one goes, then the last two
    // short ones (8 × 60 + 7 = 487 fits; 9 × 60 + 8 = 548 does not).
    assert_eq!(cap(&list.join(",")), members[..8].join(","));
}

#[test]
fn at_most_32_members() {
    let list: Vec<String> = (0..55).map(|i| format!("k{i}=1")).collect();
    assert_eq!(cap(&list.join(",")), list[..MAX_MEMBERS].join(","));
}

#[test]
fn an_oversized_header_is_cut_to_512_characters() {
    // What one client sent: 28 KB in 55 members of ~510 characters.
    let list: Vec<String> = (0..55).map(|i| member(&format!("k{i}"), 510)).collect();
    let list = list.join(",");
    assert!(list.len() > 28_000);
    // The long members go from the end until what is left fits: the
    // first alone (510 characters).
    assert_eq!(cap(&list), member("k0", 510));
    // Short members behind long ones survive.
    let with_short = format!("{list},tail=1, ,other=2");
    assert_eq!(cap(&with_short), "tail=1,other=2");
}

#[test]
fn blank_members_and_white_space_are_dropped_when_cutting() {
    let pad = member("p", 130);
    let list = format!(" a=1 ,\t,b=2,{pad},{pad},{pad},{pad}");
    // 4 × 131 + 10 is too long; without the last pad it fits.
    assert_eq!(cap(&list), format!("a=1,b=2,{pad},{pad},{pad}"));
}
