//! Statutory deadlines for data-subject requests (UK GDPR Article 12(3)): one calendar month from
//! receipt, extendable by up to two further months. A month runs to the same date next month, or
//! to that month's last day where the date does not exist (31 January → 28/29 February); a
//! deadline on a weekend or an England and Wales bank holiday moves to the next working day.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc, Weekday};

/// The furthest an extension may go: two months beyond the first.
pub const MAX_EXTENSION_MONTHS: u32 = 2;

/// Today's date in the UK (Europe/London, from the tz database, so British Summer Time follows
/// the law rather than a rule written here). Deadlines count from the day a request arrives in
/// the council's own time zone.
pub fn uk_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono_tz::Europe::London).date_naive()
}

/// `received` plus `months` calendar months, clamped to the end of a shorter month.
pub fn add_calendar_months(received: NaiveDate, months: u32) -> NaiveDate {
    received
        .checked_add_months(Months::new(months))
        .expect("dates this close to today are far from chrono's limits")
}

/// The first day on or after `day` that is neither a weekend nor a bank holiday.
pub fn next_working_day(mut day: NaiveDate, bank_holidays: &[NaiveDate]) -> NaiveDate {
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) || bank_holidays.contains(&day) {
        day = day + Days::new(1);
    }
    day
}

/// When a request received on `received` must be answered.
pub fn due_by(received: NaiveDate, bank_holidays: &[NaiveDate]) -> NaiveDate {
    next_working_day(add_calendar_months(received, 1), bank_holidays)
}

/// The deadline after extending by `extra_months` (1 or 2) beyond the first month.
pub fn extended_due_by(
    received: NaiveDate,
    extra_months: u32,
    bank_holidays: &[NaiveDate],
) -> Option<NaiveDate> {
    (1..=MAX_EXTENSION_MONTHS).contains(&extra_months).then(|| {
        next_working_day(
            add_calendar_months(received, 1 + extra_months),
            bank_holidays,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// England and Wales bank holidays used by these tests (2026–2027).
    fn holidays() -> Vec<NaiveDate> {
        vec![
            d(2026, 1, 1),
            d(2026, 4, 3),
            d(2026, 4, 6),
            d(2026, 5, 4),
            d(2026, 5, 25),
            d(2026, 8, 31),
            d(2026, 12, 25),
            d(2026, 12, 28),
            d(2027, 1, 1),
            d(2027, 3, 26),
            d(2027, 3, 29),
            d(2027, 5, 3),
            d(2027, 5, 31),
        ]
    }

    #[test]
    fn one_calendar_month_to_the_same_date() {
        // Thu 5 Nov 2026 → Sat 5 Dec 2026 → Mon 7 Dec 2026 (weekend).
        assert_eq!(add_calendar_months(d(2026, 11, 5), 1), d(2026, 12, 5));
        assert_eq!(due_by(d(2026, 11, 5), &holidays()), d(2026, 12, 7));
        // Mon 23 Nov 2026 → Wed 23 Dec 2026, a working day: unchanged.
        assert_eq!(due_by(d(2026, 11, 23), &holidays()), d(2026, 12, 23));
    }

    #[test]
    fn a_date_that_does_not_exist_becomes_the_last_day_of_the_month() {
        assert_eq!(add_calendar_months(d(2027, 1, 31), 1), d(2027, 2, 28));
        assert_eq!(
            add_calendar_months(d(2028, 1, 31), 1),
            d(2028, 2, 29),
            "leap year"
        );
        assert_eq!(add_calendar_months(d(2026, 8, 31), 1), d(2026, 9, 30));
        // 31 Jan 2027 → 28 Feb 2027 is a Sunday → Mon 1 Mar 2027.
        assert_eq!(due_by(d(2027, 1, 31), &holidays()), d(2027, 3, 1));
    }

    #[test]
    fn bank_holidays_move_the_deadline_to_the_next_working_day() {
        // 25 Nov 2026 → Fri 25 Dec (Christmas), Sat, Sun, Mon 28 Dec (Boxing Day substitute) → Tue 29 Dec.
        assert_eq!(due_by(d(2026, 11, 25), &holidays()), d(2026, 12, 29));
        // 3 Mar 2026 → Fri 3 Apr (Good Friday) → Sat, Sun, Mon 6 Apr (Easter Monday) → Tue 7 Apr.
        assert_eq!(due_by(d(2026, 3, 3), &holidays()), d(2026, 4, 7));
        // 1 Dec 2026 → Fri 1 Jan 2027 (New Year's Day) → Mon 4 Jan 2027.
        assert_eq!(due_by(d(2026, 12, 1), &holidays()), d(2027, 1, 4));
        // Without the holiday list, only the weekend counts.
        assert_eq!(due_by(d(2026, 11, 25), &[]), d(2026, 12, 25));
    }

    #[test]
    fn the_uk_date_follows_british_summer_time() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Winter: UTC.
        assert_eq!(uk_today(at("2026-01-15T23:30:00Z")), d(2026, 1, 15));
        // Summer: 23:30 UTC is already tomorrow in London.
        assert_eq!(uk_today(at("2026-07-15T23:30:00Z")), d(2026, 7, 16));
        // BST 2026 runs from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(uk_today(at("2026-03-29T00:59:00Z")), d(2026, 3, 29));
        assert_eq!(uk_today(at("2026-03-28T23:30:00Z")), d(2026, 3, 28));
        assert_eq!(uk_today(at("2026-10-24T23:30:00Z")), d(2026, 10, 25));
        assert_eq!(uk_today(at("2026-10-25T23:30:00Z")), d(2026, 10, 25));
        // 2027: BST from 28 March to 31 October.
        assert_eq!(uk_today(at("2027-03-28T00:30:00Z")), d(2027, 3, 28));
        assert_eq!(uk_today(at("2027-03-28T23:30:00Z")), d(2027, 3, 29));
        assert_eq!(uk_today(at("2027-10-30T23:30:00Z")), d(2027, 10, 31));
        assert_eq!(uk_today(at("2027-10-31T23:30:00Z")), d(2027, 10, 31));
    }

    #[test]
    fn extensions_add_up_to_two_more_months() {
        // Received 23 Nov 2026: +2 months = 23 Jan 2027 (Sat) → Mon 25 Jan; +3 months = Tue 23 Feb 2027.
        assert_eq!(
            extended_due_by(d(2026, 11, 23), 1, &holidays()),
            Some(d(2027, 1, 25))
        );
        assert_eq!(
            extended_due_by(d(2026, 11, 23), 2, &holidays()),
            Some(d(2027, 2, 23))
        );
        assert_eq!(extended_due_by(d(2026, 11, 23), 3, &holidays()), None);
        assert_eq!(extended_due_by(d(2026, 11, 23), 0, &holidays()), None);
        // From 30 Nov: +3 months lands on 28 Feb 2027 (Sun) → Mon 1 Mar.
        assert_eq!(
            extended_due_by(d(2026, 11, 30), 2, &holidays()),
            Some(d(2027, 3, 1))
        );
    }
}
