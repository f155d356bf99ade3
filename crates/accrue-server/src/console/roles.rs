//! What each operator role may do, as calls of the admin API the console makes for it:
//! an admin anything; support reads everything and cares for members (points with a
//! reason, blocking, resending a code, retrying a message, exporting members); an
//! analyst reads reports and lists, never a member's record or a secret.

use axum::http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Support,
    Analyst,
}

/// Writes support may make: member care.
const SUPPORT_WRITES: &[&str] = &[
    "/operations/accrue",
    "/operations/withdraw",
    "/members/*/block",
    "/members/*/codes/resend",
    "/outbox/messages/*/retry",
    "/offers/simulate",
    "/exports",
];

/// Reads an analyst may make: figures, not people.
const ANALYST_READS: &[&str] = &[
    "/programs",
    "/reports/*",
    "/tracker/stats",
    "/tracker/integrations",
    "/referrals",
    "/batch/stats",
    "/offers",
];

/// Calls no one but an admin makes, reads included: they show secrets.
const SECRET_READS: &[&str] = &["/webhook-endpoints/*/secret", "/admin-keys"];

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "support" => Some(Role::Support),
            "analyst" => Some(Role::Analyst),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
            Role::Analyst => "analyst",
        }
    }

    /// Whether the role may make this admin API call (`path` without `/admin/v1` and
    /// without its query).
    pub fn allows(self, method: &Method, path: &str) -> bool {
        let reads = matches!(*method, Method::GET | Method::HEAD);
        match self {
            Role::Admin => true,
            _ if any_match(SECRET_READS, path) => false,
            Role::Support => reads || any_match(SUPPORT_WRITES, path),
            Role::Analyst => reads && any_match(ANALYST_READS, path),
        }
    }
}

fn any_match(patterns: &[&str], path: &str) -> bool {
    patterns.iter().any(|p| matches(p, path))
}

/// Whether `path` is `pattern`, where `*` stands for one segment — and a trailing `*`
/// for the rest of the path.
fn matches(pattern: &str, path: &str) -> bool {
    let mut wanted = pattern.trim_matches('/').split('/').peekable();
    let mut given = path.trim_matches('/').split('/');
    while let Some(part) = wanted.next() {
        let last = wanted.peek().is_none();
        match given.next() {
            Some(_) if part == "*" && last => return true,
            Some(segment) if part == "*" || part == segment => {}
            _ => return false,
        }
    }
    given.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_do_anything() {
        assert!(Role::Admin.allows(&Method::POST, "/admin-keys"));
        assert!(Role::Admin.allows(&Method::GET, "/webhook-endpoints/3/secret"));
    }

    #[test]
    fn support_reads_and_cares_for_members() {
        let support = Role::Support;
        assert!(support.allows(&Method::GET, "/members/7"));
        assert!(support.allows(&Method::POST, "/operations/accrue"));
        assert!(support.allows(&Method::POST, "/members/7/block"));
        assert!(support.allows(&Method::POST, "/outbox/messages/m1/retry"));
        assert!(!support.allows(&Method::POST, "/members/7/archive"));
        assert!(!support.allows(&Method::PUT, "/programs/default/offers"));
        assert!(!support.allows(&Method::POST, "/tracker/integrations"));
        assert!(!support.allows(&Method::GET, "/webhook-endpoints/3/secret"));
        assert!(!support.allows(&Method::GET, "/admin-keys"));
    }

    #[test]
    fn analysts_read_reports_only() {
        let analyst = Role::Analyst;
        assert!(analyst.allows(&Method::GET, "/reports/points"));
        assert!(analyst.allows(&Method::GET, "/tracker/stats"));
        assert!(!analyst.allows(&Method::GET, "/members/7"));
        assert!(!analyst.allows(&Method::GET, "/members"));
        assert!(!analyst.allows(&Method::POST, "/operations/accrue"));
        assert!(!analyst.allows(&Method::POST, "/offers/simulate"));
    }

    #[test]
    fn a_star_is_one_segment_or_at_the_end_the_rest() {
        assert!(matches("/members/*/block", "/members/12/block"));
        assert!(!matches("/members/*/block", "/members/12/13/block"));
        assert!(!matches("/members/*/block", "/members/block"));
        assert!(matches("/reports/*", "/reports/points/daily"));
        assert!(!matches("/reports/*", "/reports"));
        assert!(matches("/programs", "/programs/"));
        assert!(!matches("/programs", "/programs/default"));
        assert!(matches("/tracker/integrations", "/tracker/integrations"));
    }
}
