//! iCalendar reading and writing, round trips and what other tools send.

use jiff::Timestamp;

use super::*;

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
}

/// Reads with recurring events expanded from 2025-05-31 to 2026-12-01.
fn read(text: &str) -> (Vec<Event>, Vec<(usize, String)>) {
    super::read(text, &Window::around(ms("2026-06-01T00:00:00Z")))
}

fn read_ok(text: &str) -> Vec<Event> {
    let (events, errors) = read(text);
    assert!(errors.is_empty(), "{errors:?}");
    events
}

/// Wraps VEVENT lines in a calendar, joined with CRLF.
fn calendar(lines: &[&str]) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    for line in lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

#[test]
fn round_trips_events_field_for_field() {
    let events = vec![
        Event {
            uid: "timed-1@keel".into(),
            title: "Coffee; with Ada, maybe\nthen a walk \\ talk".into(),
            starts_at: ms("2026-11-23T09:00:00Z"),
            ends_at: ms("2026-11-23T10:30:00Z"),
            all_day: false,
            location: "Café Größe, Berlin; upstairs".into(),
            description: "Agenda:\n1. Ünïcode, commas; semicolons\n".repeat(8),
            attendees: vec!["ada@example.com".into(), "grace@example.org".into()],
            series_uid: None,
        },
        Event {
            uid: "all-day-1@keel".into(),
            title: String::new(),
            starts_at: ms("2026-11-23T00:00:00Z"),
            ends_at: ms("2026-11-26T00:00:00Z"),
            all_day: true,
            location: String::new(),
            description: String::new(),
            attendees: Vec::new(),
            series_uid: None,
        },
    ];
    let text = write_calendar(&events, ms("2026-01-02T03:04:05Z"));
    assert!(text.starts_with(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//keel//MindfulCRM//EN\r\nCALSCALE:GREGORIAN\r\n"
    ));
    assert!(text.contains("\r\nDTSTAMP:20260102T030405Z\r\n"));
    assert!(text.contains("\r\nDTSTART:20261123T090000Z\r\nDTEND:20261123T103000Z\r\n"));
    assert!(text.contains("\r\nDTSTART;VALUE=DATE:20261123\r\nDTEND;VALUE=DATE:20261126\r\n"));
    assert!(text.contains("\r\nATTENDEE:mailto:ada@example.com\r\n"));
    assert!(text.contains("\r\n "), "the long description is folded");
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "{line:?}");
        assert!(!line.contains('\n'));
    }
    assert_eq!(read_ok(&text), events);
}

#[test]
fn writes_unreadable_stored_values_as_readable_ones() {
    let event = Event {
        uid: "x".into(),
        title: String::new(),
        starts_at: ms("2026-11-23T09:00:00.750Z"),
        ends_at: ms("2026-11-23T08:00:00Z"),
        all_day: false,
        location: String::new(),
        description: String::new(),
        attendees: vec!["evil@example.com\r\nX-INJECTED:1".into()],
        series_uid: None,
    };
    let text = write_calendar(std::slice::from_ref(&event), i64::MAX);
    assert!(text.contains("DTSTAMP:99981231T235959Z"));
    assert!(!text.contains("\r\nX-INJECTED"));
    let back = &read_ok(&text)[0];
    assert_eq!(back.starts_at, ms("2026-11-23T09:00:00Z"));
    assert_eq!(back.ends_at, back.starts_at);
    // An all-day event ending mid-day covers that day; one without length covers one day.
    let all_day = |starts_at, ends_at| Event {
        all_day: true,
        starts_at,
        ends_at,
        ..event.clone()
    };
    let text = write_calendar(
        &[
            all_day(ms("2026-11-23T00:00:00Z"), ms("2026-11-24T12:00:00Z")),
            all_day(ms("2026-11-23T00:00:00Z"), ms("2026-11-23T00:00:00Z")),
        ],
        0,
    );
    let back = read_ok(&text);
    assert_eq!(back[0].ends_at, ms("2026-11-25T00:00:00Z"));
    assert_eq!(back[1].ends_at, ms("2026-11-24T00:00:00Z"));
    let last = read_ok(&write_calendar(&[all_day(i64::MAX, i64::MAX)], 0));
    assert_eq!(last[0].starts_at, ms("9998-12-31T00:00:00Z"));
    assert_eq!(last[0].ends_at, ms("9999-01-01T00:00:00Z"));
    assert_eq!(MIN_MS, ms("0001-01-01T00:00:00Z"));
    assert_eq!(MAX_MS, ms("9998-12-31T23:59:59.999Z"));
}

