//! Priorities, exclusive offers, and per-member caps.

use serde_json::json;

use super::fixtures::*;
use crate::offers::*;

fn ranked(id: &str, priority: i32, exclusive: bool, percent: i64) -> Offer {
    offer(
        json!({"id": id, "name": id, "priority": priority, "exclusive": exclusive,
        "effects": [{"type": "discount_percent", "percent": percent}]}),
    )
}

fn one_line() -> Cheque {
    cheque(vec![line(1, "milk", 10000)])
}

#[test]
fn higher_priority_runs_first_and_later_discounts_work_on_what_is_left() {
    let offers = [ranked("small", 1, false, 10), ranked("big", 5, false, 50)];
    let calculation = Setup::default().price(&offers, &one_line());
    assert_eq!(applied_ids(&calculation), ["big", "small"]);
    // 50 % of 100 → 50, then 10 % of 50 → 45.
    assert_eq!(amounts(&calculation), [4500]);
    assert_eq!(
        calculation.applied.iter().map(|a| a.discount).collect::<Vec<_>>(),
        [5000, 500]
    );
}

#[test]
fn equal_priorities_run_in_id_order() {
    let offers = [ranked("b", 0, false, 10), ranked("a", 0, true, 20)];
    assert_eq!(applied_ids(&Setup::default().price(&offers, &one_line())), ["a"]);
}

#[test]
fn an_exclusive_offer_stops_the_offers_after_it_but_not_before() {
    let offers = [
        ranked("top", 9, false, 10),
        ranked("exclusive", 5, true, 20),
        ranked("low", 1, false, 30),
    ];
    let calculation = Setup::default().price(&offers, &one_line());
    assert_eq!(applied_ids(&calculation), ["top", "exclusive"]);
    assert_eq!(amounts(&calculation), [7200]);
}

#[test]
fn an_exclusive_offer_that_does_not_apply_stops_nothing() {
    let mut exclusive = ranked("exclusive", 5, true, 20);
    exclusive.conditions = vec![Condition::Coupon {
        numbers: vec!["VIP".into()],
        series: Vec::new(),
    }];
    let offers = [exclusive, ranked("low", 1, false, 30)];
    assert_eq!(applied_ids(&Setup::default().price(&offers, &one_line())), ["low"]);
}

fn capped(caps: serde_json::Value) -> Offer {
    offer(json!({"id": "capped", "name": "capped", "caps": caps,
        "effects": [{"type": "discount_percent", "percent": 10}, {"type": "bonus_percent", "percent": 10}]}))
}

fn used(period: Period, usage: Usage) -> Setup {
    let mut setup = Setup::member();
    setup.usage.set("capped", period, usage);
    setup
}

#[test]
fn application_caps_stop_the_offer_once_used_up() {
    let offer = capped(json!([{"type": "applications", "period": "day", "max": 2}]));
    let once = used(
        Period::Day,
        Usage {
            applications: 1,
            ..Usage::default()
        },
    );
    assert_eq!(
        applied_ids(&once.price(std::slice::from_ref(&offer), &one_line())),
        ["capped"]
    );
    let twice = used(
        Period::Day,
        Usage {
            applications: 2,
            ..Usage::default()
        },
    );
    assert!(twice
        .price(std::slice::from_ref(&offer), &one_line())
        .applied
        .is_empty());
    // Usage of another period does not count.
    let other = used(
        Period::Week,
        Usage {
            applications: 5,
            ..Usage::default()
        },
    );
    assert_eq!(applied_ids(&other.price(&[offer], &one_line())), ["capped"]);
}

#[test]
fn capped_offers_need_a_member() {
    let offer = capped(json!([{"type": "applications", "period": "ever", "max": 1}]));
    assert!(Setup::default().price(&[offer], &one_line()).applied.is_empty());
}

#[test]
fn discount_caps_cut_the_discount_to_what_is_left() {
    let offer = capped(json!([{"type": "discount", "period": "month", "max": 1500}]));
    let setup = used(
        Period::Month,
        Usage {
            discount: 1200,
            ..Usage::default()
        },
    );
    let calculation = setup.price(
        std::slice::from_ref(&offer),
        &cheque(vec![line(1, "milk", 10000), line(2, "tea", 5000)]),
    );
    assert_eq!(calculation.applied[0].discount, 300);
    assert_eq!(amounts(&calculation), [9800, 4900]);
    let spent = used(
        Period::Month,
        Usage {
            discount: 1500,
            ..Usage::default()
        },
    );
    assert!(spent.price(&[offer], &one_line()).applied.is_empty());
}

#[test]
fn bonus_caps_cut_the_accrual_and_report_usage() {
    let offer = capped(
        json!([{"type": "bonus", "period": "week", "max": 1000}, {"type": "bonus", "period": "day", "max": 800}]),
    );
    let mut setup = used(
        Period::Week,
        Usage {
            bonus: 400,
            ..Usage::default()
        },
    );
    setup.usage.set(
        "capped",
        Period::Day,
        Usage {
            bonus: 100,
            ..Usage::default()
        },
    );
    let calculation = setup.price(&[offer], &cheque(vec![line(1, "milk", 100000)]));
    assert_eq!(calculation.applied[0].bonus_limit, Some(600));
    let accrued = accrual(&calculation, 0).unwrap();
    assert_eq!(accrued.total, 600);
    assert_eq!(
        accrued.usage[0].usage,
        Usage {
            applications: 1,
            discount: 10000,
            bonus: 600
        }
    );
}

#[test]
fn period_starts_in_program_local_time() {
    // NOW is Wednesday 2024-05-15 12:00 UTC; at UTC+3 the day began at 21:00 UTC the day before.
    let hour = 3_600_000;
    let day_start = period_start(Period::Day, NOW, 180).unwrap();
    assert_eq!(day_start, NOW - 15 * hour);
    assert_eq!(period_start(Period::Week, NOW, 180), Some(day_start - 2 * 24 * hour));
    let month = chrono::NaiveDate::from_ymd_opt(2024, 5, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    assert_eq!(
        period_start(Period::Month, NOW, 0),
        Some(month.and_utc().timestamp_millis())
    );
    assert_eq!(period_start(Period::Ever, NOW, 0), None);
}
