use super::fake::FakeClock;
use super::*;

#[test]
fn pacer_keeps_the_rate_without_drift_or_bursts() {
    let clock = FakeClock::new();
    let ms = Duration::from_millis;
    let mut pacer = Pacer::new(Rate::Every(ms(100)));
    pacer.wait(&clock); // the first frame is due at once
    clock.advance(ms(30)); // decoding took 30 ms
    pacer.wait(&clock); // waits the remaining 70
    clock.advance(ms(250)); // a slow read: 150 ms late
    pacer.wait(&clock); // no wait, and no burst after it
    pacer.wait(&clock);
    assert_eq!(clock.sleeps(), vec![ms(70), ms(100)]);
    assert_eq!(clock.elapsed(), ms(450));

    let mut unlimited = Pacer::new(Rate::Unlimited);
    for _ in 0..3 {
        unlimited.wait(&clock);
    }
    assert_eq!(clock.sleeps().len(), 2);
}
