//! The referral program's use cases: follow an invite link, find the click a first open
//! came from, sign in by phone with a referral code, and the figures a member is shown.
//! The rewards themselves are paid by the store's hooks (see [`accrue_store::referrals`]).

use accrue_core::member::normalize_phone;
use accrue_core::money::to_decimal;
use accrue_core::referral::{destination, parse_install_referrer, CodeRule, Destination, Figure, Platform};
use accrue_core::registration::CodeRules;
use accrue_store::confirmations::CodeError;
use accrue_store::phone_sign_in::{Asked, SignedIn};
use accrue_store::referrals::{Figures, Invitation, NewClick};
use accrue_store::{Currency, Member, MemberFields, MemberSearch, Program, Store, StoreError};
use rust_decimal::Decimal;

/// The code `member` shares in invite links, by the program's rule.
pub fn shared_code(rule: &CodeRule, member: &Member) -> String {
    match rule {
        CodeRule::MemberId => member.id.to_string(),
        CodeRule::ExternalId { source } => member
            .external_ids
            .get(source)
            .cloned()
            .unwrap_or_else(|| member.referral_code.clone()),
        CodeRule::Generated => member.referral_code.clone(),
    }
}

/// The member's invite link on `base` (the server's public address or the program's
/// link domain), with the code it shares.
pub async fn invite_link(
    store: &Store,
    program_id: i64,
    member: &Member,
    base: &str,
) -> Result<(String, String), StoreError> {
    let settings = store.referral_settings(program_id).await?;
    let code = shared_code(&settings.code, member);
    let link = format!(
        "{}/r/{}",
        base.trim_end_matches('/'),
        accrue_core::template::percent_encode(&code)
    );
    Ok((link, code))
}

/// A click on an invite link, as the link face received it.
#[derive(Debug, Clone)]
pub struct LinkClick {
    pub code: String,
    pub banner_id: Option<String>,
    pub user_agent: String,
    pub ip: String,
}

/// Where a followed link goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    Redirect(String),
    /// No store or page is set for the device: Accrue's page shows the code.
    Page {
        code: String,
        banner_id: Option<String>,
    },
    UnknownCode,
}

/// Follows an invite link: the click is kept (time, platform, IP, user agent, banner)
/// and the device sent on by its platform.
pub async fn follow(store: &Store, program_id: i64, click: LinkClick) -> Result<Followed, StoreError> {
    let settings = store.referral_settings(program_id).await?;
    let inviter = match store.referral_inviter(program_id, &click.code, &settings.code).await {
        Ok(inviter) => inviter,
        Err(StoreError::NotFound(_)) => return Ok(Followed::UnknownCode),
        Err(e) => return Err(e),
    };
    let platform = Platform::of_user_agent(&click.user_agent);
    let code = click.code.trim().to_string();
    let banner_id = click.banner_id.filter(|b| !b.trim().is_empty());
    let new = NewClick {
        inviter_id: inviter.id,
        code: code.clone(),
        banner_id: banner_id.clone(),
        platform,
        ip: click.ip,
        user_agent: click.user_agent.chars().take(512).collect(),
    };
    store.record_referral_click(program_id, new).await?;
    Ok(
        match destination(&settings.links, platform, &code, banner_id.as_deref()) {
            Destination::Redirect(url) => Followed::Redirect(url),
            Destination::Page => Followed::Page { code, banner_id },
        },
    )
}

/// What an app tells on its first launch.
#[derive(Debug, Clone)]
pub struct FirstOpen {
    pub platform: Platform,
    /// Android's Install Referrer string, when the app read one.
    pub install_referrer: Option<String>,
    /// The app's install id (IMSHOP's `installId`): its address is kept for the
    /// same-IP fraud rule once the install signs in.
    pub install_id: Option<String>,
    pub ip: String,
}

/// The invitation a first open found, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub code: String,
    pub banner_id: Option<String>,
    /// `install_referrer` (exact) or `ip_window` (the latest click from the same address
    /// and platform within the program's window: probable, not certain).
    pub matched_by: &'static str,
}

/// The referral code and banner of an app's first open: from Android's install referrer
/// when it carries one, otherwise matched to a click.
pub async fn first_open(store: &Store, program_id: i64, open: FirstOpen) -> Result<Option<Opened>, StoreError> {
    if let Some(install) = open
        .install_id
        .clone()
        .filter(|i| !i.trim().is_empty() && i.len() <= 200)
    {
        store.record_app_install(program_id, install, open.ip.clone()).await?;
    }
    if let Some((code, banner_id)) = open.install_referrer.as_deref().and_then(parse_install_referrer) {
        return Ok(Some(Opened {
            code,
            banner_id,
            matched_by: "install_referrer",
        }));
    }
    let window = store.referral_settings(program_id).await?.links.match_window_minutes;
    let matched = store
        .match_referral_click(program_id, open.platform, open.ip, window)
        .await?;
    Ok(matched.map(|m| Opened {
        code: m.code,
        banner_id: m.banner_id,
        matched_by: "ip_window",
    }))
}

