//! The referral program's rules, pure: which code a member shares, where an invite link
//! sends a device, how a first open finds its click, who is rewarded for what, which
//! referrals look like fraud, and the figures a member is shown.

use crate::money::{to_minor, AmountError};
use crate::template::percent_encode;
use crate::Millis;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A program's referral settings (the defaults until some are saved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferralSettings {
    /// Which code a member shares.
    pub code: CodeRule,
    pub links: LinkSettings,
    pub rewards: Vec<RewardRule>,
    pub fraud: FraudRules,
    /// The figures the referral statistics show, in order; the locale's defaults when
    /// empty.
    pub stats: Vec<StatLine>,
    /// The language of default titles: `ru` or `en`.
    pub locale: String,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        ReferralSettings {
            code: CodeRule::MemberId,
            links: LinkSettings::default(),
            rewards: Vec::new(),
            fraud: FraudRules::default(),
            stats: Vec::new(),
            locale: "ru".into(),
        }
    }
}

/// The code a member shares in invite links. Every kind resolves whichever is shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CodeRule {
    /// The member's id in the shop's system: the id Accrue answers the app with.
    MemberId,
    /// The member's external id from `source` (the generated code when it has none).
    ExternalId { source: String },
    /// The short code generated for every member.
    Generated,
}

/// Where invite links send devices, and what the app's domain proves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSettings {
    /// The app's App Store page (`https://apps.apple.com/app/id…`).
    pub ios_url: Option<String>,
    /// The app's Google Play package (`com.shop.app`).
    pub android_package: Option<String>,
    /// The web page for other devices; the code and banner id are added to its query.
    /// Accrue's own page when absent.
    pub web_url: Option<String>,
    /// Served as `/.well-known/apple-app-site-association` (Universal Links).
    pub apple_app_site_association: Option<serde_json::Value>,
    /// Served as `/.well-known/assetlinks.json` (Android App Links).
    pub assetlinks: Option<serde_json::Value>,
    /// How long after a click a first open without an install referrer may match it.
    pub match_window_minutes: u32,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            ios_url: None,
            android_package: None,
            web_url: None,
            apple_app_site_association: None,
            assetlinks: None,
            match_window_minutes: 60,
        }
    }
}

/// When a reward is earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The invitee finished registration.
    Registration,
    /// The invitee's first confirmed purchase of at least the rule's `min_order`.
    FirstPurchase,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Registration => "registration",
            Trigger::FirstPurchase => "first_purchase",
        }
    }

    pub fn parse(text: &str) -> Option<Trigger> {
        [Trigger::Registration, Trigger::FirstPurchase]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

/// Who is rewarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Inviter,
    Invitee,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inviter => "inviter",
            Role::Invitee => "invitee",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::Inviter, Role::Invitee].into_iter().find(|r| r.as_str() == text)
    }
}

/// How much: points, or a percentage of the rewarding purchase's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reward {
    Fixed(Decimal),
    Percent(Decimal),
}

/// At most `rewards` rewards to one inviter within `days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    pub rewards: u32,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardRule {
    pub on: Trigger,
    /// The least purchase total that rewards (`first_purchase` only), in currency units.
    #[serde(default)]
    pub min_order: Option<Decimal>,
    #[serde(default)]
    pub inviter: Option<Reward>,
    #[serde(default)]
    pub invitee: Option<Reward>,
    /// Days the reward points last; the program's purchase lifetime rules do not apply.
    #[serde(default)]
    pub lifetime_days: Option<u32>,
    /// The inviter's rewards of this rule per period.
    #[serde(default)]
    pub inviter_cap: Option<Cap>,
}

impl RewardRule {
    /// The reward of `role`, if this rule gives one.
    pub fn reward(&self, role: Role) -> Option<Reward> {
        match role {
            Role::Inviter => self.inviter,
            Role::Invitee => self.invitee,
        }
    }