#[test]
fn converts_time_zones_across_daylight_saving() {
    // Europe/Berlin moves from +01:00 to +02:00 at 02:00 local on 2026-03-29.
    let events = read_ok(&calendar(&[
        "BEGIN:VEVENT",
        "UID:over-the-switch",
        "DTSTART;TZID=Europe/Berlin:20260329T010000",
        "DTEND;TZID=\"Europe/Berlin\":20260329T040000",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:in-the-gap",
        "DTSTART;TZID=/example.com/20260101_1/Europe/Berlin:20260329T023000",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:floating",
        "DTSTART:20260329T010000",
        "DTEND;TZID=America/New_York:20260329T010000",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:utc-wins-over-tzid",
        "DTSTART;TZID=Europe/Berlin:20260329T010000Z",
        "END:VEVENT",
    ]));
    assert_eq!(events[0].starts_at, ms("2026-03-29T00:00:00Z"));
    assert_eq!(events[0].ends_at, ms("2026-03-29T02:00:00Z"));
    assert!(!events[0].all_day);
    // RFC 5545: a time that does not exist uses the offset from before the gap.
    assert_eq!(events[1].starts_at, ms("2026-03-29T01:30:00Z"));
    assert_eq!(events[1].ends_at, events[1].starts_at);
    assert_eq!(events[2].starts_at, ms("2026-03-29T01:00:00Z"));
    assert_eq!(events[2].ends_at, ms("2026-03-29T05:00:00Z"));
    assert_eq!(events[3].starts_at, ms("2026-03-29T01:00:00Z"));
}

#[test]
fn reads_durations() {
    let events = read_ok(&calendar(&[
        "BEGIN:VEVENT",
        "UID:hour",
        "DTSTART:20261123T090000Z",
        "DURATION:PT1H",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:half-hour",
        "DTSTART:20261123T090000Z",
        "DURATION:+PT30M",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:day-and-two-hours",
        "DTSTART:20261123T090000Z",
        "DURATION:P1DT2H",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:two-weeks",
        "DTSTART;VALUE=DATE:20261123",
        "DURATION:P2W",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:nominal-day-over-dst",
        "DTSTART;TZID=Europe/Berlin:20260328T120000",
        "DURATION:P1D",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:all-day-default",
        "DTSTART;VALUE=DATE:20261123",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:dtend-wins",
        "DTSTART:20261123T090000Z",
        "DTEND:20261123T091500Z",
        "DURATION:PT1H",
        "END:VEVENT",
    ]));
    let lengths: Vec<i64> = events.iter().map(|e| e.ends_at - e.starts_at).collect();
    let hour = 3_600_000;
    assert_eq!(
        lengths,
        [
            hour,
            hour / 2,
            26 * hour,
            14 * 24 * hour,
            23 * hour,
            24 * hour,
            hour / 4
        ]
    );
    assert!(events[3].all_day && events[5].all_day);
    assert_eq!(events[3].starts_at, ms("2026-11-23T00:00:00Z"));
    assert_eq!(
        parse_duration("P1W2DT3H4M5S"),
        Some((9, 3 * 3600 + 4 * 60 + 5))
    );
    for bad in [
        "", "P", "PT", "1H", "PH", "P1H", "PT1D", "P1DT", "P1.5D", "PT1H2",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad:?}");
    }
}

