use super::*;

#[test]
fn corrections_and_sign_off_survive_reopening_and_later_verdicts_win() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    {
        let mut log = ReviewLog::open(&data, "s1").unwrap();
        log.correct(3, ReviewVerdict::Class(1), 10, 4, "t1".into())
            .unwrap();
        log.correct(3, ReviewVerdict::NotACell, 10, 4, "t2".into())
            .unwrap();
        log.correct(7, ReviewVerdict::Unidentified, 10, 4, "t3".into())
            .unwrap();
    }
    let mut log = ReviewLog::open(&data, "s1").unwrap();
    assert_eq!(log.state().verdict(3), Some(ReviewVerdict::NotACell));
    assert_eq!(log.state().verdict(7), Some(ReviewVerdict::Unidentified));
    assert_eq!(log.state().verdict(0), None);
    // Every verdict stays in the file: the earlier one is superseded, not overwritten.
    assert_eq!(Journal::read_all(log.file()).unwrap().len(), 3);

    log.sign_off(&Initials::parse("A.B").unwrap(), true, "t4".into())
        .unwrap();
    let state = ReviewLog::read(&data, "s1").unwrap();
    assert_eq!(state.sign_off.as_ref().unwrap().initials, "A.B");
    assert_eq!(state.verdicts.len(), 2);
}

#[test]
fn bad_requests_are_refused_and_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let mut log = ReviewLog::open(&data, "s1").unwrap();
    assert!(matches!(
        log.correct(10, ReviewVerdict::Class(0), 10, 4, "t".into()),
        Err(ReviewError::UnknownCell {
            cell: 10,
            cells: 10,
            ..
        })
    ));
    assert!(matches!(
        log.correct(0, ReviewVerdict::Class(4), 10, 4, "t".into()),
        Err(ReviewError::UnknownClass {
            class: 4,
            classes: 4
        })
    ));
    let initials = Initials::parse("AB").unwrap();
    assert!(matches!(
        log.sign_off(&initials, false, "t".into()),
        Err(ReviewError::StillScanning { .. })
    ));
    assert_eq!(Journal::read_all(log.file()).unwrap().len(), 0);

    log.sign_off(&initials, true, "t".into()).unwrap();
    assert!(matches!(
        log.correct(0, ReviewVerdict::Class(0), 10, 4, "t".into()),
        Err(ReviewError::SignedOff { .. })
    ));
    assert!(matches!(
        log.sign_off(&initials, true, "t".into()),
        Err(ReviewError::SignedOff { .. })
    ));
    assert_eq!(Journal::read_all(log.file()).unwrap().len(), 1);
}

#[test]
fn a_review_journal_of_another_slide_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    ReviewLog::open(&data, "s1")
        .unwrap()
        .correct(0, ReviewVerdict::Class(0), 1, 4, "t".into())
        .unwrap();
    std::fs::rename(data.review_journal("s1"), data.review_journal("s2")).unwrap();
    assert!(matches!(
        ReviewLog::read(&data, "s2"),
        Err(ReviewError::Foreign { .. })
    ));
    assert!(ReviewLog::read(&data, "s3").unwrap() == ReviewState::default());
}

#[test]
fn initials_are_letters_only() {
    for good in ["A", "AB", "a.b.", "J-P", " KM "] {
        assert!(Initials::parse(good).is_ok(), "{good}");
    }
    for bad in ["", ".", "-AB", "Anne Marie", "ABCDEFGHI", "A1", "<b>", "ÅB"] {
        assert!(Initials::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_flipped_bit_in_the_sign_off_is_named_damage_and_the_file_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path());
    let mut log = ReviewLog::open(&data, "s1").unwrap();
    log.correct(
        3,
        ReviewVerdict::Class(1),
        10,
        4,
        "2026-12-03T10:00:00Z".into(),
    )
    .unwrap();
    let before = log.journal.committed_len() as usize;
    log.sign_off(
        &Initials::parse("AB").unwrap(),
        true,
        "2026-12-03T10:05:00Z".into(),
    )
    .unwrap();
    let path = log.file().to_path_buf();
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[before + 20] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();

    for result in [
        ReviewLog::read(&data, "s1").map(|_| ()),
        ReviewLog::open(&data, "s1").map(|_| ()),
    ] {
        match result {
            Err(ReviewError::Journal(JournalError::Corrupt {
                offset,
                records_before,
                ..
            })) => {
                assert_eq!((offset, records_before), (before as u64, 1));
            }
            other => panic!("expected the damage to be named, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file must be kept as it is"
    );
}
