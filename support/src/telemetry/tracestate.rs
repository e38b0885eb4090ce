//! `tracestate` cut to W3C's limits before anything keeps it.
//!
//! A caller's `tracestate` is handed on with every call its request makes,
//! and a batch of the write path works for many requests at once: one
//! client's oversized header (up to the whole 32 KiB of a request head)
//! would otherwise ride along into inventory's call, beyond its header
//! limit, and fail every other order of that batch. So the list is cut as
//! W3C's Trace Context has it ("tracestate limits"), and the request itself
//! is never refused for it.

use std::borrow::Cow;

/// W3C's most list-members in a `tracestate`.
const MAX_MEMBERS: usize = 32;
/// The combined length W3C asks every vendor to propagate, commas
/// included: what is kept at most, so every hop can carry all of it.
const MAX_LEN: usize = 512;
/// W3C's size above which a member goes first when the list must shrink.
const LONG_MEMBER: usize = 128;

/// `list` (one `tracestate` value, or several joined by commas) within W3C's
/// limits: as it is when it fits; otherwise its members, blank ones
/// dropped, less members longer than 128 characters (the last first) until
/// it fits or none is left, then less the last members until it fits.
pub(super) fn cap(list: &str) -> Cow<'_, str> {
    // The usual case, without splitting: short enough, few enough commas.
    if list.len() <= MAX_LEN && list.bytes().filter(|&b| b == b',').count() < MAX_MEMBERS {
        return Cow::Borrowed(list);
    }
    let mut members: Vec<&str> = list
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    while !fits(&members) {
        match members.iter().rposition(|m| m.len() > LONG_MEMBER) {
            Some(long) => drop(members.remove(long)),
            None => break,
        }
    }
    while !fits(&members) {
        members.pop();
    }
    Cow::Owned(members.join(","))
}

fn fits(members: &[&str]) -> bool {
    let commas = members.len().saturating_sub(1);
    members.len() <= MAX_MEMBERS
        && members.iter().map(|m| m.len()).sum::<usize>() + commas <= MAX_LEN
}

#[cfg(test)]
mod tests {
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
}