#[test]
fn reads_a_server_export_with_other_components() {
    let text = "\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example Corp//Example Calendar 4.2//EN\r
METHOD:PUBLISH\r
X-WR-CALNAME:Work\r
X-WR-TIMEZONE:Europe/Berlin\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
X-LIC-LOCATION:Europe/Berlin\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
DTSTAMP:20260101T120000Z\r
UID:5f1c2e7a-9a0b-4c1d-8e2f-3a4b5c6d7e8f@calendar.example.com\r
SEQUENCE:2\r
CREATED:20251201T080000Z\r
SUMMARY;LANGUAGE=en:Quarterly review\\, Q2\r
DTSTART;TZID=Europe/Berlin:20260615T140000\r
DTEND;TZID=Europe/Berlin:20260615T153000\r
LOCATION:Room 4\\; Building B\r
DESCRIPTION:Bring the numbers.\\nAnd the slides\\, please. This line is lo\r
 ng enough that the server folded it across two physical lines.\r
ORGANIZER;CN=\"Doe, Jane\":MAILTO:Jane.Doe@Example.com\r
ATTENDEE;CN=Sam;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:\r
 sam@example.com\r
ATTENDEE;CUTYPE=ROOM;CN=Room 4:urn:uuid:00000000-0000-0000-0000-000000000004\r
ATTENDEE;CN=Jane;PARTSTAT=ACCEPTED:mailto:jane.doe@example.com\r
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r
X-ALT-DESC;FMTTYPE=text/html:<p>Bring the numbers: <b>all</b></p>\r
X-GOOGLE-CONFERENCE:https://meet.example.com/abc-defg-hij\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Reminder\r
SUMMARY:Alarm summary\r
TRIGGER;RELATED=START:-PT15M\r
UID:alarm-1\r
END:VALARM\r
STATUS:CONFIRMED\r
END:VEVENT\r
BEGIN:VTODO\r
UID:todo-1@calendar.example.com\r
DTSTART:20260601T090000Z\r
SUMMARY:Not an event\r
END:VTODO\r
BEGIN:VEVENT\r
UID:weekly@calendar.example.com\r
DTSTART;TZID=Europe/Berlin:20260105T090000\r
DURATION:PT15M\r
RRULE:FREQ=WEEKLY;BYDAY=MO\r
SUMMARY:Stand-up\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly@calendar.example.com\r
RECURRENCE-ID;TZID=Europe/Berlin:20260112T090000\r
DTSTART;TZID=Europe/Berlin:20260112T100000\r
DURATION:PT15M\r
SUMMARY:Stand-up (moved)\r
END:VEVENT\r
END:VCALENDAR\r
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example Corp//Other//EN\r
BEGIN:VEVENT\r
UID:one-instance@calendar.example.com\r
RECURRENCE-ID:20260302T080000Z\r
DTSTART:20260302T080000Z\r
SUMMARY:Only this instance was shared\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:one-instance@calendar.example.com\r
RECURRENCE-ID:20260309T080000Z\r
DTSTART:20260309T080000Z\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:birthday@calendar.example.com\r
DTSTART;VALUE=DATE:20261224\r
DTEND;VALUE=DATE:20261225\r
SUMMARY:Ada's birthday\r
END:VEVENT\r
END:VCALENDAR\r
";
    let events = read_ok(text);
    let uids: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
    // Mondays from 5 January to the end of the window, the 12th moved an hour later.
    let weekly = events
        .iter()
        .filter(|e| e.series_uid.as_deref() == Some("weekly@calendar.example.com"))
        .count();
    assert_eq!(weekly, 48);
    assert_eq!(
        [uids[0], uids[1], uids[2], uids[49], uids[50], uids[51]],
        [
            "5f1c2e7a-9a0b-4c1d-8e2f-3a4b5c6d7e8f@calendar.example.com",
            "weekly@calendar.example.com#20260105T080000Z",
            "weekly@calendar.example.com#20260112T080000Z",
            "birthday@calendar.example.com",
            "one-instance@calendar.example.com#20260302T080000Z",
            "one-instance@calendar.example.com#20260309T080000Z",
        ]
    );
    let review = &events[0];
    assert_eq!(review.title, "Quarterly review, Q2");
    assert_eq!(review.starts_at, ms("2026-06-15T12:00:00Z"));
    assert_eq!(review.ends_at, ms("2026-06-15T13:30:00Z"));
    assert_eq!(review.location, "Room 4; Building B");
    assert_eq!(
        review.description,
        "Bring the numbers.\nAnd the slides, please. This line is long enough that the server folded it across two physical lines."
    );
    assert_eq!(
        review.attendees,
        ["jane.doe@example.com", "sam@example.com"]
    );
    // The winter offset is +01:00, the summer one +02:00.
    assert_eq!(events[1].title, "Stand-up");
    assert_eq!(events[1].starts_at, ms("2026-01-05T08:00:00Z"));
    assert_eq!(events[1].ends_at, ms("2026-01-05T08:15:00Z"));
    assert_eq!(events[2].title, "Stand-up (moved)");
    assert_eq!(events[2].starts_at, ms("2026-01-12T09:00:00Z"));
    assert!(uids.contains(&"weekly@calendar.example.com#20260706T070000Z"));
    assert_eq!(events[50].title, "Only this instance was shared");
    assert!(events[49].all_day);
    assert_eq!(events[49].title, "Ada's birthday");
}

