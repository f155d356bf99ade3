//! Query parameters as Loymax clients write them: names in any case, lists as PHP's
//! `http_build_query` writes them (`ids[0]=1&ids[1]=2`) or as repeated names; dates.

use accrue_core::Millis;
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The first value of `key`.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Every value of the list `key`: `key=a`, `key[]=a`, `key[0]=a`, `key[][0]=a`.
pub fn list<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    let is_item = |k: &str| {
        let rest = match k.get(..key.len()) {
            Some(head) if head.eq_ignore_ascii_case(key) => &k[key.len()..],
            _ => return false,
        };
        indexes_only(rest)
    };
    pairs
        .iter()
        .filter(|(k, _)| is_item(k))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Whether `rest` is nothing but bracketed indexes (`[0]`, `[]`, `[][0]` — PHP nests a
/// list given as `key[]` once more).
fn indexes_only(mut rest: &str) -> bool {
    while let Some(after) = rest.strip_prefix('[') {
        match after.find(']') {
            Some(end) if !after[..end].contains('[') => rest = &after[end + 1..],
            _ => return false,
        }
    }
    rest.is_empty()
}

/// The most items one page of a list holds (the default count).
pub const MAX_PAGE: i64 = 1000;

/// A page as `from` and `count` keys ask for it (`from=0&count=10`, or the `filter.`
/// ones): how many to skip and to take, all by default; the error names the key.
pub fn page(
    pairs: &[(String, String)],
    keys: (&'static str, &'static str),
) -> Result<(usize, usize), (&'static str, String)> {
    let skip = number(pairs, keys.0, 0, i64::MAX).map_err(|e| (keys.0, e))?;
    let take = number(pairs, keys.1, MAX_PAGE, MAX_PAGE).map_err(|e| (keys.1, e))?;
    Ok((skip as usize, take as usize))
}

/// The page keys of most lists.
pub const PLAIN: (&str, &str) = ("from", "count");
/// The page keys of lists filtered with `filter.*`.
pub const FILTERED: (&str, &str) = ("filter.from", "filter.count");

/// A non-negative number of `key`, `default` when absent, at most `max`; the error
/// names the parameter.
pub fn number(pairs: &[(String, String)], key: &str, default: i64, max: i64) -> Result<i64, String> {
    match param(pairs, key).map(str::parse::<i64>) {
        None => Ok(default),
        Some(Ok(n)) if (0..=max).contains(&n) => Ok(n),
        Some(_) => Err(format!("Ожидается число от 0 до {max}.")),
    }
}

/// `filter.fromDate` and `filter.toDate` (a plain date as the end includes that day);
/// the error names the parameter that does not read.
pub fn date_range(pairs: &[(String, String)]) -> Result<(Option<Millis>, Option<Millis>), &'static str> {
    dates_between(pairs, "filter.fromDate", "filter.toDate")
}

/// The dates of the parameters `from` and `to`, as [`date_range`] reads them.
pub fn dates_between(
    pairs: &[(String, String)],
    from: &'static str,
    to: &'static str,
) -> Result<(Option<Millis>, Option<Millis>), &'static str> {
    let date = |key: &'static str, end_of_day| match param(pairs, key) {
        None => Ok(None),
        Some(text) => parse_date(text, end_of_day).map(Some).ok_or(key),
    };
    Ok((date(from, false)?, date(to, true)?))
}

/// A Loymax date: RFC 3339, a date and time without zone (UTC), or a plain date.
/// A plain date as an upper bound means the end of that day.
pub fn parse_date(text: &str, end_of_day: bool) -> Option<Millis> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let day = if end_of_day { day.succ_opt()? } else { day };
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(query).unwrap()
    }

    #[test]
    fn lists_as_php_and_as_repeated_names() {
        let q = pairs("merchantsIds%5B0%5D=1&merchantsIds%5B1%5D=2&other%5B0%5D=3");
        assert_eq!(list(&q, "merchantsIds"), ["1", "2"]);
        assert_eq!(
            list(&pairs("ids=1&IDS=2&ids[]=3&idsx=4&ids[][0]=5&ids[0=6&ids[0]x=7"), "ids"),
            ["1", "2", "3", "5"]
        );
        assert!(list(&q, "nothing").is_empty());
    }

    #[test]
    fn numbers_are_bounded() {
        let q = pairs("from=5&count=-1&big=1001");
        assert_eq!(number(&q, "from", 0, 1000), Ok(5));
        assert_eq!(number(&q, "absent", 7, 1000), Ok(7));
        assert!(number(&q, "count", 0, 1000).is_err());
        assert!(number(&q, "big", 0, 1000).is_err());
    }

    #[test]
    fn dates_in_the_forms_clients_send() {
        let day = 1_557_878_400_000; // 2019-05-15T00:00:00Z
        assert_eq!(parse_date("2019-05-15T00:00:00Z", false), Some(day));
        assert_eq!(parse_date("2019-05-15T03:00:00+03:00", false), Some(day));
        assert_eq!(parse_date("2019-05-15T00:00:00.000", false), Some(day));
        assert_eq!(parse_date("2019-05-15", false), Some(day));
        assert_eq!(
            parse_date("2019-05-15", true),
            Some(day + 86_400_000),
            "a date as an upper bound includes the day"
        );
        assert_eq!(parse_date("15.05.2019", false), None);
    }
}