    /// Whether a purchase of `total` (minor units of a currency with `scale`) earns it.
    pub fn purchase_qualifies(&self, total: i64, scale: u32) -> bool {
        match self.min_order {
            Some(min) if min > Decimal::ZERO => to_minor(min, scale).is_ok_and(|min| total >= min),
            _ => true,
        }
    }
}

/// The points a reward is worth: the fixed amount, or the percentage of `total`
/// (rounded down), both in minor units.
pub fn reward_points(reward: Reward, total: i64, scale: u32) -> Result<i64, AmountError> {
    match reward {
        Reward::Fixed(points) => to_minor(points, scale),
        Reward::Percent(p) => {
            let share = Decimal::from(total) * p / Decimal::ONE_HUNDRED;
            Ok(i64::try_from(share.floor()).unwrap_or(0).max(0))
        }
    }
}

/// What a refund takes back of a reward paid for a purchase of `total`, once `refunded`
/// of it is refunded in all: the same share of the reward, rounded down.
pub fn reversal_due(reward: i64, total: i64, refunded: i64) -> i64 {
    if total <= 0 || refunded >= total {
        return reward;
    }
    let share = i128::from(reward) * i128::from(refunded.max(0)) / i128::from(total);
    i64::try_from(share).unwrap_or(reward)
}

/// Whether another reward fits under `cap`, with `given` already given in its period.
pub fn within_cap(cap: Option<Cap>, given: u32) -> bool {
    cap.is_none_or(|c| given < c.rewards)
}

/// Which referrals wait for an operator instead of paying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FraudRules {
    /// Hold referrals whose invitee shares a phone, e-mail, device or IP with the inviter.
    pub self_referral: bool,
    /// Hold referrals over this many per inviter within the period.
    pub velocity: Option<Velocity>,
}

impl Default for FraudRules {
    fn default() -> Self {
        FraudRules {
            self_referral: true,
            velocity: Some(Velocity { max: 20, hours: 24 }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Velocity {
    pub max: u32,
    pub hours: u32,
}

/// What is known of a member that could tie two accounts to one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traces {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub devices: Vec<String>,
    pub ips: Vec<String>,
}

/// Why a referral waits for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suspicion {
    SamePhone,
    SameEmail,
    SameDevice,
    SameIp,
    /// The inviter brought more referrals than the velocity limit allows.
    Velocity,
}

impl Suspicion {
    pub fn as_str(self) -> &'static str {
        match self {
            Suspicion::SamePhone => "same_phone",
            Suspicion::SameEmail => "same_email",
            Suspicion::SameDevice => "same_device",
            Suspicion::SameIp => "same_ip",
            Suspicion::Velocity => "velocity",
        }
    }
}

/// What makes a referral suspicious; `recent` counts the inviter's referrals within the
/// velocity period before this one.
pub fn suspicions(inviter: &Traces, invitee: &Traces, recent: u32, rules: &FraudRules) -> Vec<Suspicion> {
    let mut found = Vec::new();
    if rules.self_referral {
        let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
        let shared = |a: &[String], b: &[String]| a.iter().any(|x| !x.is_empty() && b.contains(x));
        let checks = [
            (same(&inviter.phone, &invitee.phone), Suspicion::SamePhone),
            (same(&inviter.email, &invitee.email), Suspicion::SameEmail),
            (shared(&inviter.devices, &invitee.devices), Suspicion::SameDevice),
            (shared(&inviter.ips, &invitee.ips), Suspicion::SameIp),
        ];
        found.extend(checks.into_iter().filter(|(hit, _)| *hit).map(|(_, s)| s));
    }
    if rules.velocity.is_some_and(|v| recent >= v.max) {
        found.push(Suspicion::Velocity);
    }
    found
}

/// A figure of the referral statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Points the member earned by inviting, less what refunds took back.
    Bonus,
    /// Friends who registered with the member's code (reviewed ones included once approved).
    Invited,
    /// Friends whose referral brought the member a reward.
    Rewarded,
    /// Referrals waiting for review.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatLine {
    pub figure: Figure,
    /// The locale's default title when absent.
    #[serde(default)]
    pub title: Option<String>,
}

