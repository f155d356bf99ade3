//! Birthdays: whether a day is a member's birthday, and where the birth date is read from.

use chrono::{Datelike, NaiveDate};

use crate::questionnaire::parse_date;

/// Whether `today` is the birthday of someone born on `born`. Someone born on 29 February
/// celebrates on 28 February when the year has no 29th.
pub fn is_birthday(born: NaiveDate, today: NaiveDate) -> bool {
    let (month, day) = (born.month(), born.day());
    if (today.month(), today.day()) == (month, day) {
        return true;
    }
    let leap_day = (month, day) == (2, 29);
    // On 28 February, a 29th exists only in a leap year.
    leap_day && (today.month(), today.day()) == (2, 28) && today.with_day(29).is_none()
}

/// A member's birth date: the answer to the questionnaire's `BirthDay` question when
/// there is one, else the `birthday` attribute (as IMSHOP sends it); `None` when neither
/// reads as a date.
pub fn birth_date(answer: Option<&str>, attribute: Option<&str>) -> Option<NaiveDate> {
    answer.and_then(parse_date).or_else(|| attribute.and_then(parse_date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        parse_date(text).unwrap()
    }

    #[test]
    fn the_same_month_and_day_of_any_year() {
        assert!(is_birthday(day("1990-05-17"), day("2026-05-17")));
        assert!(!is_birthday(day("1990-05-17"), day("2026-05-18")));
        assert!(!is_birthday(day("1990-05-17"), day("2026-06-17")));
    }

    #[test]
    fn a_leap_day_birthday_falls_on_the_28th_in_common_years() {
        let born = day("2000-02-29");
        assert!(is_birthday(born, day("2026-02-28")));
        assert!(!is_birthday(born, day("2026-03-01")));
        assert!(is_birthday(born, day("2028-02-29")));
        assert!(!is_birthday(born, day("2028-02-28")), "a leap year has its own 29th");
    }

    #[test]
    fn the_questionnaire_answer_wins_over_the_attribute() {
        assert_eq!(
            birth_date(Some("17.05.1990"), Some("1991-01-01")),
            Some(day("1990-05-17"))
        );
        assert_eq!(
            birth_date(Some("not a date"), Some("1991-01-01T00:00:00")),
            Some(day("1991-01-01"))
        );
        assert_eq!(birth_date(None, Some("someday")), None);
    }
}
