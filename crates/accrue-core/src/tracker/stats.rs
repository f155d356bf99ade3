//! Statistics from the stored totals: per integration, link and day — clicks, unique
//! leads, registrations, first and repeat deposits (count and sum per currency),
//! custom events, conversion rates, and revenue per currency and in the report
//! currency at the operator's rates.

use super::event::Kind;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Clicks of one integration, link and day (days since the epoch, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickTotals {
    pub integration_id: i64,
    pub link_id: i64,
    pub day: i64,
    pub clicks: i64,
    pub leads: i64,
}

/// Conversions of one integration, link, day, kind and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionTotals {
    pub integration_id: i64,
    pub link_id: i64,
    pub day: i64,
    pub kind: Kind,
    pub currency: Option<String>,
    pub count: i64,
    /// Micros.
    pub amount: i64,
}

/// A count and its sums per currency (micros).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: i64,
    pub sums: BTreeMap<String, i64>,
}

impl Tally {
    fn add(&mut self, count: i64, currency: Option<&str>, amount: i64) {
        self.count += count;
        if let Some(currency) = currency {
            *self.sums.entry(currency.to_string()).or_default() += amount;
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub integration_id: i64,
    pub link_id: i64,
    pub day: i64,
    pub clicks: i64,
    /// Distinct leads among the clicks (of this row only: leads are not additive).
    pub leads: i64,
    pub registrations: i64,
    pub first_deposits: Tally,
    pub repeat_deposits: Tally,
    pub custom_events: i64,
    /// Every conversion's amount per currency (micros).
    pub revenue: BTreeMap<String, i64>,
}

impl Row {
    fn add(&mut self, c: &ConversionTotals) {
        match c.kind {
            Kind::Registration => self.registrations += c.count,
            Kind::FirstDeposit => self.first_deposits.add(c.count, c.currency.as_deref(), c.amount),
            Kind::RepeatDeposit => self.repeat_deposits.add(c.count, c.currency.as_deref(), c.amount),
            Kind::Custom => self.custom_events += c.count,
        }
        if let Some(currency) = &c.currency {
            *self.revenue.entry(currency.clone()).or_default() += c.amount;
        }
    }

    fn merge(&mut self, other: &Row) {
        self.clicks += other.clicks;
        self.registrations += other.registrations;
        self.custom_events += other.custom_events;
        for (mine, theirs) in [
            (&mut self.first_deposits, &other.first_deposits),
            (&mut self.repeat_deposits, &other.repeat_deposits),
        ] {
            mine.count += theirs.count;
            for (currency, amount) in &theirs.sums {
                *mine.sums.entry(currency.clone()).or_default() += amount;
            }
        }
        for (currency, amount) in &other.revenue {
            *self.revenue.entry(currency.clone()).or_default() += amount;
        }
    }

    /// Registrations per click.
    pub fn registration_rate(&self) -> Option<f64> {
        ratio(self.registrations, self.clicks)
    }

    /// First deposits per click.
    pub fn deposit_rate(&self) -> Option<f64> {
        ratio(self.first_deposits.count, self.clicks)
    }

    /// First deposits per registration.
    pub fn registration_to_deposit_rate(&self) -> Option<f64> {
        ratio(self.first_deposits.count, self.registrations)
    }
}

/// `part / whole` rounded to four places; `None` when there is no whole.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// The rows, ordered by day, integration and link, and their total.
pub fn rows(clicks: &[ClickTotals], conversions: &[ConversionTotals]) -> (Vec<Row>, Row) {
    let mut rows: BTreeMap<(i64, i64, i64), Row> = BTreeMap::new();
    for c in clicks {
        let r = row_of(&mut rows, c.integration_id, c.link_id, c.day);
        r.clicks += c.clicks;
        r.leads += c.leads;
    }
    for c in conversions {
        row_of(&mut rows, c.integration_id, c.link_id, c.day).add(c);
    }
    let rows: Vec<Row> = rows.into_values().collect();
    let mut total = Row::default();
    for r in &rows {
        total.merge(r);
    }
    (rows, total)
}

fn row_of(rows: &mut BTreeMap<(i64, i64, i64), Row>, integration_id: i64, link_id: i64, day: i64) -> &mut Row {
    rows.entry((day, integration_id, link_id)).or_insert_with(|| Row {
        integration_id,
        link_id,
        day,
        ..Row::default()
    })
}

/// Revenue in the report currency at `rates` (value of one unit in the report currency;
/// the report currency itself is 1). Returns micros and the currencies without a rate,
/// which are left out of the sum.
pub fn in_report_currency(
    revenue: &BTreeMap<String, i64>,
    report: &str,
    rates: &BTreeMap<String, Decimal>,
) -> (i64, Vec<String>) {
    let mut total = Decimal::ZERO;
    let mut missing = Vec::new();
    for (currency, micros) in revenue {
        let rate = if currency == report {
            Some(Decimal::ONE)
        } else {
            rates.get(currency).copied()
        };
        match rate {
            Some(rate) => total += Decimal::from(*micros) * rate,
            None => missing.push(currency.clone()),
        }
    }
    let micros = total.round().try_into().unwrap_or(i64::MAX);
    (micros, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(kind: Kind, currency: Option<&str>, count: i64, amount: i64) -> ConversionTotals {
        ConversionTotals {
            integration_id: 1,
            link_id: 2,
            day: 10,
            kind,
            currency: currency.map(String::from),
            count,
            amount,
        }
    }

    #[test]
    fn the_funnel() {
        let clicks = [ClickTotals {
            integration_id: 1,
            link_id: 2,
            day: 10,
            clicks: 1,
            leads: 1,
        }];
        let conversions = [
            conv(Kind::Registration, None, 1, 0),
            conv(Kind::FirstDeposit, Some("USD"), 1, 76_500_000),
            conv(Kind::RepeatDeposit, Some("USD"), 2, 30_000_000),
            conv(Kind::RepeatDeposit, Some("EUR"), 1, 10_000_000),
        ];
        let (rows, total) = rows(&clicks, &conversions);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.clicks, r.leads, r.registrations), (1, 1, 1));
        assert_eq!(r.first_deposits.count, 1);
        assert_eq!(r.repeat_deposits.count, 3);
        assert_eq!(r.repeat_deposits.sums["USD"], 30_000_000);
        assert_eq!(r.revenue["USD"], 106_500_000);
        assert_eq!(r.registration_rate(), Some(1.0));
        assert_eq!(total.clicks, 1);
        let rates = BTreeMap::from([("EUR".to_string(), Decimal::new(11, 1))]);
        assert_eq!(in_report_currency(&r.revenue, "USD", &rates), (117_500_000, vec![]));
        assert_eq!(
            in_report_currency(&r.revenue, "USD", &BTreeMap::new()),
            (106_500_000, vec!["EUR".to_string()])
        );
    }

    #[test]
    fn rates_need_a_whole() {
        assert_eq!(ratio(1, 0), None);
        assert_eq!(ratio(1, 3), Some(0.3333));
    }
}