fn default_title(figure: Figure, locale: &str) -> &'static str {
    let english = locale.eq_ignore_ascii_case("en");
    match (figure, english) {
        (Figure::Bonus, false) => "Бонус (руб)",
        (Figure::Bonus, true) => "Bonus points",
        (Figure::Invited, false) => "Кол-во приглашенных друзей",
        (Figure::Invited, true) => "Friends invited",
        (Figure::Rewarded, false) => "Друзей с покупкой",
        (Figure::Rewarded, true) => "Friends who bought",
        (Figure::Pending, false) => "На проверке",
        (Figure::Pending, true) => "Under review",
    }
}

impl ReferralSettings {
    /// The statistics' lines with their titles, in order.
    pub fn stat_lines(&self) -> Vec<(Figure, String)> {
        let defaults = [
            StatLine {
                figure: Figure::Bonus,
                title: None,
            },
            StatLine {
                figure: Figure::Invited,
                title: None,
            },
        ];
        let lines = if self.stats.is_empty() {
            &defaults[..]
        } else {
            &self.stats[..]
        };
        lines
            .iter()
            .map(|l| {
                let title = l.title.clone().filter(|t| !t.trim().is_empty());
                (
                    l.figure,
                    title.unwrap_or_else(|| default_title(l.figure, &self.locale).into()),
                )
            })
            .collect()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.locale.as_str(), "ru" | "en") {
            return Err("locale must be ru or en".into());
        }
        if let CodeRule::ExternalId { source } = &self.code {
            if source.trim().is_empty() {
                return Err("code.source must not be empty".into());
            }
        }
        let links = &self.links;
        for (name, url) in [("links.ios_url", &links.ios_url), ("links.web_url", &links.web_url)] {
            if url.as_deref().is_some_and(|u| !is_web_url(u)) {
                return Err(format!("{name} must be an http(s) URL"));
            }
        }
        let package_ok = |p: &str| {
            !p.is_empty() && p.len() <= 150 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        };
        if links.android_package.as_deref().is_some_and(|p| !package_ok(p)) {
            return Err("links.android_package must be a package name like com.shop.app".into());
        }
        if !(1..=7 * 24 * 60).contains(&links.match_window_minutes) {
            return Err("links.match_window_minutes must be 1 to 10080".into());
        }
        for (i, rule) in self.rewards.iter().enumerate() {
            if self.rewards[..i].iter().any(|r| r.on == rule.on) {
                return Err(format!("rewards[{i}]: one rule per trigger ({})", rule.on.as_str()));
            }
        }
        self.rewards
            .iter()
            .enumerate()
            .try_for_each(|(i, r)| validate_rule(r).map_err(|e| format!("rewards[{i}]: {e}")))?;
        if self.fraud.velocity.is_some_and(|v| v.max == 0 || v.hours == 0) {
            return Err("fraud.velocity needs max and hours above zero".into());
        }
        Ok(())
    }
}

fn is_web_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://")) && !url.chars().any(|c| c.is_whitespace())
}

fn validate_rule(rule: &RewardRule) -> Result<(), String> {
    if rule.inviter.is_none() && rule.invitee.is_none() {
        return Err("reward the inviter, the invitee or both".into());
    }
    for reward in [rule.inviter, rule.invitee].into_iter().flatten() {
        match reward {
            Reward::Fixed(points) if points <= Decimal::ZERO => return Err("fixed must be above zero".into()),
            Reward::Percent(p) if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED => {
                return Err("percent must be above 0 and at most 100".into())
            }
            Reward::Percent(_) if rule.on == Trigger::Registration => {
                return Err("a registration has no purchase to take a percent of".into())
            }
            _ => {}
        }
    }
    if rule.min_order.is_some() && rule.on == Trigger::Registration {
        return Err("min_order applies to first_purchase only".into());
    }
    if rule.min_order.is_some_and(|m| m < Decimal::ZERO) {
        return Err("min_order must not be negative".into());
    }
    if rule.lifetime_days == Some(0) {
        return Err("lifetime_days must be above zero".into());
    }
    if rule.inviter_cap.is_some_and(|c| c.rewards == 0 || c.days == 0) {
        return Err("inviter_cap needs rewards and days above zero".into());
    }
    Ok(())
}

