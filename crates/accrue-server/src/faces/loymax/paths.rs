//! Loymax paths as clients send them. The API answers under several prefixes
//! (`/api/v1/`, `/api/v1.1/`, `/publicapi/v1/`, `/publicapi/v1.2/`) and the token
//! endpoints under `/authorizationService/`, in any letter case, with or without a
//! trailing slash. [`Paths::canonical`] maps such a path onto the face's route under
//! [`BASE`] and tells the version asked for. The words it matches in any case are the
//! literal segments of the face's own routes, so a new route needs nothing here; other
//! segments (ids, numbers) keep their case.

use super::{Version, BASE};
use std::collections::HashSet;

/// Path prefixes real clients use, and the version each stands for.
const PREFIXES: [(&str, Version); 4] = [
    ("/publicapi/v1.2/", Version::V1_2),
    ("/publicapi/v1/", Version::V1),
    ("/api/v1.1/", Version::V1_1),
    ("/api/v1/", Version::V1),
];

/// The endpoints outside the prefixes (v1.2: the token endpoints, the communication
/// service) and the routes they reach.
const OUTSIDE_PATHS: [(&str, &str); 3] = [
    ("/authorizationservice/token", TOKEN_ROUTE),
    (
        "/authorizationservice/v1.2/auth/sendconfirmationcode",
        "auth/sendconfirmationcode",
    ),
    (
        "/communicationservice/api/v1/communication/communications",
        COMMUNICATIONS_ROUTE,
    ),
];

/// The route of the communication service's list.
pub const COMMUNICATIONS_ROUTE: &str = "communications";

/// The route of the token endpoint, which answers as OAuth does.
pub const TOKEN_ROUTE: &str = "token";

/// The version a Loymax path asks for and the rest of it after its prefix (the route,
/// for the token endpoints); `None` for any other path.
fn split(path: &str) -> Option<(Version, &str)> {
    let lower = path.to_ascii_lowercase();
    if let Some((_, route)) = OUTSIDE_PATHS.iter().find(|(p, _)| *p == lower.trim_end_matches('/')) {
        return Some((Version::V1_2, route));
    }
    let (prefix, version) = PREFIXES.iter().find(|(p, _)| lower.starts_with(p))?;
    Some((*version, &path[prefix.len()..]))
}

/// The first segment of a path (with its slash) and the rest (from its slash on).
pub fn first_segment(path: &str) -> Option<(&str, &str)> {
    let end = path.get(1..)?.find('/')? + 1;
    Some(path.split_at(end))
}

/// The envelope errors of a path are answered in: the version asked for, and whether it
/// is the token endpoint. A program's path prefix may stand before the Loymax prefix.
/// `None` for paths that are not Loymax's.
pub fn envelope_of(path: &str) -> Option<(Version, bool)> {
    let (version, rest) = split(path).or_else(|| split(first_segment(path)?.1))?;
    Some((version, rest.trim_matches('/').eq_ignore_ascii_case(TOKEN_ROUTE)))
}

/// The words of the face's routes.
pub struct Paths {
    words: HashSet<String>,
}

impl Paths {
    /// The literal segments of `routes`: paths under [`BASE`], without it, with
    /// parameters in braces.
    pub fn of<'r>(routes: impl IntoIterator<Item = &'r str>) -> Paths {
        let words = routes
            .into_iter()
            .flat_map(|route| route.split('/'))
            .filter(|segment| !segment.is_empty() && !segment.starts_with('{'))
            .map(str::to_ascii_lowercase)
            .collect();
        Paths { words }
    }

    /// The version a Loymax path asks for and its route path; `None` for a path outside
    /// the Loymax prefixes.
    pub fn canonical(&self, path: &str) -> Option<(Version, String)> {
        let (version, rest) = split(path)?;
        let segments: Vec<String> = rest
            .trim_end_matches('/')
            .split('/')
            .map(|segment| {
                let lower = segment.to_ascii_lowercase();
                if self.words.contains(&lower) {
                    lower
                } else {
                    segment.to_string()
                }
            })
            .collect();
        Some((version, format!("{BASE}{}", segments.join("/"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A route as a client may write it: each literal segment changed by `case`,
    /// parameters filled in with an id (which keeps its case).
    fn written(route: &str, case: fn(&str) -> String) -> String {
        let segments: Vec<String> = route
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "AbC-42".to_string()
                } else {
                    case(s)
                }
            })
            .collect();
        segments.join("/")
    }

    fn mixed_case(word: &str) -> String {
        let flip = |(i, c): (usize, char)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c };
        word.chars().enumerate().map(flip).collect()
    }

    #[test]
    fn every_route_in_any_case_under_every_prefix_is_its_own_route() {
        let routes = super::super::route_paths();
        let paths = Paths::of(routes.iter().map(String::as_str));
        let cases: [fn(&str) -> String; 3] = [str::to_ascii_uppercase, mixed_case, str::to_string];
        for route in &routes {
            let canonical = format!("{BASE}{}", written(route, str::to_string));
            for (prefix, version) in PREFIXES {
                for case in cases {
                    let sent = format!("{}/{}/", case(prefix.trim_end_matches('/')), written(route, case));
                    assert_eq!(paths.canonical(&sent), Some((version, canonical.clone())), "{sent}");
                }
            }
        }
    }

    #[test]
    fn the_token_endpoints_and_other_faces() {
        let paths = Paths::of(["token", "auth/sendconfirmationcode", "cards"]);
        for (sent, route) in [
            ("/authorizationService/token", Some("/loymax/token")),
            ("/AUTHORIZATIONSERVICE/TOKEN/", Some("/loymax/token")),
            (
                "/authorizationService/v1.2/auth/SendConfirmationCode",
                Some("/loymax/auth/sendconfirmationcode"),
            ),
            ("/api/v1/Cards/AbC-42", Some("/loymax/cards/AbC-42")),
            // Other faces' paths, and the routes themselves, are not Loymax paths.
            ("/admin/v1/members", None),
            ("/api/postbacks/x/tracker-postback", None),
            ("/loymax/cards", None),
        ] {
            let canonical = paths.canonical(sent).map(|(_, path)| path);
            assert_eq!(canonical.as_deref(), route, "{sent}");
        }
    }

    #[test]
    fn envelopes_of_paths() {
        assert_eq!(envelope_of("/API/V1.1/User"), Some((Version::V1_1, false)));
        assert_eq!(envelope_of("/shop2/publicapi/v1.2/User"), Some((Version::V1_2, false)));
        assert_eq!(
            envelope_of("/shop2/authorizationService/token"),
            Some((Version::V1_2, true))
        );
        assert_eq!(envelope_of("/api/v1/token/"), Some((Version::V1, true)));
        assert_eq!(envelope_of("/t/slug"), None);
        assert_eq!(envelope_of("/a/b/api/v1/User"), None, "a prefix is one segment");
    }
}
