use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_list_parses_addresses_and_networks() {
    let proxies: TrustedProxies = " 172.28.0.0/16, 10.0.0.5 ,,::1".parse().unwrap();
    assert!(proxies.contains(ip("172.28.3.4")));
    assert!(proxies.contains(ip("10.0.0.5")));
    assert!(proxies.contains(ip("::ffff:10.0.0.5")));
    assert!(proxies.contains(ip("::1")));
    assert!(!proxies.contains(ip("10.0.0.6")));
    assert_eq!(proxies.to_string(), "172.28.0.0/16,10.0.0.5/32,::1/128");
    assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    let e = "10.0.0.0/8,nginx".parse::<TrustedProxies>().unwrap_err();
    assert!(e.to_string().contains("\"nginx\""), "{e}");
}

#[test]
fn headers_count_only_from_a_trusted_peer() {
    let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
    assert_eq!(
        Client::of(ip("198.51.100.1"), &spoofed, &proxies),
        Client::direct(ip("198.51.100.1"))
    );
    assert_eq!(
        Client::of(ip("10.1.2.3"), &spoofed, &proxies).addr,
        ip("203.0.113.9")
    );
}

#[test]
fn the_rightmost_untrusted_hop_is_the_client() {
    let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let peer = ip("10.0.0.1");
    // The client invented the first entry; nginx appended the real one.
    let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.7")]);
    assert_eq!(Client::of(peer, &h, &proxies).addr, ip("203.0.113.9"));
    // Several header lines are one list.
    let h = headers(&[
        ("x-forwarded-for", "1.1.1.1"),
        ("x-forwarded-for", "203.0.113.9:4711"),
    ]);
    assert_eq!(Client::of(peer, &h, &proxies).addr, ip("203.0.113.9"));
    let h = headers(&[("x-forwarded-for", "[2001:db8::17]:4711")]);
    assert_eq!(Client::of(peer, &h, &proxies).addr, ip("2001:db8::17"));
    // No header, or nothing usable: the proxy itself, exempt.
    for h in [headers(&[]), headers(&[("x-forwarded-for", "unknown")])] {
        let client = Client::of(peer, &h, &proxies);
        assert_eq!(
            client,
            Client {
                addr: peer,
                proxy: true
            }
        );
        assert!(client.claim().exempt);
    }
}

#[test]
fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
    let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let h = headers(&[(
        "forwarded",
        "for=1.1.1.1, For=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.2",
    )]);
    assert_eq!(
        Client::of(ip("10.0.0.1"), &h, &proxies).addr,
        ip("2001:db8:cafe::17")
    );
    let h = headers(&[("forwarded", "proto=https;for=_hidden")]);
    assert!(Client::of(ip("10.0.0.1"), &h, &proxies).proxy);
}