/// The kind of device a link was opened on, from its `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Ios,
    Android,
    Web,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Web => "web",
        }
    }

    pub fn parse(text: &str) -> Option<Platform> {
        match text.to_ascii_lowercase().as_str() {
            "ios" => Some(Platform::Ios),
            "android" => Some(Platform::Android),
            "web" => Some(Platform::Web),
            _ => None,
        }
    }

    pub fn of_user_agent(user_agent: &str) -> Platform {
        let ua = user_agent.to_ascii_lowercase();
        if ua.contains("android") {
            Platform::Android
        } else if ["iphone", "ipad", "ipod"].iter().any(|d| ua.contains(d)) {
            Platform::Ios
        } else {
            Platform::Web
        }
    }
}

/// Where an invite link sends a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Redirect(String),
    /// Accrue's own page with the code (no store or web page is set for the platform).
    Page,
}

/// The Install Referrer string a Play Store link carries: `referral_code=…&banner_id=…`.
pub fn install_referrer(code: &str, banner: Option<&str>) -> String {
    let mut referrer = format!("referral_code={}", percent_encode(code));
    if let Some(banner) = banner {
        referrer.push_str(&format!("&banner_id={}", percent_encode(banner)));
    }
    referrer
}

/// Where a link with `code` and `banner` sends a device of `platform`.
pub fn destination(links: &LinkSettings, platform: Platform, code: &str, banner: Option<&str>) -> Destination {
    let with_query = |url: &str, query: String| {
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}{query}")
    };
    match (platform, &links.ios_url, &links.android_package, &links.web_url) {
        (Platform::Ios, Some(url), _, _) => Destination::Redirect(url.clone()),
        (Platform::Android, _, Some(package), _) => Destination::Redirect(format!(
            "https://play.google.com/store/apps/details?id={}&referrer={}",
            percent_encode(package),
            percent_encode(&install_referrer(code, banner))
        )),
        (_, _, _, Some(web)) => Destination::Redirect(with_query(web, install_referrer(code, banner))),
        _ => Destination::Page,
    }
}

/// A referral code and banner id read from an Install Referrer string; `None` when it
/// carries no code.
pub fn parse_install_referrer(referrer: &str) -> Option<(String, Option<String>)> {
    // Some stores hand the referrer over still encoded once more.
    let text = if referrer.contains('=') {
        referrer.to_string()
    } else {
        percent_decode(referrer)?
    };
    let mut code = None;
    let mut banner = None;
    for pair in text.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)?;
        let value = value.trim();
        if value.is_empty() || value.len() > 200 {
            continue;
        }
        match name {
            "referral_code" => code = Some(value.to_string()),
            "banner_id" => banner = Some(value.to_string()),
            _ => {}
        }
    }
    code.map(|c| (c, banner))
}

/// `%XX` and `+` decoded; `None` for a broken escape or text that is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A recorded click on an invite link, as first-open matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub id: i64,
    pub platform: Platform,
    pub ip: String,
    pub at: Millis,
    pub matched: bool,
}

