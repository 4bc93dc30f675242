use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

#[tokio::test(start_paused = true)]
async fn checks_sent_together_after_a_failure_are_one_cost_apart_and_a_pass_forgives() {
    let throttle = Throttle::default();
    let (guesser, other) = (ip("10.0.0.9"), ip("10.0.0.7"));
    assert_eq!(throttle.turn(guesser), Turn::Now);
    let start = Instant::now();
    assert_eq!(throttle.failed(guesser), start + FAILURE_COST);
    // Three more checks at once: each waits for a turn of its own.
    for k in 1..=3 {
        assert_eq!(throttle.turn(guesser), Turn::At(start + FAILURE_COST * k));
    }
    assert_eq!(
        throttle.turn(other),
        Turn::Now,
        "another client does not pay"
    );
    tokio::time::sleep(FAILURE_COST * 10).await;
    assert_eq!(throttle.turn(guesser), Turn::Now, "the debt is paid off");
    throttle.failed(guesser);
    throttle.passed(guesser);
    assert_eq!(throttle.turn(guesser), Turn::Now);
}

#[tokio::test(start_paused = true)]
async fn a_client_owing_more_than_the_longest_wait_is_refused_unchecked() {
    let throttle = Throttle::default();
    let guesser = ip("192.168.1.20");
    throttle.failed(guesser);
    let mut turns = 0;
    while let Turn::At(_) = throttle.turn(guesser) {
        turns += 1;
        assert!(turns < 1000, "never refused");
    }
    assert_eq!(
        turns as u32,
        MAX_WAIT.as_secs() as u32 / FAILURE_COST.as_secs() as u32
    );
    assert_eq!(throttle.turn(guesser), Turn::Refused);
}

#[tokio::test(start_paused = true)]
async fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_address() {
    let throttle = Throttle::default();
    throttle.failed(ip("2001:db8:5:6::1"));
    assert!(matches!(
        throttle.turn(ip("2001:db8:5:6:ffff::9")),
        Turn::At(_)
    ));
    assert_eq!(throttle.turn(ip("2001:db8:5:7::1")), Turn::Now);
    throttle.failed(ip("::ffff:10.1.2.3"));
    assert!(matches!(throttle.turn(ip("10.1.2.3")), Turn::At(_)));
}

#[tokio::test(start_paused = true)]
async fn past_the_most_clients_newcomers_share_one_turn() {
    let throttle = Throttle::default();
    for k in 0..MAX_CLIENTS as u32 {
        throttle.failed(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + k)));
    }
    let (first, second) = (ip("172.16.0.1"), ip("172.16.0.2"));
    assert_eq!(throttle.turn(first), Turn::Now);
    throttle.failed(first);
    assert!(
        matches!(throttle.turn(second), Turn::At(_)),
        "a newcomer past the limit pays for the others"
    );
    assert!(throttle.clients().len() <= MAX_CLIENTS + 1);
    // Once the debts are paid, the remembered clients are let go.
    tokio::time::sleep(MAX_WAIT * 2).await;
    throttle.failed(second);
    assert!(throttle.clients().len() < 10);
}
