//! Event offers over real HTTP on both backends, with the test playing VK: its Callback
//! API's confirmation, secret and events (a like, a join, a leave, a repost) for a member
//! who linked a VK profile; the document's offers ("5 points for the first like, 1 for
//! each next, at most 15 a month"; leaving the group or deleting a repost takes back
//! what it gave); duplicate deliveries counted once.

use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

on_both_backends!(
    likes_over_two_months,
    leaving_and_unreposting_take_back_what_they_gave,
    a_finished_registration_is_an_event,
    servers_send_signed_events,
    the_collector_sees_what_changed,
    members_link_vk_through_vk_id,
    a_changed_attribute_is_an_event,
    birthdays_are_raised_once_a_year,
);

const GROUP: i64 = 1001;
const VK_USER: i64 = 7;

/// The program's VK community and event offers, and a member who linked VK user 7.
async fn setup(s: &TestServer, offers: Value) -> i64 {
    let vk = json!({"group_id": GROUP, "confirmation": "c0nf1rm", "secret": "s3cret"});
    assert_eq!(
        s.admin(Method::PUT, "/admin/v1/programs/default/vk", Some(vk)).await.0,
        StatusCode::OK
    );
    let (status, saved) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/event-offers",
            Some(json!({"offers": offers})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, member) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79161234567"})),
        )
        .await;
    let id = member["id"].as_i64().unwrap();
    let link = json!({"network": "vk", "user_id": VK_USER.to_string()});
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/members/{id}/social-profiles"),
            Some(link),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    id
}

