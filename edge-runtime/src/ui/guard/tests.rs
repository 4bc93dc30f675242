use super::*;

#[test]
fn only_loopback_names_are_loopback_hosts() {
    for good in ["127.0.0.1:8080", "localhost:80", "[::1]:8080", "localhost"] {
        assert!(is_loopback_host(good), "{good}");
    }
    for bad in [
        "evil.example:8080",
        "127.0.0.1.evil.example",
        "",
        "10.0.0.2:8080",
    ] {
        assert!(!is_loopback_host(bad), "{bad}");
    }
}

#[test]
fn the_token_must_match_exactly() {
    let access = Access::new(
        Some("correct-horse-battery".into()),
        "0.0.0.0:8080".parse().unwrap(),
    );
    assert!(access.token_matches("correct-horse-battery"));
    assert!(!access.token_matches("correct-horse-batter"));
    assert!(!access.token_matches("correct-horse-batteryX"));
    assert!(!access.token_matches(""));
    let none = Access::new(None, access.bound);
    assert!(!none.token_matches(""));
}
