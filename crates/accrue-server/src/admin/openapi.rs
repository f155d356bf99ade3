//! The OpenAPI 3.1 document of the admin API, generated from the handlers.

use super::tracker::{integrations as tracker_integrations, links as tracker_links, reports as tracker_reports};
use super::{
    batch, cards, coupons, events, exports, faces, keys, members, notifications, operations, outbox, partners,
    processing, programs, referrals, reports, subscribers, webhooks,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Accrue admin API", description = "Programs, members, cards and the points ledger."),
    paths(
        programs::create, programs::list, programs::get, programs::create_currency, programs::currencies, programs::set_currency_limits, programs::registration_settings, programs::set_registration_settings, programs::messages, programs::set_message, programs::reset_message, programs::questionnaire, programs::set_questionnaire,
        faces::get_loymax, faces::put_loymax, faces::delete_loymax, faces::list_loymax,
        referrals::settings, referrals::set_settings, referrals::set_link_hosts, referrals::list, referrals::clicks, referrals::approve,
        referrals::reject, referrals::of_member, referrals::imshop_settings, referrals::put_imshop, referrals::rotate_imshop_key,
        batch::settings, batch::put_settings, batch::rotate_key, batch::submit, batch::list, batch::get, batch::rows, batch::stats, reports::points, reports::activity, exports::start, exports::list, exports::get, exports::file,
        batch::lifetimes, batch::put_lifetime, batch::delete_lifetime,
        events::offers, events::put_offers, events::record, events::link, events::counters, events::put_vk, events::rotate_secret, events::collect,
        partners::create, partners::list, partners::get, partners::update, partners::rotate_key, partners::users,
        partners::set_campaign, partners::payments, partners::send_message, partners::templates, partners::set_template,
        members::create, members::list, members::get, members::update, members::block, members::archive, members::set_password, members::resend_code,
        members::balances, members::history, members::purchases, notifications::create, notifications::list,
        cards::import, cards::list, cards::assign_to_member, cards::emit_virtual, cards::block, cards::unblock,
        operations::accrue, operations::withdraw, operations::hold, operations::get_hold,
        operations::capture, operations::void,
        webhooks::create, webhooks::list, webhooks::get, webhooks::secret, webhooks::update,
        webhooks::delete, webhooks::rotate_secret, webhooks::test,
        keys::create, keys::list, keys::revoke,
        outbox::list, outbox::get, outbox::retry, outbox::queue, subscribers::send, coupons::create_series, coupons::list_series,
        coupons::issue, coupons::reject, coupons::of_member, cards::create_category, cards::categories,
        processing::settings, processing::set_settings, processing::create_merchant, processing::update_merchant, processing::merchants,
        processing::create_device, processing::devices, processing::disable_device, processing::put_offer,
        processing::get_offer, processing::offers, processing::enable_offer, processing::disable_offer,
        processing::simulate, processing::import_goods,
        tracker_integrations::templates, tracker_integrations::create, tracker_integrations::list, tracker_integrations::get, tracker_integrations::update,
        tracker_links::fields, tracker_links::put_field, tracker_links::put_lead, tracker_links::create, tracker_links::list, tracker_links::get, tracker_links::render,
        tracker_reports::postbacks, tracker_reports::stats, tracker_reports::lead, tracker_reports::rates_get, tracker_reports::put_rates,
    ),
    modifiers(&BearerAuth),
    security(("admin_key" = [])),
)]
struct AdminApi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(AdminApi::openapi())
}
