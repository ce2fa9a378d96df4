//! Rotations, layers and overrides computed against hand-worked shifts.

#[test]
fn restrictions_read_and_write_as_lines() {
    let list = super::parse_restrictions(
        "mon-fri 09:00-17:00\n\n sat,sun 10:00-14:00\nfri-mon 22:00-06:00",
    )
    .unwrap();
    assert_eq!(list[0].days, vec![1, 2, 3, 4, 5]);
    assert_eq!(list[1].days, vec![6, 7]);
    assert_eq!(
        list[2].days,
        vec![5, 6, 7, 1],
        "ranges wrap around the week"
    );
    assert_eq!(
        super::format_restrictions(&list),
        "mon,tue,wed,thu,fri 09:00-17:00\nsat,sun 10:00-14:00\nfri,sat,sun,mon 22:00-06:00"
    );
    for bad in ["monday", "xyz 09:00-17:00", "mon 09:00", "mon 25:00-26:00"] {
        let err = super::parse_restrictions(bad).unwrap_err();
        assert!(err.contains(bad.trim()), "{bad}: {err}");
    }
}

use super::*;

fn ms(tz: &str, local: &str) -> i64 {
    local_ms(&time_zone(tz).unwrap(), parse_local(local).unwrap())
}

fn daily(tz: &str, start: &str, people: &[i64]) -> Schedule {
    Schedule {
        time_zone: time_zone(tz).unwrap(),
        layers: vec![Rotation {
            unit: ShiftUnit::Days,
            length: 1,
            start: parse_local(start).unwrap(),
            participants: people.to_vec(),
            restrictions: vec![],
        }],
        overrides: vec![],
    }
}

