//! Sign-in by phone with a one-time code, for apps that register and sign in in one move
//! (IMSHOP): asking for a code makes a new phone a member in registration; the right
//! code signs in, and finishes a new member's registration — attributed to whoever
//! invited them, in the same transaction, so the registration's rewards see the referral.

use crate::confirmations::{check_code_in, send_code_in, CodeError, SentCode};
use crate::hooks::{self, Happening};
use crate::members::{create_member_in, update_member_in};
use crate::referrals::{attribute_in, record_traces_in, Attribution, Invitation};
use crate::registration::member_where;
use crate::Tx;
use crate::{Member, MemberFields, Store, StoreError};
use accrue_core::member::{normalize_email, MemberState};
use accrue_core::registration::{Channel, CodeRules};
use sqlx::Row;

/// Where asking for a sign-in code leaves the caller.
#[derive(Debug, Clone)]
pub enum Asked {
    /// The phone is new: its member was made, and the app should collect the data the
    /// program asks new members for and ask again. No code was sent.
    NewPhone(Member),
    Sent(Member, SentCode),
}

/// Who signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: Member,
    /// The code finished the member's registration.
    pub registered: bool,
    /// What the registration's referral code did.
    pub attribution: Option<Attribution>,
}

impl Store {
    /// Asks for a sign-in code to `phone` (normalised), sent by SMS. A phone no member has
    /// becomes a member in registration; with `ask_first` that first call sends nothing
    /// ([`Asked::NewPhone`]). A member in registration keeps the `invitation` given until
    /// its code is confirmed, and takes the `data` given (see [`take_data`]). Blocked and
    /// archived members are refused.
    pub async fn ask_sign_in_code(
        &self,
        program_id: i64,
        (phone, data): (String, MemberFields),
        rules: CodeRules,
        ask_first: bool,
        invitation: Option<Invitation>,
    ) -> Result<Asked, StoreError> {
        let attempt = || {
            let (phone, sealer, invitation, data) =
                (phone.clone(), self.sealer().clone(), invitation.clone(), data.clone());
            self.write(move |tx| {
                Box::pin(async move {
                    let member = match member_where(tx, program_id, "phone = $2", &phone).await? {
                        Some(member) => member,
                        None => {
                            let fields = MemberFields {
                                state: Some(MemberState::Registering),
                                phone: Some(phone.clone()),
                                ..Default::default()
                            };
                            let member = create_member_in(tx, program_id, fields).await?;
                            if ask_first {
                                return Ok(Asked::NewPhone(member));
                            }
                            member
                        }
                    };
                    match member.state {
                        MemberState::Registering => {
                            if let Some(invitation) = &invitation {
                                keep_invitation(tx, member.id, invitation).await?;
                            }
                            take_data(tx, program_id, member.id, data).await?;
                        }
                        MemberState::Active => {}
                        other => return Err(StoreError::MemberInactive(other.as_str())),
                    }
                    let sent = send_code_in(tx, program_id, member.id, (Channel::Phone, phone), rules, &sealer).await?;
                    Ok(Asked::Sent(member, sent))
                })
            })
        };
        match attempt().await {
            // Someone asked for the same new phone a moment earlier: theirs is found now.
            Err(StoreError::Conflict(_)) => attempt().await,
            other => other,
        }
    }

    /// The invitation a member in registration gave while asking for its code.
    pub async fn pending_invitation(&self, member_id: i64) -> Result<Option<Invitation>, StoreError> {
        let row = sqlx::query("SELECT code, banner_id, device FROM pending_invitations WHERE member_id = $1")
            .bind(member_id)
            .fetch_optional(self.reads())
            .await?;
        row.map(|r| {
            Ok(Invitation {
                code: r.try_get(0)?,
                banner_id: r.try_get(1)?,
                device: r.try_get(2)?,
                ip: None,
            })
        })
        .transpose()
    }

    /// Checks a sign-in code sent to `phone`. A wrong code is counted (see
    /// [`Store::confirm_code`]) and answered with its [`CodeError`]. The right one signs
    /// the member in; a member in registration becomes active, attributed first to the
    /// inviter when `referral` names one, and the registration's hooks run. The app's
    /// install id (`device`) is remembered for the fraud rules.
    pub async fn sign_in_with_code(
        &self,
        program_id: i64,
        (phone, device): (String, Option<String>),
        code: String,
        rules: CodeRules,
        referral: Option<(Member, Invitation)>,
    ) -> Result<Result<SignedIn, CodeError>, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let Some(member) = member_where(tx, program_id, "phone = $2", &phone).await? else {
                    return Ok(Err(CodeError::NotSent));
                };
                if let Err(wrong) = check_code_in(tx, program_id, member.id, Channel::Phone, code.trim(), rules).await?
                {
                    return Ok(Err(wrong));
                }
                if let Some(device) = &device {
                    let ip = install_address(tx, program_id, device).await?.unwrap_or_default();
                    record_traces_in(tx, program_id, member.id, &[("device", device), ("ip", &ip)]).await?;
                }
                if member.state != MemberState::Registering {
                    return Ok(Ok(SignedIn {
                        member,
                        registered: false,
                        attribution: None,
                    }));
                }
                let attribution = match referral {
                    Some((inviter, invitation)) => {
                        Some(attribute_in(tx, program_id, member.id, &inviter, &invitation).await?)
                    }
                    None => None,
                };
                sqlx::query("DELETE FROM pending_invitations WHERE member_id = $1")
                    .bind(member.id)
                    .execute(tx.conn())
                    .await?;
                let active = MemberFields {
                    state: Some(MemberState::Active),
                    ..Default::default()
                };
                let member = update_member_in(tx, program_id, member.id, active).await?;
                hooks::run(tx, program_id, Happening::RegistrationFinished { member_id: member.id }).await?;
                Ok(Ok(SignedIn {
                    member,
                    registered: true,
                    attribution,
                }))
            })
        })
        .await
    }
}

/// What a registering member gave about themselves (e-mail, names, attributes). An
/// e-mail that is not one is left out; one another member has is left out too, and kept
/// as a trace for the fraud rules (a friend giving the inviter's address).
async fn take_data(tx: &mut Tx, program_id: i64, member_id: i64, mut data: MemberFields) -> Result<(), StoreError> {
    if let Some(given) = data.email.take() {
        if let Ok(email) = normalize_email(&given) {
            match member_where(tx, program_id, "email = $2", &email).await? {
                Some(other) if other.id != member_id => {
                    record_traces_in(tx, program_id, member_id, &[("email", &email)]).await?;
                }
                _ => data.email = Some(email),
            }
        }
    }
    if data == MemberFields::default() {
        return Ok(());
    }
    update_member_in(tx, program_id, member_id, data).await.map(|_| ())
}

async fn keep_invitation(tx: &mut Tx, member_id: i64, invitation: &Invitation) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO pending_invitations (member_id, code, banner_id, device, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (member_id) DO UPDATE SET code = excluded.code, banner_id = excluded.banner_id, \
         device = excluded.device, created_at = excluded.created_at",
    )
    .bind(member_id)
    .bind(invitation.code.trim())
    .bind(invitation.banner_id.as_deref())
    .bind(invitation.device.as_deref())
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The address an app install first opened from, if it told.
async fn install_address(tx: &mut Tx, program_id: i64, install_id: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT ip FROM app_installs WHERE program_id = $1 AND install_id = $2")
        .bind(program_id)
        .bind(install_id)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}