/// A call as VK makes it; the status and the text answered.
async fn vk(s: &TestServer, kind: &str, object: Value, event_id: &str, secret: &str) -> (StatusCode, String) {
    let body = json!({"type": kind, "object": object, "group_id": GROUP, "event_id": event_id, "secret": secret});
    let answer = s
        .client
        .post(format!("{}/social/vk/default", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

fn like(post: i64) -> Value {
    json!({"liker_id": VK_USER, "object_type": "post", "object_id": post, "object_owner_id": -GROUP, "post_id": post})
}

async fn balance(s: &TestServer, member: i64) -> String {
    let (_, b) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/balances"), None)
        .await;
    b["items"][0]["balance"].as_str().unwrap_or("0.00").to_string()
}

async fn likes_over_two_months(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    clock.store(1_777_636_800_000, Ordering::SeqCst); // 2026-05-01 12:00 UTC
    let likes = json!([{"id": "vk-likes", "name": "Лайки ВКонтакте", "on": {"events": [{"activity": "like"}], "network": "vk"},
        "points": {"type": "accrue", "amount": {"first_then": {"first": 500, "next": 100}}},
        "actions": [{"type": "count", "counter": "likes"}],
        "caps": [{"type": "points", "period": "month", "max": 1500}]}]);
    let member = setup(&s, likes).await;
    let body = json!({"type": "confirmation", "group_id": GROUP});
    let confirmation = s
        .client
        .post(format!("{}/social/vk/default", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(confirmation.text().await.unwrap(), "c0nf1rm");

    for post in 1..=20 {
        assert_eq!(
            vk(&s, "like_add", like(post), &format!("may-{post}"), "s3cret").await,
            (StatusCode::OK, "ok".into())
        );
    }
    assert_eq!(balance(&s, member).await, "15.00", "5 + 1 × 10, then the monthly cap");
    assert_eq!(
        vk(&s, "like_add", like(21), "may-1", "s3cret").await.1,
        "ok",
        "a duplicate delivery"
    );
    let (status, _) = vk(&s, "like_add", like(22), "may-22", "wrong").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong secret");
    let stranger =
        json!({"liker_id": 99, "object_type": "post", "object_id": 1, "object_owner_id": -GROUP, "post_id": 1});
    assert_eq!(
        vk(&s, "like_add", stranger, "may-x", "s3cret").await.1,
        "ok",
        "nobody Accrue knows"
    );

    clock.fetch_add(31 * 86_400_000, Ordering::SeqCst); // June
    for post in 1..=20 {
        vk(&s, "like_add", like(100 + post), &format!("june-{post}"), "s3cret").await;
    }
    assert_eq!(
        balance(&s, member).await,
        "30.00",
        "the first like was in May: 1 each, 15 at most"
    );
    let (_, counters) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/event-counters"), None)
        .await;
    assert_eq!(
        counters["counters"]["likes"],
        11 + 15,
        "a like counts while the offer applies, not over its cap"
    );
}

async fn leaving_and_unreposting_take_back_what_they_gave(db: TestDb) {
    let s = TestServer::start(db).await;
    let template = json!({"title_template": "Баллы списаны", "text_template": "Репост удалён: баллы списаны."});
    let path = "/admin/v1/programs/default/notification-templates/repost_deleted";
    assert_eq!(s.admin(Method::PUT, path, Some(template)).await.0, StatusCode::OK);
    let offers = json!([
        {"id": "join", "name": "За вступление", "on": {"events": ["group_joined"], "network": "vk"},
         "points": {"type": "accrue", "amount": {"fixed": 1000}}, "caps": [{"type": "applications", "period": "ever", "max": 1}]},
        {"id": "leave", "name": "Выход из группы", "on": {"events": ["group_left"], "network": "vk"}, "points": {"type": "reverse"}},
        {"id": "repost", "name": "За репост", "on": {"events": [{"activity": "repost"}], "network": "vk"},
         "points": {"type": "accrue", "amount": {"fixed": 300}}},
        {"id": "unrepost", "name": "Репост удалён", "on": {"events": [{"activity_removed": "repost"}], "network": "vk"},
         "points": {"type": "reverse"}, "actions": [{"type": "message", "channel": "sms", "template": "repost_deleted"}]},
    ]);
    let member = setup(&s, offers).await;
    vk(
        &s,
        "group_join",
        json!({"user_id": VK_USER, "join_type": "join"}),
        "j1",
        "s3cret",
    )
    .await;
    assert_eq!(balance(&s, member).await, "10.00");
    vk(
        &s,
        "group_leave",
        json!({"user_id": VK_USER, "self": 1}),
        "l1",
        "s3cret",
    )
    .await;
    assert_eq!(
        balance(&s, member).await,
        "0.00",
        "leaving takes back what joining gave"
    );
    vk(
        &s,
        "group_join",
        json!({"user_id": VK_USER, "join_type": "join"}),
        "j2",
        "s3cret",
    )
    .await;
    assert_eq!(balance(&s, member).await, "0.00", "joining pays once ever");

    for (post, id) in [(5, "r5"), (6, "r6")] {
        let repost = json!({"id": 900 + post, "from_id": VK_USER, "owner_id": VK_USER, "copy_history": [{"id": post, "owner_id": -GROUP}]});
        vk(&s, "wall_repost", repost, id, "s3cret").await;
    }
    assert_eq!(balance(&s, member).await, "6.00");
    // VK does not tell when a repost is deleted: the operator (or a collector) records it.
    let removed = json!({"event": {"kind": {"activity_removed": "repost"}, "at": s.store.now(), "network": "vk", "object": "5"},
                         "source": "collector", "event_id": "unrepost-5"});
    let path = format!("/admin/v1/members/{member}/events");
    let (status, recorded) = s.admin(Method::POST, &path, Some(removed.clone())).await;
    assert_eq!(status, StatusCode::OK, "{recorded}");
    assert_eq!(
        recorded["outcomes"][0]["points"],
        json!({"type": "withdraw", "points": 300})
    );
    assert_eq!(balance(&s, member).await, "3.00", "exactly what that repost gave");
    let (_, again) = s.admin(Method::POST, &path, Some(removed)).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(balance(&s, member).await, "3.00");
    let (_, sms) = s.admin(Method::GET, "/admin/v1/outbox/messages?kind=sms", None).await;
    let texts: Vec<&str> = sms["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["payload"]["text"].as_str())
        .collect();
    assert!(texts.contains(&"Репост удалён: баллы списаны."), "{sms}");
}

async fn a_finished_registration_is_an_event(db: TestDb) {
    let s = TestServer::start(db).await;
    let key = crate::referral::program(&s, json!({})).await;
    let welcome = json!([{"id": "welcome", "name": "За регистрацию", "on": {"events": ["registration_finished"]},
        "points": {"type": "accrue", "amount": {"fixed": 250}}, "actions": [{"type": "count", "counter": "welcomed"}]}]);
    let (status, _) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/event-offers",
            Some(json!({"offers": welcome})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let user = crate::referral::sign_in(&s, &key, "79031112233", None, "install-1").await;
    let member = user["id"].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(user["bonuses"], 2.5, "{user}");
    assert_eq!(balance(&s, member).await, "2.50");
    let (_, counters) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/event-counters"), None)
        .await;
    assert_eq!(counters["counters"]["welcomed"], 1);
}

async fn servers_send_signed_events(db: TestDb) {
    let s = TestServer::start(db).await;
    let offer = json!([{"id": "review", "name": "За отзыв", "on": {"events": ["attribute_changed"], "attribute": "review"},
        "points": {"type": "accrue", "amount": {"fixed": 700}}}]);
    s.admin(
        Method::PUT,
        "/admin/v1/programs/default/event-offers",
        Some(json!({"offers": offer})),
    )
    .await;
    let (_, member) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79161234567"})),
        )
        .await;
    let member = member["id"].as_i64().unwrap();
    let (_, made) = s
        .admin(
            Method::POST,
            "/admin/v1/programs/default/event-source/rotate-secret",
            None,
        )
        .await;
    let secret = accrue_core::signature::WebhookSecret::parse(made["secret"].as_str().unwrap()).unwrap();
    let body = json!({"member": {"phone": "+7 916 123-45-67"},
        "event": {"kind": "attribute_changed", "at": s.store.now(), "attribute": {"name": "review", "value": "5"}}})
    .to_string();
    let send = |id: &str, timestamp: i64, signature: String| {
        s.client
            .post(format!("{}/events/default", s.base))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let now = s.store.now() / 1000;
    let answer = send("msg_1", now, secret.sign("msg_1", now, &body)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(balance(&s, member).await, "7.00");
    let again: Value = send("msg_1", now, secret.sign("msg_1", now, &body))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["duplicate"], true, "the same webhook-id is handled once");
    let forged = send("msg_2", now, "v1,AAAA".into()).await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let stale = send("msg_3", now - 600, secret.sign("msg_3", now - 600, &body))
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED, "too old to trust");
    assert_eq!(balance(&s, member).await, "7.00");
}

/// What the local peer playing the VK API shows: members, posts, likes, reposts and
/// comments (`(author, comment id)`).
#[derive(Default)]
struct VkWorld {
    members: Vec<i64>,
    posts: Vec<i64>,
    likes: std::collections::HashMap<i64, Vec<i64>>,
    reposts: std::collections::HashMap<i64, Vec<i64>>,
    comments: std::collections::HashMap<i64, Vec<(i64, i64)>>,
}

/// The VK API's five methods the collector calls, answering from `world`; its base URL.
async fn vk_api(world: std::sync::Arc<std::sync::Mutex<VkWorld>>) -> String {
    use axum::extract::{Path, Query};
    let app = axum::Router::new().route(
        "/method/{name}",
        axum::routing::get(
            move |Path(name): Path<String>, Query(q): Query<std::collections::HashMap<String, String>>| {
                let world = world.clone();
                async move {
                    assert_eq!(q.get("access_token").map(String::as_str), Some("vk-service-token"));
                    let w = world.lock().unwrap();
                    let post = q
                        .get("item_id")
                        .or(q.get("post_id"))
                        .and_then(|p| p.parse::<i64>().ok())
                        .unwrap_or(0);
                    let items = match name.as_str() {
                        "groups.getMembers" => json!(w.members),
                        "wall.get" => json!(w
                            .posts
                            .iter()
                            .map(|id| json!({"id": id, "owner_id": -GROUP}))
                            .collect::<Vec<_>>()),
                        "likes.getList" => json!(w.likes.get(&post).cloned().unwrap_or_default()),
                        "wall.getReposts" => json!(w
                            .reposts
                            .get(&post)
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .map(|u| json!({"from_id": u, "id": 1}))
                            .collect::<Vec<_>>()),
                        "wall.getComments" => json!(w
                            .comments
                            .get(&post)
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .map(|(from, id)| json!({"id": id, "from_id": from, "post_id": post, "text": "!"}))
                            .collect::<Vec<_>>()),
                        _ => return axum::Json(json!({"error": {"error_code": 3, "error_msg": "Unknown method"}})),
                    };
                    axum::Json(json!({"response": {"count": items.as_array().map_or(0, Vec::len), "items": items}}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/method", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn the_collector_sees_what_changed(db: TestDb) {
    let s = TestServer::start(db).await;
    let offers = json!([
        {"id": "join", "name": "За вступление", "on": {"events": ["group_joined"], "network": "vk"},
         "points": {"type": "accrue", "amount": {"fixed": 1000}}, "caps": [{"type": "applications", "period": "ever", "max": 1}]},
        {"id": "leave", "name": "Выход из группы", "on": {"events": ["group_left"], "network": "vk"}, "points": {"type": "reverse"}},
        {"id": "like", "name": "Лайк", "on": {"events": [{"activity": "like"}], "network": "vk"}, "points": {"type": "accrue", "amount": {"fixed": 100}}},
        {"id": "repost", "name": "Репост", "on": {"events": [{"activity": "repost"}], "network": "vk"}, "points": {"type": "accrue", "amount": {"fixed": 300}}},
        {"id": "unrepost", "name": "Репост удалён", "on": {"events": [{"activity_removed": "repost"}], "network": "vk"}, "points": {"type": "reverse"}},
        {"id": "comment", "name": "Комментарий", "on": {"events": [{"activity": "comment"}], "network": "vk"}, "points": {"type": "accrue", "amount": {"fixed": 200}}},
        {"id": "uncomment", "name": "Комментарий удалён", "on": {"events": [{"activity_removed": "comment"}], "network": "vk"}, "points": {"type": "reverse"}},
    ]);
    let member = setup(&s, offers).await;
    // The Callback API told of the like on post 10 before the collector first ran.
    let (_, said) = vk(&s, "like_add", like(10), "cb-like-10", "s3cret").await;
    assert_eq!(said, "ok");
    assert_eq!(balance(&s, member).await, "1.00");
    let world = std::sync::Arc::new(std::sync::Mutex::new(VkWorld::default()));
    let api_base = vk_api(world.clone()).await;
    let vk = json!({"group_id": GROUP, "confirmation": "c0nf1rm", "secret": "s3cret",
                    "collector": {"access_token": "vk-service-token", "api_base": api_base, "posts": 10}});
    assert_eq!(
        s.admin(Method::PUT, "/admin/v1/programs/default/vk", Some(vk)).await.0,
        StatusCode::OK
    );
    let collect = || s.admin(Method::POST, "/admin/v1/programs/default/vk/collect", None);

    {
        let mut w = world.lock().unwrap();
        w.members = vec![VK_USER, 99];
        w.posts = vec![10, 11];
        w.likes.insert(10, vec![VK_USER, 99]);
        w.reposts.insert(11, vec![VK_USER]);
        w.comments.insert(11, vec![(VK_USER, 1), (VK_USER, 2), (99, 3)]);
    }
    let (status, run) = collect().await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(
        run["events"], 5,
        "a join, a like, a repost and two comments of the linked member; user 99 is nobody's"
    );
    assert_eq!(
        balance(&s, member).await,
        "18.00",
        "10 + 1 + 3 + 2 × 2: the like the Callback API told of is paid once"
    );
    assert_eq!(collect().await.1["events"], 0, "nothing changed, nothing counted twice");

    {
        let mut w = world.lock().unwrap();
        w.members = vec![99];
        w.reposts.insert(11, vec![]);
        w.comments.insert(11, vec![(VK_USER, 2), (99, 3)]);
    }
    assert_eq!(collect().await.1["events"], 3);
    assert_eq!(
        balance(&s, member).await,
        "3.00",
        "the leave, the deleted repost and the deleted comment took back what they gave"
    );
}

async fn members_link_vk_through_vk_id(db: TestDb) {
    use accrue_store::member_auth::{TokenKind, TokenOwner};
    let s = TestServer::start(db).await;
    // A local peer plays VK ID's token endpoint.
    let token_endpoint = axum::Router::new().route(
        "/oauth2/auth",
        axum::routing::post(
            |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| async move {
                let right = form.get("code").map(String::as_str) == Some("the-code")
                    && form.get("client_secret").map(String::as_str) == Some("vk-app-secret")
                    && form.get("grant_type").map(String::as_str) == Some("authorization_code");
                if right {
                    axum::Json(json!({"access_token": "vk1.a.x", "user_id": 4242, "expires_in": 3600}))
                } else {
                    axum::Json(json!({"error": "invalid_grant"}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vk_id = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, token_endpoint).await });
    let offer = json!([{"id": "linked", "name": "За привязку ВКонтакте", "on": {"events": ["social_linked"], "network": "vk"},
        "points": {"type": "accrue", "amount": {"fixed": 500}}, "caps": [{"type": "applications", "period": "ever", "max": 1}]}]);
    s.admin(
        Method::PUT,
        "/admin/v1/programs/default/event-offers",
        Some(json!({"offers": offer})),
    )
    .await;
    let vk = json!({"group_id": GROUP, "confirmation": "c0nf1rm", "oauth": {
        "client_id": "51234", "client_secret": "vk-app-secret",
        "redirect_uri": format!("{}/social/vk/default/callback", s.base),
        "authorize_url": format!("{vk_id}/authorize"), "token_url": format!("{vk_id}/oauth2/auth")}});
    assert_eq!(
        s.admin(Method::PUT, "/admin/v1/programs/default/vk", Some(vk)).await.0,
        StatusCode::OK
    );
    let (_, member) = s.admin(Method::POST, "/admin/v1/members", Some(json!({}))).await;
    let member = member["id"].as_i64().unwrap();
    let owner = TokenOwner {
        program_id: 1,
        member_id: member,
    };
    let token = s.store.issue_token(owner, TokenKind::Access, 3_600_000).await.unwrap();

    let link = |token: String| {
        s.client
            .post(format!("{}/social/vk/default/link", s.base))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(link("nope".into()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let started: Value = link(token.clone()).await.unwrap().json().await.unwrap();
    let url = started["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{vk_id}/authorize?response_type=code&client_id=51234")),
        "{url}"
    );
    let state = url.split("state=").nth(1).unwrap().to_string();

    let callback = |code: &str, state: &str| {
        s.client
            .get(format!(
                "{}/social/vk/default/callback?code={code}&state={state}&device_id=d1",
                s.base
            ))
            .send()
    };
    let wrong = callback("bad-code", &state).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST, "VK ID refused the code");
    let again: Value = link(token).await.unwrap().json().await.unwrap();
    let state = again["url"]
        .as_str()
        .unwrap()
        .split("state=")
        .nth(1)
        .unwrap()
        .to_string();
    let done = callback("the-code", &state).await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("привязан"));
    assert_eq!(balance(&s, member).await, "5.00", "social_linked fired");
    assert_eq!(s.store.social_member(1, "vk", "4242").await.unwrap(), Some(member));
    let reused = callback("the-code", &state).await.unwrap();
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST, "a state is used once");
}

async fn a_changed_attribute_is_an_event(db: TestDb) {
    let s = TestServer::start(db).await;
    let offer = json!([{"id": "city", "name": "Указал город", "on": {"events": ["attribute_changed"], "attribute": "city"},
        "conditions": [{"type": "attribute_equals", "value": "Moscow"}],
        "points": {"type": "accrue", "amount": {"fixed": 200}}, "caps": [{"type": "applications", "period": "ever", "max": 1}]}]);
    s.admin(
        Method::PUT,
        "/admin/v1/programs/default/event-offers",
        Some(json!({"offers": offer})),
    )
    .await;
    let (_, member) = s.admin(Method::POST, "/admin/v1/members", Some(json!({}))).await;
    let member = member["id"].as_i64().unwrap();
    let path = format!("/admin/v1/members/{member}");
    for (city, expected) in [
        ("Tver", "0.00"),
        ("Moscow", "2.00"),
        ("Moscow", "2.00"),
        ("Tver", "2.00"),
        ("Moscow", "2.00"),
    ] {
        let (status, _) = s
            .admin(Method::PATCH, &path, Some(json!({"attributes": {"city": city}})))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(balance(&s, member).await, expected, "after {city}");
    }
}

/// A member with this `birthday` attribute (if any); the member's id.
async fn born(s: &TestServer, birthday: Option<&str>) -> i64 {
    let attributes = birthday.map_or(json!({}), |b| json!({"birthday": b}));
    let (status, member) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"attributes": attributes})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    member["id"].as_i64().unwrap()
}

async fn birthdays_are_raised_once_a_year(db: TestDb) {
    use accrue_core::questionnaire::Answer;
    use accrue_server::service::events::raise_birthdays;
    // The server's own job first looks five minutes after its start: only these calls raise.
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    clock.store(1_779_051_600_000, Ordering::SeqCst); // 2026-05-17 21:00 UTC, 00:00 on the 18th in Moscow
    let settings = json!({"utc_offset_minutes": 180});
    s.admin(Method::PUT, "/admin/v1/processing/settings", Some(settings))
        .await;
    let template = json!({"title_template": "С днём рождения!", "text_template": "Дарим 10 баллов."});
    let path = "/admin/v1/programs/default/notification-templates/birthday";
    assert_eq!(s.admin(Method::PUT, path, Some(template)).await.0, StatusCode::OK);
    let gift = json!([{"id": "birthday", "name": "С днём рождения", "on": {"events": ["birthday"]},
        "points": {"type": "accrue", "amount": {"fixed": 1000}},
        "actions": [{"type": "message", "channel": "push", "template": "birthday"}]}]);
    let (status, saved) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/event-offers",
            Some(json!({"offers": gift})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let program = s.store.program("default").await.unwrap().id;
    let tree = json!({"nodes": [{"type": "question", "id": 7, "title": "Дата рождения", "logical_name": "BirthDay", "field": "Date"}]});
    s.admin(Method::PUT, "/admin/v1/programs/default/questionnaire", Some(tree))
        .await;

    let by_attribute = born(&s, Some("1990-05-18")).await;
    let by_answer = born(&s, Some("1990-01-01")).await;
    let answer = Answer {
        question_id: 7,
        value: Some("18.05.1985".into()),
        answer_ids: vec![],
    };
    s.store.save_answers(program, by_answer, vec![answer]).await.unwrap();
    let tomorrow = born(&s, Some("1990-05-19")).await;
    let blocked = born(&s, Some("2000-05-18")).await;
    s.admin(
        Method::POST,
        &format!("/admin/v1/members/{blocked}/block"),
        Some(json!({})),
    )
    .await;
    let _no_birthday = born(&s, None).await;
    let device = accrue_store::subscriptions::PushDevice {
        device_id: "phone-1".into(),
        platform: "Android".into(),
        platform_version: None,
        push_service: Some("Fcm".into()),
        user_agent: None,
        token: "fcm-token".into(),
    };
    s.store
        .register_push_device(program, by_attribute, device)
        .await
        .unwrap();

    let mut looked = Default::default();
    assert_eq!(
        raise_birthdays(&s.store, &mut looked).await.unwrap(),
        2,
        "Moscow's day, not UTC's"
    );
    let balances = [by_attribute, by_answer, tomorrow, blocked];
    let mut seen = Vec::new();
    for member in balances {
        seen.push(balance(&s, member).await);
    }
    assert_eq!(seen, ["10.00", "10.00", "0.00", "0.00"]);
    assert_eq!(
        raise_birthdays(&s.store, &mut looked).await.unwrap(),
        0,
        "the day was looked at"
    );
    assert_eq!(
        raise_birthdays(&s.store, &mut Default::default()).await.unwrap(),
        0,
        "another server finds them raised"
    );
    let (_, pushes) = s.admin(Method::GET, "/admin/v1/outbox/messages?kind=push", None).await;
    let pushes = pushes["items"].as_array().unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(
        (pushes[0]["target"].as_str(), pushes[0]["payload"]["title"].as_str()),
        (Some("phone-1"), Some("С днём рождения!"))
    );

    clock.fetch_add(365 * 86_400_000, Ordering::SeqCst); // 2027-05-18 in Moscow
    assert_eq!(raise_birthdays(&s.store, &mut looked).await.unwrap(), 2, "a year later");
    assert_eq!(balance(&s, by_attribute).await, "20.00");
}
