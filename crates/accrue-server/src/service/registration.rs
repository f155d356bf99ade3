//! Registration by phone or card, step by step: each step a member takes is one store
//! transaction, so a failure leaves the step undone and a retry does it (see
//! [`accrue_store::Store::begin_registration`] and the steps after it). The hooks for a
//! finished registration run in the transaction that finishes it.

use crate::passwords;
use accrue_core::member::{normalize_phone, MemberState};
use accrue_core::questionnaire::{self, Problems, Questionnaire};
use accrue_core::registration::{Channel, Provider, RegistrationSettings, Step, VirtualCards};
use accrue_store::cards::{Card, CardFilter};
use accrue_store::confirmations::CodeError;
use accrue_store::member_auth::{TokenOwner, TokenPair};
use accrue_store::{Program, Store, StoreError, Ttls};

/// Where BeginRegistration leaves the caller.
#[derive(Debug, Clone)]
pub enum Started {
    /// Registering: the member's id and tokens.
    Registering {
        member_id: i64,
        tokens: TokenPair,
    },
    AlreadyCompleted,
    Blocked,
    /// Going on needs the password set earlier.
    PasswordRequired,
    WrongPassword,
    /// The login is not a phone number (a program registering by phone).
    BadPhone,
    CardNotFound,
    CardBlocked,
}

/// BeginRegistration with a phone or card number (by the program's provider), and the
/// password when the registration was taken this far before.
pub async fn begin(
    store: &Store,
    program: &Program,
    login: &str,
    password: Option<String>,
    ttls: Ttls,
) -> Result<Started, StoreError> {
    let settings = store.registration_settings(program.id).await?;
    let begun = match settings.provider {
        Provider::Phone => {
            let Ok(phone) = normalize_phone(login, &program.phone_region) else {
                return Ok(Started::BadPhone);
            };
            store
                .begin_registration(program.id, &phone, settings.codes, ttls)
                .await?
        }
        Provider::Card => match store.begin_registration_by_card(program.id, login, ttls).await {
            Ok(begun) => begun,
            Err(StoreError::NotFound(_)) => return Ok(Started::CardNotFound),
            Err(StoreError::CardBlocked(_)) => return Ok(Started::CardBlocked),
            Err(e) => return Err(e),
        },
    };
    let member_id = begun.member.id;
    match begun.member.state {
        MemberState::Registering => {}
        MemberState::Active => return Ok(Started::AlreadyCompleted),
        _ => return Ok(Started::Blocked),
    }
    if let Some(tokens) = begun.tokens {
        return Ok(Started::Registering { member_id, tokens });
    }
    // Continuing once a password is set needs it, within the attempt limit of sign-in.
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Ok(Started::PasswordRequired);
    };
    let limit = (settings.password_attempts, settings.password_lock_seconds);
    if passwords::check_member(store, member_id, password, limit)
        .await?
        .is_some()
    {
        return Ok(Started::WrongPassword);
    }
    let owner = TokenOwner {
        program_id: program.id,
        member_id,
    };
    let tokens = store.issue_tokens(owner, ttls.access, ttls.refresh).await?;
    Ok(Started::Registering { member_id, tokens })
}

/// The member's cards (the first hundred).
pub async fn cards(store: &Store, owner: TokenOwner) -> Result<Vec<Card>, StoreError> {
    let filter = CardFilter {
        member_id: Some(owner.member_id),
        count: 100,
        ..Default::default()
    };
    store.cards(owner.program_id, filter).await
}

/// What the member can sign in with: the phone (digits), the e-mail, the login and the
/// card numbers.
pub async fn sign_in_identifiers(store: &Store, owner: TokenOwner) -> Result<Vec<String>, StoreError> {
    let member = store.member(owner.program_id, owner.member_id).await?;
    let phone = member
        .phone
        .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>());
    let cards = cards(store, owner).await?.into_iter().map(|c| c.number);
    Ok(phone
        .into_iter()
        .chain(member.email)
        .chain(member.login)
        .chain(cards)
        .collect())
}

/// Whether a member with these cards may have another virtual card.
pub fn may_emit(settings: &RegistrationSettings, cards: &[Card]) -> bool {
    let virtual_cards = cards.iter().filter(|c| c.kind == "virtual").count() as u32;
    settings.virtual_cards != VirtualCards::Off && virtual_cards < settings.max_virtual_cards
}

