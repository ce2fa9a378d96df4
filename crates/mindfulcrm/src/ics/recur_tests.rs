//! Recurrence rules expanded as RFC 5545's own examples list them, and the limits around them.

use jiff::Timestamp;

use super::*;

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
}

const WIDE: Window = Window {
    from: MIN_MS,
    to: MAX_MS,
};

/// The local start times (in `tz`) of the occurrences of one event.
fn starts(dtstart: &str, rule: &str, window: &Window) -> Vec<String> {
    let text = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:s\r\nDTSTART;TZID=America/New_York:{dtstart}\r\n\
         DURATION:PT1H\r\n{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let (events, errors) = read(&text, window);
    assert!(errors.is_empty(), "{errors:?}");
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    events
        .iter()
        .map(|e| {
            tz.to_datetime(Timestamp::from_millisecond(e.starts_at).unwrap())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .collect()
}

fn dates(list: &str) -> Vec<String> {
    list.split(' ').map(|d| format!("{d} 09:00")).collect()
}

#[test]
fn daily_for_ten_occurrences() {
    assert_eq!(
        starts("19970902T090000", "RRULE:FREQ=DAILY;COUNT=10", &WIDE),
        dates(
            "1997-09-02 1997-09-03 1997-09-04 1997-09-05 1997-09-06 1997-09-07 1997-09-08 1997-09-09 1997-09-10 1997-09-11"
        )
    );
}

#[test]
fn daily_until_keeps_the_wall_clock_across_the_change_of_offset() {
    let all = starts(
        "19970902T090000",
        "RRULE:FREQ=DAILY;UNTIL=19971224T000000Z",
        &WIDE,
    );
    assert_eq!(all.len(), 113);
    assert_eq!(all.last().unwrap(), "1997-12-23 09:00");
    assert!(all.iter().all(|s| s.ends_with("09:00")));
}

#[test]
fn every_other_week_on_tuesday_and_thursday() {
    assert_eq!(
        starts(
            "19970902T090000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=TU,TH;COUNT=8",
            &WIDE
        ),
        dates(
            "1997-09-02 1997-09-04 1997-09-16 1997-09-18 1997-09-30 1997-10-02 1997-10-14 1997-10-16"
        )
    );
}

#[test]
fn monthly_on_the_first_friday() {
    assert_eq!(
        starts(
            "19970905T090000",
            "RRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
            &WIDE
        ),
        dates(
            "1997-09-05 1997-10-03 1997-11-07 1997-12-05 1998-01-02 1998-02-06 1998-03-06 1998-04-03 1998-05-01 1998-06-05"
        )
    );
}

#[test]
fn monthly_on_the_third_to_last_day() {
    let window = Window {
        from: MIN_MS,
        to: ms("1998-03-01T00:00:00Z"),
    };
    assert_eq!(
        starts(
            "19970928T090000",
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=-3",
            &window
        ),
        dates("1997-09-28 1997-10-29 1997-11-28 1997-12-29 1998-01-29 1998-02-26")
    );
}

#[test]
fn last_working_day_of_the_month() {
    assert_eq!(
        starts(
            "19970930T090000",
            "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=7",
            &WIDE
        ),
        dates("1997-09-30 1997-10-31 1997-11-28 1997-12-31 1998-01-30 1998-02-27 1998-03-31")
    );
}

#[test]
fn the_31st_skips_shorter_months() {
    assert_eq!(
        starts("20260131T090000", "RRULE:FREQ=MONTHLY;COUNT=4", &WIDE),
        dates("2026-01-31 2026-03-31 2026-05-31 2026-07-31")
    );
}

#[test]
fn yearly_in_june_and_july() {
    assert_eq!(
        starts(
            "19970610T090000",
            "RRULE:FREQ=YEARLY;COUNT=6;BYMONTH=6,7",
            &WIDE
        ),
        dates("1997-06-10 1997-07-10 1998-06-10 1998-07-10 1999-06-10 1999-07-10")
    );
}

#[test]
fn the_twentieth_monday_of_the_year() {
    assert_eq!(
        starts(
            "19970519T090000",
            "RRULE:FREQ=YEARLY;BYDAY=20MO;COUNT=3",
            &WIDE
        ),
        dates("1997-05-19 1998-05-18 1999-05-17")
    );
}

#[test]
fn exdate_and_rdate() {
    assert_eq!(
        starts(
            "20260105T090000",
            "RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=America/New_York:20260112T090000,20260119T090000\r\nRDATE;TZID=America/New_York:20260110T090000",
            &WIDE
        ),
        dates("2026-01-05 2026-01-10 2026-01-26")
    );
}

#[test]
fn a_series_from_long_ago_is_expanded_only_within_the_window() {
    let window = Window {
        from: ms("2026-01-01T00:00:00Z"),
        to: ms("2026-02-01T00:00:00Z"),
    };
    // Every other Monday since 3 January 2000; 12 January 2026 is one of them.
    assert_eq!(
        starts("20000103T090000", "RRULE:FREQ=WEEKLY;INTERVAL=2", &window),
        dates("2026-01-12 2026-01-26")
    );
    // Daily for ever: one window's worth, not 26 years.
    assert_eq!(
        starts("20000103T090000", "RRULE:FREQ=DAILY", &window).len(),
        31
    );
}

#[test]
fn an_endless_daily_series_is_capped() {
    let window = Window {
        from: ms("2026-01-01T00:00:00Z"),
        to: ms("2036-01-01T00:00:00Z"),
    };
    assert_eq!(
        starts("20260101T090000", "RRULE:FREQ=DAILY", &window).len(),
        1_000
    );
}

#[test]
fn a_rule_that_matches_nothing_ends() {
    // 30 February never comes: only the first occurrence.
    assert_eq!(
        starts(
            "20260101T090000",
            "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            &WIDE
        ),
        dates("2026-01-01")
    );
}

#[test]
fn rules_with_parts_not_expanded_stand_as_the_first_occurrence() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:hourly\r\nDTSTART:20260105T090000Z\r\n\
                RRULE:FREQ=HOURLY;COUNT=5\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (events, errors) = read(text, &WIDE);
    assert!(errors.is_empty());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].uid, "hourly");
    assert_eq!(events[0].series_uid, None);
}

#[test]
fn an_unreadable_rule_is_a_problem_on_its_line() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:bad\r\nDTSTART:20260105T090000Z\r\n\
                RRULE:FREQ=WEEKLY;BYDAY=XX\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (events, errors) = read(text, &WIDE);
    assert!(events.is_empty());
    assert_eq!(
        errors,
        [(5, "RRULE: BYDAY `XX` cannot be read".to_string())]
    );
}

#[test]
fn all_day_occurrences_are_named_by_their_date() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:bday\r\nDTSTART;VALUE=DATE:19900317\r\n\
                RRULE:FREQ=YEARLY\r\nSUMMARY:Birthday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let window = Window::around(ms("2026-06-01T00:00:00Z"));
    let (events, _) = read(text, &window);
    let uids: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids, ["bday#20260317"]);
    assert!(events[0].all_day);
    assert_eq!(events[0].ends_at - events[0].starts_at, 86_400_000);
}