#[test]
fn reports_problems_by_line() {
    let text = calendar(&[
        "BEGIN:VEVENT",                                   // 3
        "UID:no-start",                                   // 4
        "SUMMARY:No start",                               // 5
        "END:VEVENT",                                     // 6
        "BEGIN:VEVENT",                                   // 7
        "UID:bad-date",                                   // 8
        "DTSTART:20261332T100000Z",                       // 9
        "END:VEVENT",                                     // 10
        "BEGIN:VEVENT",                                   // 11
        "UID:unknown-zone",                               // 12
        "DTSTART;TZID=Mars/Olympus_Mons:20261101T100000", // 13
        "END:VEVENT",                                     // 14
        "BEGIN:VEVENT",                                   // 15
        "UID:backwards",                                  // 16
        "DTSTART:20261101T100000Z",                       // 17
        "DTEND:20261101T090000Z",                         // 18
        "END:VEVENT",                                     // 19
        "BEGIN:VEVENT",                                   // 20
        "UID:negative",                                   // 21
        "DTSTART:20261101T100000Z",                       // 22
        "DURATION:-PT1H",                                 // 23
        "END:VEVENT",                                     // 24
        "BEGIN:VEVENT",                                   // 25
        "DTSTART:20261101T100000Z",                       // 26
        "END:VEVENT",                                     // 27
        "BEGIN:VEVENT",                                   // 28
        "UID:bad-day",                                    // 29
        "DTSTART;VALUE=DATE:2026-11-01",                  // 30
        "END:VEVENT",                                     // 31
        "BEGIN:VEVENT",                                   // 32
        "UID:fine",                                       // 33
        "DTSTART:20261101T100000Z",                       // 34
        "END:VEVENT",                                     // 35
    ]);
    let (events, errors) = read(&text);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].uid, "fine");
    let expected = [
        (3, "this event has no DTSTART"),
        (
            9,
            "DTSTART `20261332T100000Z` is not a date-time (YYYYMMDDTHHMMSSZ)",
        ),
        (13, "DTSTART has an unknown time zone `Mars/Olympus_Mons`"),
        (18, "DTEND is before DTSTART"),
        (23, "DURATION `-PT1H` is negative"),
        (25, "this event has no UID"),
        (30, "DTSTART `2026-11-01` is not a date (YYYYMMDD)"),
    ];
    let expected: Vec<(usize, String)> =
        expected.iter().map(|(l, m)| (*l, m.to_string())).collect();
    assert_eq!(errors, expected);
    // Multi-byte characters where digits belong are refused, not sliced through.
    let (_, errors) = read(&calendar(&[
        "BEGIN:VEVENT",
        "UID:x",
        "DTSTART:2026é101T10000é",
        "END:VEVENT",
    ]));
    assert_eq!(
        errors,
        [(
            5,
            "DTSTART `2026é101T10000é` is not a date-time (YYYYMMDDTHHMMSSZ)".to_string()
        )]
    );
}

#[test]
fn reports_unterminated_and_misplaced_components() {
    let (events, errors) =
        read("BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:x\nDTSTART:20261101T100000Z\n");
    assert!(events.is_empty());
    assert_eq!(
        errors,
        [
            (1, "BEGIN:VCALENDAR has no END:VCALENDAR".to_string()),
            (3, "BEGIN:VEVENT has no END:VEVENT".to_string()),
        ]
    );
    // A VALARM left open is closed by its event's END, which still reads the event.
    let (events, errors) = read(&calendar(&[
        "BEGIN:VEVENT",
        "UID:x",
        "DTSTART:20261101T100000Z",
        "BEGIN:VALARM",
        "TRIGGER:-PT5M",
        "END:VEVENT",
        "END:VALARM",
    ]));
    assert_eq!(events.len(), 1);
    assert_eq!(
        errors,
        [
            (6, "BEGIN:VALARM has no END:VALARM".to_string()),
            (9, "END:VALARM without BEGIN:VALARM".to_string()),
        ]
    );
    // An event whose END is missing is not read, even when its calendar ends.
    let (events, errors) = read(&calendar(&[
        "BEGIN:VEVENT",
        "UID:x",
        "DTSTART:20261101T100000Z",
    ]));
    assert!(events.is_empty());
    assert_eq!(errors, [(3, "BEGIN:VEVENT has no END:VEVENT".to_string())]);
    let (_, errors) = read(&format!(
        "{}UID:stray\n",
        calendar(&[
            "BEGIN:VEVENT",
            "UID:a",
            "DTSTART:20261101",
            "BEGIN:VEVENT",
            "END:VEVENT",
            "END:VEVENT"
        ])
    ));
    assert_eq!(
        errors,
        [
            (6, "an event begins inside another event".to_string()),
            (
                10,
                "`UID` outside BEGIN:VCALENDAR … END:VCALENDAR".to_string()
            ),
        ]
    );
}

#[test]
fn refuses_files_without_a_calendar() {
    let none = vec![(1, "the file has no BEGIN:VCALENDAR".to_string())];
    assert_eq!(read(""), (Vec::new(), none.clone()));
    assert_eq!(
        read("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada\r\nEND:VCARD\r\n"),
        (Vec::new(), none)
    );
    assert_eq!(
        read("BEGIN:VCALENDAR\r\nnot a content line\r\n").1,
        [(2, "is not a content line (NAME:value)".to_string())]
    );
    // An empty calendar is a valid file with no events.
    assert_eq!(read(&calendar(&[])), (Vec::new(), Vec::new()));
}