fn local(tz: &str, at: i64) -> String {
    Instant::from_millisecond(at)
        .unwrap()
        .to_zoned_datetime(time_zone(tz).unwrap())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// Daily 09:00 handoffs stay at 09:00 local across both transitions of each zone, and a
/// 23- or 25-hour (or 23.5/24.5 on Lord Howe) day is one whole shift.
#[test]
fn daily_handoff_keeps_local_time_across_dst() {
    let cases = [
        ("America/New_York", "2026-03-05T09:00", "2026-03-15T09:00"),
        ("America/New_York", "2026-10-28T09:00", "2026-11-07T09:00"),
        ("Europe/Berlin", "2026-03-25T09:00", "2026-04-04T09:00"),
        ("Europe/Berlin", "2026-10-20T09:00", "2026-10-30T09:00"),
        (
            "Australia/Lord_Howe",
            "2026-03-30T09:00",
            "2026-04-09T09:00",
        ),
        (
            "Australia/Lord_Howe",
            "2026-09-30T09:00",
            "2026-10-10T09:00",
        ),
    ];
    for (tz, from, to) in cases {
        let schedule = daily(tz, "2026-01-01T09:00", &[1, 2, 3]);
        let shifts = schedule.shifts(ms(tz, from), ms(tz, to));
        assert_eq!(shifts.len(), 10, "{tz}: {shifts:?}");
        let lengths: std::collections::BTreeSet<i64> =
            shifts.iter().map(|s| s.ends_at - s.starts_at).collect();
        assert!(
            lengths.len() == 2,
            "{tz}: one shift is shorter or longer: {lengths:?}"
        );
        for shift in &shifts {
            assert!(local(tz, shift.starts_at).ends_with("T09:00"), "{tz}");
            assert!(local(tz, shift.ends_at).ends_with("T09:00"), "{tz}");
        }
        for pair in shifts.windows(2) {
            assert_eq!(pair[0].ends_at, pair[1].starts_at, "{tz}: gap or overlap");
            assert_ne!(pair[0].user_id, pair[1].user_id);
        }
    }
}

/// A handoff at a local time the spring transition skips happens at the first instant
/// after the gap; one the autumn transition repeats happens once.
#[test]
fn handoffs_inside_transitions() {
    let tz = "Europe/Berlin";
    let schedule = daily(tz, "2026-03-20T02:30", &[1, 2]);
    let shifts = schedule.shifts(ms(tz, "2026-03-27T12:00"), ms(tz, "2026-03-31T12:00"));
    let starts: Vec<String> = shifts.iter().map(|s| local(tz, s.starts_at)).collect();
    assert_eq!(
        starts,
        [
            "2026-03-27T12:00",
            "2026-03-28T02:30",
            "2026-03-29T03:30",
            "2026-03-30T02:30",
            "2026-03-31T02:30"
        ]
    );
    let schedule = daily(tz, "2026-10-20T02:30", &[1, 2]);
    let shifts = schedule.shifts(ms(tz, "2026-10-24T12:00"), ms(tz, "2026-10-27T12:00"));
    assert_eq!(shifts.len(), 4);
    for pair in shifts.windows(2) {
        assert_eq!(pair[0].ends_at, pair[1].starts_at);
    }
}

#[test]
fn lord_howe_half_hour_shift_is_exact() {
    let tz = "Australia/Lord_Howe";
    // DST ends 2026-04-05 02:00 local (clocks go back 30 minutes).
    let schedule = daily(tz, "2026-04-01T09:00", &[7]);
    let day = schedule.layers[0].boundary(&schedule.time_zone, 4)
        - schedule.layers[0].boundary(&schedule.time_zone, 3);
    assert_eq!(day, 24 * MS_PER_HOUR + 30 * 60_000);
}

#[test]
fn weekly_rotation_and_hours() {
    let tz = "America/New_York";
    let mut schedule = daily(tz, "2026-01-05T09:00", &[1, 2]);
    schedule.layers[0].unit = ShiftUnit::Weeks;
    // 2026-03-09 is nine weeks in: shift 9 belongs to the second participant.
    assert_eq!(schedule.on_call(ms(tz, "2026-03-09T08:59")), vec![1]);
    assert_eq!(schedule.on_call(ms(tz, "2026-03-09T09:00")), vec![2]);
    schedule.layers[0].unit = ShiftUnit::Hours;
    schedule.layers[0].length = 12;
    // Twelve-hour shifts are exact durations: they drift in local time across DST.
    assert_eq!(schedule.on_call(ms(tz, "2026-01-05T21:00")), vec![2]);
    assert!(schedule.on_call(ms(tz, "2026-01-04T21:00")).is_empty());
}

#[test]
fn restrictions_higher_layers_and_overrides() {
    let tz = "Europe/Berlin";
    let mut schedule = daily(tz, "2026-06-01T00:00", &[1]);
    schedule.layers.push(Rotation {
        unit: ShiftUnit::Weeks,
        length: 1,
        start: parse_local("2026-06-01T00:00").unwrap(),
        participants: vec![2],
        restrictions: vec![Restriction {
            days: vec![1, 2, 3, 4, 5],
            start: "09:00".into(),
            end: "17:00".into(),
        }],
    });
    // Monday 10:00: the business-hours layer wins; 18:00: the base layer.
    assert_eq!(schedule.on_call(ms(tz, "2026-06-08T10:00")), vec![2]);
    assert_eq!(schedule.on_call(ms(tz, "2026-06-08T18:00")), vec![1]);
    assert_eq!(
        schedule.on_call(ms(tz, "2026-06-13T10:00")),
        vec![1],
        "Saturday"
    );
    schedule.overrides.push(Override {
        user_id: 3,
        starts_at: ms(tz, "2026-06-08T12:00"),
        ends_at: ms(tz, "2026-06-08T13:00"),
        mode: OverrideMode::Replace,
    });
    schedule.overrides.push(Override {
        user_id: 4,
        starts_at: ms(tz, "2026-06-08T12:30"),
        ends_at: ms(tz, "2026-06-08T20:00"),
        mode: OverrideMode::Add,
    });
    assert_eq!(schedule.on_call(ms(tz, "2026-06-08T12:10")), vec![3]);
    assert_eq!(schedule.on_call(ms(tz, "2026-06-08T12:40")), vec![3, 4]);
    assert_eq!(schedule.on_call(ms(tz, "2026-06-08T18:00")), vec![1, 4]);
    let night = |d: &str| ms(tz, d);
    let spans = schedule.timeline(night("2026-06-08T00:00"), night("2026-06-09T00:00"));
    let who: Vec<Vec<i64>> = spans.iter().map(|s| s.user_ids.clone()).collect();
    assert_eq!(
        who,
        [
            vec![1],
            vec![2],
            vec![3],
            vec![3, 4],
            vec![2, 4],
            vec![1, 4],
            vec![1]
        ]
    );
}

/// Randomised rotations over the three zones: every layer's shifts tile the range with
/// no gap and no overlap, whatever the unit, length, start or range. (Starts are drawn
/// after 04:00, outside every transition of these zones, so their local time must hold.)
#[test]
fn rotations_tile_time_without_gaps_or_overlaps() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let zones = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe"];
    for _ in 0..300 {
        let tz = zones[next(3) as usize];
        let unit = [ShiftUnit::Hours, ShiftUnit::Days, ShiftUnit::Weeks][next(3) as usize];
        let length = 1 + next(if unit == ShiftUnit::Hours { 48 } else { 3 }) as i64;
        let start = format!(
            "2026-{:02}-{:02}T{:02}:{:02}",
            1 + next(12),
            1 + next(28),
            4 + next(20),
            [0, 15, 30, 45][next(4) as usize]
        );
        let rotation = Rotation {
            unit,
            length,
            start: parse_local(&start).unwrap(),
            participants: (1..=1 + next(4) as i64).collect(),
            restrictions: vec![],
        };
        let zone = time_zone(tz).unwrap();
        let first = rotation.boundary(&zone, 0);
        let from = first + next(400) as i64 * MS_PER_HOUR + next(60) as i64 * 60_000;
        let to = from + (1 + next(60 * 24)) as i64 * MS_PER_HOUR;
        let shifts = rotation.layer_shifts(&zone, from, to);
        assert_eq!(
            shifts.first().map(|s| s.starts_at),
            Some(from),
            "{tz} {start}"
        );
        assert_eq!(shifts.last().map(|s| s.ends_at), Some(to), "{tz} {start}");
        for pair in shifts.windows(2) {
            assert_eq!(
                pair[0].ends_at, pair[1].starts_at,
                "{tz} {start} {unit:?}x{length}"
            );
        }
        for shift in &shifts {
            assert!(shift.starts_at < shift.ends_at);
            if unit != ShiftUnit::Hours && shift.starts_at != from {
                assert_eq!(
                    local(tz, shift.starts_at)[11..],
                    start[11..],
                    "{tz} {start}"
                );
            }
        }
    }
}