/// A virtual card for the member, with the `AssignCard` step done; `None` when the
/// program allows the member no more.
pub async fn emit_virtual_card(store: &Store, owner: TokenOwner) -> Result<Option<Card>, StoreError> {
    let settings = store.registration_settings(owner.program_id).await?;
    if !may_emit(&settings, &cards(store, owner).await?) {
        return Ok(None);
    }
    Ok(Some(store.take_card(owner, None).await?))
}

/// A card of the pool for the member, with the `AssignCard` step done.
pub async fn take_card(store: &Store, owner: TokenOwner, number: String) -> Result<Card, StoreError> {
    store.take_card(owner, Some(number)).await
}

/// The offer accepted; with a virtual card when the program gives one for it.
pub async fn accept_offer(store: &Store, owner: TokenOwner) -> Result<(), StoreError> {
    let settings = store.registration_settings(owner.program_id).await?;
    let with_card =
        settings.virtual_cards == VirtualCards::AfterOffer && may_emit(&settings, &cards(store, owner).await?);
    store.accept_offer(owner, with_card).await
}

/// Sends a code to a new phone number or e-mail address (normalised by the caller): a
/// registration step, or a registered member's change — the member keeps the old value
/// until the code confirms the new one. The code's length is returned.
pub async fn send_code(store: &Store, owner: TokenOwner, channel: Channel, target: String) -> Result<u32, StoreError> {
    let rules = store.registration_settings(owner.program_id).await?.codes;
    let sent = store
        .send_code(owner.program_id, owner.member_id, channel, target, rules)
        .await?;
    Ok(sent.length)
}

/// Gives up a change awaiting its code: the code is void, the value stays as it was.
pub async fn cancel_change(store: &Store, owner: TokenOwner, channel: Channel) -> Result<(), StoreError> {
    store.cancel_code(owner.member_id, channel).await
}

/// Sends the code again: to the value awaiting confirmation, or the member's own.
pub async fn resend_code(store: &Store, owner: TokenOwner, channel: Channel) -> Result<u32, StoreError> {
    let member = store.member(owner.program_id, owner.member_id).await?;
    let own = match channel {
        Channel::Phone => member.phone,
        Channel::Email => member.email,
    };
    let pending = store.pending_target(member.id, channel).await?;
    let target = pending.or(own).ok_or(StoreError::Code(CodeError::NotSent))?;
    send_code(store, owner, channel, target).await
}

/// Confirms the phone or e-mail with its code; the member's token (when given) is
/// replaced by the pair returned.
pub async fn confirm(
    store: &Store,
    owner: TokenOwner,
    channel: Channel,
    code: &str,
    rotate: Option<(String, Ttls)>,
) -> Result<Option<TokenPair>, StoreError> {
    let rules = store.registration_settings(owner.program_id).await?.codes;
    store.confirm_contact(owner, channel, code, rules, rotate).await
}

/// The first password (checked by the caller against [`passwords::validate`]); the
/// member's token is replaced by the pair returned.
pub async fn set_password(
    store: &Store,
    owner: TokenOwner,
    password: String,
    token: String,
    ttls: Ttls,
) -> Result<TokenPair, StoreError> {
    let hash = passwords::hash(password)
        .await
        .map_err(|e| StoreError::Internal(e.message))?;
    store.set_first_password(owner, hash, token, ttls).await
}

/// Finishes the registration, or names the required steps still open.
pub async fn finish(
    store: &Store,
    owner: TokenOwner,
    token: String,
    ttls: Ttls,
) -> Result<Result<TokenPair, Vec<Step>>, StoreError> {
    let settings = store.registration_settings(owner.program_id).await?;
    store.finish_registration(owner, &settings, token, ttls).await
}

/// Checks the member's answers (to `tree`, the program's questionnaire) together with
/// the earlier ones and keeps them, the
/// `Questions` step done with them; the problems by question otherwise (nothing kept).
pub async fn answer_questions(
    store: &Store,
    owner: TokenOwner,
    tree: &Questionnaire,
    given: Vec<questionnaire::Answer>,
) -> Result<Result<(), Problems>, StoreError> {
    let today = chrono::DateTime::from_timestamp_millis(store.now())
        .unwrap_or_default()
        .date_naive();
    // Earlier answers count: a member may send just the answers that change.
    let mut merged = store.answers(owner.member_id).await?;
    merged.retain(|a| !given.iter().any(|g| g.question_id == a.question_id));
    merged.extend(given.iter().cloned());
    if let Err(problems) = tree.check(&merged, today) {
        return Ok(Err(problems));
    }
    store.save_answers(owner.program_id, owner.member_id, given).await?;
    Ok(Ok(()))
}
