//! What members see of a merchant (a shop): its description, address and coordinates,
//! opening hours and free-form facts. The operator keeps it; member apps show it on a
//! map and next to the offers that hold there.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A merchant's public profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub description: Option<String>,
    /// The brand the shop trades under; members' apps group shops by it.
    #[serde(default)]
    pub brand: Option<String>,
    /// Where the shop is; a merchant without one (a web shop) is not listed to members.
    #[serde(default)]
    pub address: Option<Address>,
    /// Opening hours per weekday (`mon` … `sun`); a day not given is closed.
    #[serde(default)]
    pub schedule: Option<BTreeMap<Day, Vec<Hours>>>,
    /// An archived shop is listed with `isArchived` and takes no part in new offers.
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub additional_info: Vec<Fact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub city: String,
    /// "г.", "пос." — as the city's name is written after it.
    #[serde(default)]
    pub city_prefix: Option<String>,
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default)]
    pub house: Option<String>,
    #[serde(default)]
    pub building: Option<String>,
    #[serde(default)]
    pub office: Option<String>,
    /// How to find the entrance, say.
    #[serde(default)]
    pub description: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun];

    /// The day as profiles and Loymax write it: `mon` … `sun`.
    pub fn name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self as usize]
    }
}

/// Open from `from` until `to`, both `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub from: String,
    pub to: String,
}

/// A named fact about the shop ("parking": true, "phone": "+7 …").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    pub name: String,
    pub value: serde_json::Value,
}

const MAX_TEXT: usize = 2000;

impl Profile {
    /// Checks what a member app relies on: coordinates on the globe, times of day in
    /// order, names present, texts of sensible length.
    pub fn validate(&self) -> Result<(), String> {
        let texts = [("description", &self.description), ("brand", &self.brand)];
        for (name, text) in texts {
            check_text(name, text.as_deref())?;
        }
        if let Some(a) = &self.address {
            a.validate()?;
        }
        for (day, hours) in self.schedule.iter().flatten() {
            for h in hours {
                let (from, to) = (minutes(&h.from), minutes(&h.to));
                match (from, to) {
                    (Some(from), Some(to)) if from < to => {}
                    _ => {
                        return Err(format!("schedule.{day:?}: hours must be HH:MM with from before to").to_lowercase())
                    }
                }
            }
        }
        for fact in &self.additional_info {
            if fact.name.trim().is_empty() || fact.name.len() > 200 {
                return Err("additional_info: every fact needs a name of at most 200 bytes".into());
            }
        }
        Ok(())
    }
}

impl Address {
    fn validate(&self) -> Result<(), String> {
        if self.city.trim().is_empty() {
            return Err("address.city must not be empty".into());
        }
        let parts = [
            ("address.city", Some(&self.city)),
            ("address.city_prefix", self.city_prefix.as_ref()),
            ("address.street", self.street.as_ref()),
            ("address.house", self.house.as_ref()),
            ("address.building", self.building.as_ref()),
            ("address.office", self.office.as_ref()),
            ("address.description", self.description.as_ref()),
        ];
        for (name, text) in parts {
            check_text(name, text.map(String::as_str))?;
        }
        if !(-90.0..=90.0).contains(&self.latitude) || !(-180.0..=180.0).contains(&self.longitude) {
            return Err("address: latitude must be within ±90 and longitude within ±180".into());
        }
        Ok(())
    }
}

fn check_text(name: &str, text: Option<&str>) -> Result<(), String> {
    match text {
        Some(t) if t.len() > MAX_TEXT => Err(format!("{name} must be at most {MAX_TEXT} bytes")),
        _ => Ok(()),
    }
}

/// Minutes since midnight of `HH:MM`; `24:00` is the end of the day.
fn minutes(time: &str) -> Option<u32> {
    let (h, m) = time.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(value: serde_json::Value) -> Result<Profile, String> {
        let p: Profile = serde_json::from_value(value).map_err(|e| e.to_string())?;
        p.validate().map(|()| p)
    }

    #[test]
    fn a_shop_with_an_address_and_hours() {
        let p = profile(json!({
            "description": "У метро",
            "address": {"city": "Москва", "city_prefix": "г.", "street": "Тверская", "house": "1",
                        "latitude": 55.757, "longitude": 37.613},
            "schedule": {"mon": [{"from": "09:00", "to": "13:00"}, {"from": "14:00", "to": "24:00"}]},
            "additional_info": [{"name": "parking", "value": true}],
        }))
        .unwrap();
        assert_eq!(p.schedule.unwrap()[&Day::Mon].len(), 2);
    }

    #[test]
    fn what_a_map_cannot_show_is_refused() {
        let address = |lat: f64, lon: f64| json!({"address": {"city": "Москва", "latitude": lat, "longitude": lon}});
        assert!(profile(address(91.0, 0.0)).is_err());
        assert!(profile(address(0.0, -180.5)).is_err());
        assert!(profile(json!({"address": {"city": " ", "latitude": 1.0, "longitude": 1.0}})).is_err());
        assert!(
            profile(json!({"address": {"city": "Москва"}})).is_err(),
            "coordinates are required"
        );
        for (from, to) in [
            ("10:00", "09:00"),
            ("9:00", "10:00"),
            ("10:60", "11:00"),
            ("23:00", "24:01"),
        ] {
            let p = json!({"schedule": {"tue": [{"from": from, "to": to}]}});
            assert!(profile(p).is_err(), "{from}-{to}");
        }
        assert!(profile(json!({"schedule": {"someday": []}})).is_err());
        assert!(profile(json!({"colour": "red"})).is_err(), "unknown fields are refused");
        assert!(profile(json!({"description": "x".repeat(2001)})).is_err());
    }
}