/// The member an app's user id names: the member id Accrue gave the app, or an external
/// id of the source the program shares codes by.
pub async fn member_by_user_id(store: &Store, program_id: i64, user_id: &str) -> Result<Member, StoreError> {
    let user_id = user_id.trim();
    if let Ok(id) = user_id.parse::<i64>() {
        match store.member(program_id, id).await {
            Err(StoreError::NotFound(_)) => {}
            found => return found,
        }
    }
    match store.referral_settings(program_id).await?.code {
        CodeRule::ExternalId { source } => {
            let search = MemberSearch::ExternalId {
                source,
                id: user_id.to_string(),
            };
            store.find_member(program_id, search).await
        }
        _ => Err(StoreError::NotFound("member")),
    }
}

/// A figure's value: points in the currency's units, counts as they are.
fn figure_value(figure: Figure, f: &Figures, scale: u32) -> Decimal {
    match figure {
        Figure::Bonus => to_decimal(f.bonus, scale).normalize(),
        Figure::Invited => f.invited.into(),
        Figure::Rewarded => f.rewarded.into(),
        Figure::Pending => f.pending.into(),
    }
}

/// The member's referral statistics as titled figures, in the program's order.
pub async fn statistics(store: &Store, program_id: i64, member_id: i64) -> Result<Vec<(String, Decimal)>, StoreError> {
    let settings = store.referral_settings(program_id).await?;
    let figures = store.referral_figures(program_id, member_id).await?;
    let scale = store.currency(program_id, None).await?.scale;
    Ok(settings
        .stat_lines()
        .into_iter()
        .map(|(figure, title)| (title, figure_value(figure, &figures, scale)))
        .collect())
}

/// A member's referral figures, with the default currency its bonus is in.
pub async fn figures(store: &Store, program_id: i64, member_id: i64) -> Result<(Figures, Currency), StoreError> {
    let figures = store.referral_figures(program_id, member_id).await?;
    Ok((figures, store.currency(program_id, None).await?))
}

/// What signing in by phone was asked for.
#[derive(Debug, Clone, Default)]
pub struct CodeRequest {
    pub phone: String,
    /// The referral code the app remembered from an invite link.
    pub referral_code: Option<String>,
    pub banner_id: Option<String>,
    /// The app's install id.
    pub device: Option<String>,
    /// Ask a new phone for data before sending it a code.
    pub ask_first: bool,
    /// What a new member gave about themselves.
    pub data: MemberFields,
}

/// Asks for a sign-in code by phone (see [`accrue_store::Store::ask_sign_in_code`]). A
/// phone that is not one is [`StoreError::Invalid`].
pub async fn ask_code(store: &Store, program: &Program, r: CodeRequest) -> Result<(Asked, CodeRules), StoreError> {
    let phone = normalize_phone(&r.phone, &program.phone_region).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let rules = store.registration_settings(program.id).await?.codes;
    let invitation = r.referral_code.filter(|c| !c.trim().is_empty()).map(|code| Invitation {
        code,
        banner_id: r.banner_id,
        device: r.device,
        ip: None,
    });
    let asked = store
        .ask_sign_in_code(program.id, (phone, r.data), rules, r.ask_first, invitation)
        .await?;
    Ok((asked, rules))
}

/// Signs in with the code sent to `phone`. A new member's registration finishes and is
/// attributed to the inviter of the code it gave (now or when asking for the code); an
/// unknown code is ignored: the member still registers.
pub async fn sign_in(
    store: &Store,
    program: &Program,
    (phone, device): (&str, Option<String>),
    code: &str,
    given: Option<Invitation>,
) -> Result<Result<SignedIn, CodeError>, StoreError> {
    let phone = normalize_phone(phone, &program.phone_region).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let rules = store.registration_settings(program.id).await?.codes;
    let registering = store
        .find_member(program.id, MemberSearch::Phone(phone.clone()))
        .await
        .ok()
        .filter(|m| m.state == accrue_core::member::MemberState::Registering);
    let mut referral = None;
    if let Some(member) = registering {
        let invitation = match given.filter(|i| !i.code.trim().is_empty()) {
            Some(given) => Some(given),
            None => store.pending_invitation(member.id).await?,
        };
        if let Some(invitation) = invitation {
            let rule = store.referral_settings(program.id).await?.code;
            match store.referral_inviter(program.id, &invitation.code, &rule).await {
                Ok(inviter) => referral = Some((inviter, invitation)),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    store
        .sign_in_with_code(program.id, (phone, device), code.to_string(), rules, referral)
        .await
}