/// The click a first open without an install referrer came from: the latest unmatched
/// click from the same IP address and platform within the window. Two devices behind
/// one address (a mobile carrier's NAT, an office) can be mistaken for each other: this
/// is a probabilistic match, and the window keeps its reach short.
pub fn match_click<'c>(
    clicks: &'c [Click],
    platform: Platform,
    ip: &str,
    now: Millis,
    window_minutes: u32,
) -> Option<&'c Click> {
    let since = now - i64::from(window_minutes) * 60_000;
    clicks
        .iter()
        .filter(|c| !c.matched && c.platform == platform && c.ip == ip && c.at >= since && c.at <= now)
        .max_by_key(|c| (c.at, c.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn default_statistics_are_the_seeds_titles() {
        let lines = ReferralSettings::default().stat_lines();
        assert_eq!(
            lines,
            vec![
                (Figure::Bonus, "Бонус (руб)".to_string()),
                (Figure::Invited, "Кол-во приглашенных друзей".to_string())
            ]
        );
        let english = ReferralSettings {
            locale: "en".into(),
            stats: vec![StatLine {
                figure: Figure::Pending,
                title: None,
            }],
            ..Default::default()
        };
        assert_eq!(
            english.stat_lines(),
            vec![(Figure::Pending, "Under review".to_string())]
        );
    }

    #[test]
    fn rewards_are_fixed_or_a_share_rounded_down() {
        assert_eq!(reward_points(Reward::Fixed(dec("100")), 0, 2), Ok(10_000));
        assert_eq!(reward_points(Reward::Percent(dec("5")), 12_345, 2), Ok(617));
        assert_eq!(reward_points(Reward::Percent(dec("100")), 700, 0), Ok(700));
    }

    #[test]
    fn a_minimum_order_gates_the_first_purchase() {
        let rule = RewardRule {
            on: Trigger::FirstPurchase,
            min_order: Some(dec("500")),
            inviter: Some(Reward::Fixed(dec("50"))),
            invitee: None,
            lifetime_days: None,
            inviter_cap: None,
        };
        assert!(!rule.purchase_qualifies(49_999, 2));
        assert!(rule.purchase_qualifies(50_000, 2));
        assert!(within_cap(None, 1_000));
        assert_eq!(reversal_due(100, 1_000, 250), 25);
        assert_eq!(reversal_due(100, 1_000, 1_000), 100);
        assert_eq!(reversal_due(100, 0, 0), 100);
        assert!(within_cap(Some(Cap { rewards: 2, days: 30 }), 1));
        assert!(!within_cap(Some(Cap { rewards: 2, days: 30 }), 2));
    }

    #[test]
    fn each_fraud_rule_is_caught() {
        let inviter = Traces {
            phone: Some("+79990000001".into()),
            email: Some("a@shop.example".into()),
            devices: vec!["install-1".into()],
            ips: vec!["10.0.0.1".into()],
        };
        let clean = Traces {
            phone: Some("+79990000002".into()),
            ..Default::default()
        };
        let rules = FraudRules::default();
        assert!(suspicions(&inviter, &clean, 0, &rules).is_empty());
        let cases = [
            (
                Traces {
                    phone: inviter.phone.clone(),
                    ..Default::default()
                },
                Suspicion::SamePhone,
            ),
            (
                Traces {
                    email: inviter.email.clone(),
                    ..Default::default()
                },
                Suspicion::SameEmail,
            ),
            (
                Traces {
                    devices: vec!["install-1".into()],
                    ..Default::default()
                },
                Suspicion::SameDevice,
            ),
            (
                Traces {
                    ips: vec!["10.0.0.1".into()],
                    ..Default::default()
                },
                Suspicion::SameIp,
            ),
        ];
        for (invitee, expected) in cases {
            assert_eq!(suspicions(&inviter, &invitee, 0, &rules), vec![expected]);
        }
        assert_eq!(suspicions(&inviter, &clean, 20, &rules), vec![Suspicion::Velocity]);
        assert!(suspicions(&inviter, &clean, 19, &rules).is_empty());
        let off = FraudRules {
            self_referral: false,
            velocity: None,
        };
        assert!(suspicions(&inviter, &inviter, 1_000, &off).is_empty());
    }

    #[test]
    fn links_route_each_platform() {
        let links = LinkSettings {
            ios_url: Some("https://apps.apple.com/app/id1".into()),
            android_package: Some("com.shop.app".into()),
            web_url: Some("https://shop.example/invite?x=1".into()),
            ..Default::default()
        };
        assert_eq!(
            destination(&links, Platform::Android, "AB 1", Some("b&2")),
            Destination::Redirect(
                "https://play.google.com/store/apps/details?id=com.shop.app&referrer=referral_code%3DAB%25201%26banner_id%3Db%25262".into()
            )
        );
        assert_eq!(
            destination(&links, Platform::Ios, "AB1", None),
            Destination::Redirect("https://apps.apple.com/app/id1".into())
        );
        assert_eq!(
            destination(&links, Platform::Web, "AB1", Some("7")),
            Destination::Redirect("https://shop.example/invite?x=1&referral_code=AB1&banner_id=7".into())
        );
        assert_eq!(
            destination(&LinkSettings::default(), Platform::Ios, "AB1", None),
            Destination::Page
        );
        let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)";
        assert_eq!(Platform::of_user_agent(ua), Platform::Ios);
        assert_eq!(
            Platform::of_user_agent("Mozilla/5.0 (Linux; Android 14)"),
            Platform::Android
        );
        assert_eq!(Platform::of_user_agent("curl/8"), Platform::Web);
    }

    #[test]
    fn the_install_referrer_carries_code_and_banner_back() {
        let referrer = install_referrer("AB 1", Some("b&2"));
        assert_eq!(
            parse_install_referrer(&referrer),
            Some(("AB 1".into(), Some("b&2".into())))
        );
        let once_more = percent_encode(&referrer);
        assert_eq!(
            parse_install_referrer(&once_more),
            Some(("AB 1".into(), Some("b&2".into())))
        );
        assert_eq!(
            parse_install_referrer("utm_source=google-play&utm_medium=organic"),
            None
        );
        assert_eq!(parse_install_referrer("referral_code=%zz"), None);
    }

    #[test]
    fn a_first_open_matches_the_latest_click_in_the_window() {
        let click = |id, platform, ip: &str, at, matched| Click {
            id,
            platform,
            ip: ip.into(),
            at,
            matched,
        };
        let clicks = [
            click(1, Platform::Ios, "1.1.1.1", 1_000, false),
            click(2, Platform::Ios, "1.1.1.1", 2_000, false),
            click(3, Platform::Ios, "1.1.1.1", 3_000, true),
            click(4, Platform::Android, "1.1.1.1", 3_500, false),
            click(5, Platform::Ios, "2.2.2.2", 3_600, false),
        ];
        let found = match_click(&clicks, Platform::Ios, "1.1.1.1", 4_000, 1).map(|c| c.id);
        assert_eq!(found, Some(2));
        assert_eq!(match_click(&clicks, Platform::Ios, "1.1.1.1", 2_000 + 60_001, 1), None);
        assert_eq!(match_click(&clicks, Platform::Web, "1.1.1.1", 4_000, 1), None);
    }

    #[test]
    fn settings_are_validated() {
        let mut s = ReferralSettings::default();
        assert_eq!(s.validate(), Ok(()));
        s.rewards.push(RewardRule {
            on: Trigger::Registration,
            min_order: None,
            inviter: Some(Reward::Percent(dec("5"))),
            invitee: None,
            lifetime_days: None,
            inviter_cap: None,
        });
        assert!(s.validate().unwrap_err().contains("percent"));
        s.rewards[0].inviter = None;
        assert!(s.validate().unwrap_err().contains("inviter, the invitee or both"));
        s.rewards.clear();
        s.links.android_package = Some("com.shop/app".into());
        assert!(s.validate().is_err());
    }

    proptest! {
        #[test]
        fn install_referrers_round_trip(code in "\\PC{1,40}", banner in proptest::option::of("\\PC{1,20}")) {
            prop_assume!(!code.trim().is_empty() && code.trim() == code);
            let banner = banner.filter(|b| !b.trim().is_empty() && b.trim() == b);
            let text = install_referrer(&code, banner.as_deref());
            prop_assert_eq!(parse_install_referrer(&text), Some((code, banner)));
        }

        #[test]
        fn percent_decoding_never_panics(text in "\\PC{0,60}") {
            let _ = percent_decode(&text);
            let _ = parse_install_referrer(&text);
        }
    }
}
