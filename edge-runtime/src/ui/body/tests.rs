use super::*;
use crate::ui::reply::ECHO_LIMIT;

#[test]
fn each_body_is_read_in_its_shape() {
    assert_eq!(
        verdict(br#"{"verdict":"class","class":2}"#).unwrap(),
        ReviewVerdict::Class(2)
    );
    assert_eq!(
        verdict(br#"{"verdict":"unidentified"}"#).unwrap(),
        ReviewVerdict::Unidentified
    );
    assert_eq!(
        verdict(br#"{"verdict":"not_a_cell","class":null}"#).unwrap(),
        ReviewVerdict::NotACell
    );
    assert_eq!(sign_off(br#"{"initials":"A.B"}"#).unwrap(), "A.B");
    assert_eq!(login(br#"{"token":"t"}"#).unwrap(), "t");
    for wrong in [
        &br#"{"verdict":"class"}"#[..],
        br#"{"verdict":"unidentified","class":1}"#,
        br#"{"verdict":"maybe"}"#,
        br#"{"class":1}"#,
        b"[]",
        b"",
    ] {
        assert!(
            matches!(verdict(wrong), Err(BodyError::Invalid(_))),
            "{}",
            String::from_utf8_lossy(wrong)
        );
    }
}

#[test]
fn every_body_refuses_a_field_it_does_not_know() {
    let verdicts = [
        r#"{"verdict":"class","class":1,"note":"x"}"#,
        r#"{"verdict":"unidentified","class_":1}"#,
        r#"{"verdict":"not_a_cell","by":"AB"}"#,
    ];
    for body in verdicts {
        let e = verdict(body.as_bytes()).err();
        assert!(
            matches!(&e, Some(BodyError::Invalid(m)) if m.contains("unknown field")),
            "{body}: {e:?}"
        );
    }
    let e = sign_off(br#"{"initials":"AB","at":"now"}"#).err();
    assert!(matches!(&e, Some(BodyError::Invalid(m)) if m.contains("unknown field")));
    let e = login(br#"{"token":"t","remember":true}"#).err();
    assert!(matches!(&e, Some(BodyError::Invalid(m)) if m.contains("unknown field")));
}

#[test]
fn refusals_repeat_at_most_a_short_prefix_of_the_body() {
    let long = "x".repeat(5000);
    let bodies = [
        format!(r#"{{"verdict":"{long}"}}"#),
        format!(r#"{{"verdict":"class","{long}":1}}"#),
        format!(r#"{{"verdict":"class","class":"{long}"}}"#),
    ];
    for body in &bodies {
        let e = verdict(body.as_bytes()).unwrap_err().to_string();
        assert!(e.chars().count() < ECHO_LIMIT + 80, "{e}");
        assert!(e.contains("xxx…"), "{e}");
    }
    let e = sign_off(format!(r#"{{"{long}":"AB"}}"#).as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.chars().count() < ECHO_LIMIT + 80, "{e}");
    let e = login(format!(r#"{{"token":1,"{long}":2}}"#).as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.chars().count() < ECHO_LIMIT + 80, "{e}");
}
