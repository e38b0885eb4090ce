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
mod tests;
