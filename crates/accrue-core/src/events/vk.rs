//! VK's Callback API: the JSON VK POSTs to the program's server about a community's events,
//! `{"type", "object", "group_id", "event_id", "secret", "v"}`.
//!
//! Member events read from it (network `vk`, user = the VK user who acted):
//! - `group_join` / `group_leave` (`user_id`): `group_joined` / `group_left`, object = the
//!   community id. A join `request` to a closed community is not a join yet: ignored.
//! - `like_add` / `like_remove` (`liker_id`; `object_type` must be `post`, `object_id`):
//!   activity `like` (removed), object = the post id.
//! - `wall_reply_new` (`from_id`) / `wall_reply_delete` (`deleter_id`), with `post_id` and
//!   the comment's `id`: activity `comment` (removed), object = `{post_id}_{comment_id}` so
//!   that deleting one comment reverses that comment only. VK names who deleted it: when a
//!   moderator deletes a member's comment, the removal is the moderator's and finds nothing.
//! - `wall_repost` (`from_id`): activity `repost`, object = the reposted post
//!   (`copy_history[0].id`, else the object's `id`). VK sends no event when a repost is
//!   deleted: that removal must come through the API.
//!
//! Events by communities (negative ids) and every other type are ignored. VK's
//! notifications carry no time of the event, so the event is dated when it was received.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

use super::model::{ActivityKind, Event, EventKind};
use crate::signature::constant_time_eq;
use crate::Millis;

/// Larger bodies are refused unread; VK's events are a few KiB.
pub const MAX_BODY: usize = 64 * 1024;
/// The events' network.
pub const NETWORK: &str = "vk";

#[derive(Clone, PartialEq, Eq)]
pub struct VkCallback {
    pub group_id: i64,
    /// VK's id of the notification: the same on its retries.
    pub event_id: Option<String>,
    pub secret: Option<String>,
    pub kind: VkKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VkKind {
    /// VK checks the server: answer with the community's confirmation string.
    Confirmation,
    /// A member event of the VK user `vk_user_id`.
    Event { vk_user_id: i64, event: Event },
    /// A notification of this type that means nothing to the program: answer `ok`.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VkError {
    #[error("the body is larger than 64 KiB")]
    TooLarge,
    #[error("not a VK callback: {0}")]
    Malformed(String),
}

/// Keeps the secret out of logs.
impl fmt::Debug for VkCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VkCallback")
            .field("group_id", &self.group_id)
            .field("event_id", &self.event_id)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("kind", &self.kind)
            .finish()
    }
}

/// Whether the callback carries the community's secret key (compared in constant time).
pub fn secret_matches(callback: &VkCallback, expected: &str) -> bool {
    let given = callback.secret.as_deref();
    given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: Value,
    group_id: i64,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    secret: Option<String>,
}

/// Reads a callback body received at `received_at`.
pub fn parse_callback(body: &[u8], received_at: Millis) -> Result<VkCallback, VkError> {
    if body.len() > MAX_BODY {
        return Err(VkError::TooLarge);
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(malformed)?;
    let notice = Notice {
        kind: &envelope.kind,
        group_id: envelope.group_id,
        at: received_at,
    };
    Ok(VkCallback {
        group_id: envelope.group_id,
        event_id: envelope.event_id,
        secret: envelope.secret,
        kind: notice.read(envelope.object)?,
    })
}

fn malformed(error: serde_json::Error) -> VkError {
    VkError::Malformed(error.to_string())
}

fn read<T: DeserializeOwned>(object: Value) -> Result<T, VkError> {
    serde_json::from_value(object).map_err(malformed)
}

#[derive(Deserialize)]
struct GroupJoin {
    user_id: i64,
    #[serde(default)]
    join_type: Option<String>,
}

#[derive(Deserialize)]
struct GroupLeave {
    user_id: i64,
}

#[derive(Deserialize)]
struct Like {
    liker_id: i64,
    object_type: String,
    object_id: i64,
}

#[derive(Deserialize)]
struct Reply {
    from_id: i64,
    post_id: i64,
    id: i64,
}

#[derive(Deserialize)]
struct ReplyDelete {
    deleter_id: i64,
    post_id: i64,
    id: i64,
}

#[derive(Deserialize)]
struct Repost {
    from_id: i64,
    id: i64,
    #[serde(default)]
    copy_history: Vec<PostId>,
}

#[derive(Deserialize)]
struct PostId {
    id: i64,
}

struct Notice<'a> {
    kind: &'a str,
    group_id: i64,
    at: Millis,
}

impl Notice<'_> {
    fn read(&self, object: Value) -> Result<VkKind, VkError> {
        use ActivityKind::{Comment, Like as Liked, Repost as Reposted};
        let (user, kind, about) = match self.kind {
            "confirmation" => return Ok(VkKind::Confirmation),
            "group_join" => {
                let join: GroupJoin = read(object)?;
                if join.join_type.as_deref() == Some("request") {
                    return Ok(self.ignored());
                }
                (join.user_id, EventKind::GroupJoined, self.group_id.to_string())
            }
            "group_leave" => {
                let leave: GroupLeave = read(object)?;
                (leave.user_id, EventKind::GroupLeft, self.group_id.to_string())
            }
            "like_add" | "like_remove" => {
                let like: Like = read(object)?;
                if like.object_type != "post" {
                    return Ok(self.ignored());
                }
                let kind = if self.kind == "like_add" {
                    EventKind::Activity(Liked)
                } else {
                    EventKind::ActivityRemoved(Liked)
                };
                (like.liker_id, kind, like.object_id.to_string())
            }
            "wall_reply_new" => {
                let reply: Reply = read(object)?;
                let about = format!("{}_{}", reply.post_id, reply.id);
                (reply.from_id, EventKind::Activity(Comment), about)
            }
            "wall_reply_delete" => {
                let reply: ReplyDelete = read(object)?;
                let about = format!("{}_{}", reply.post_id, reply.id);
                (reply.deleter_id, EventKind::ActivityRemoved(Comment), about)
            }
            "wall_repost" => {
                let repost: Repost = read(object)?;
                let post = repost.copy_history.first().map_or(repost.id, |original| original.id);
                (repost.from_id, EventKind::Activity(Reposted), post.to_string())
            }
            _ => return Ok(self.ignored()),
        };
        if user <= 0 {
            return Ok(self.ignored());
        }
        let event = Event {
            kind,
            at: self.at,
            network: Some(NETWORK.into()),
            object: Some(about),
            attribute: None,
        };
        Ok(VkKind::Event {
            vk_user_id: user,
            event,
        })
    }

    fn ignored(&self) -> VkKind {
        VkKind::Ignored(self.kind.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const AT: Millis = 1_715_774_400_000;

    fn parse(value: Value) -> Result<VkCallback, VkError> {
        parse_callback(value.to_string().as_bytes(), AT)
    }

    fn callback(kind: &str, object: Value) -> Value {
        json!({"type": kind, "object": object, "group_id": 77, "event_id": "e1", "v": "5.199", "secret": "s3"})
    }

    /// The member event of a callback: (VK user, kind, object).
    fn member_event(kind: &str, object: Value) -> (i64, EventKind, String) {
        match parse(callback(kind, object)).map(|c| c.kind) {
            Ok(VkKind::Event { vk_user_id, event }) => {
                assert_eq!((event.at, event.network.as_deref()), (AT, Some("vk")));
                (vk_user_id, event.kind, event.object.unwrap_or_default())
            }
            other => panic!("{kind}: {other:?}"),
        }
    }

    fn ignored(kind: &str, object: Value) -> bool {
        parse(callback(kind, object)).map(|c| c.kind) == Ok(VkKind::Ignored(kind.into()))
    }

    #[test]
    fn confirmation_reads_with_its_envelope() {
        let parsed = parse(json!({"type": "confirmation", "group_id": 77, "secret": "s3"})).unwrap();
        assert_eq!((parsed.group_id, parsed.kind), (77, VkKind::Confirmation));
        let full = parse(callback("confirmation", json!({}))).unwrap();
        assert_eq!(full.event_id.as_deref(), Some("e1"));
    }

    #[test]
    fn joins_and_leaves_are_about_the_community() {
        let join = json!({"user_id": 5, "join_type": "join"});
        assert_eq!(
            member_event("group_join", join),
            (5, EventKind::GroupJoined, "77".into())
        );
        let leave = json!({"user_id": 5, "self": 1});
        assert_eq!(
            member_event("group_leave", leave),
            (5, EventKind::GroupLeft, "77".into())
        );
        assert!(ignored("group_join", json!({"user_id": 5, "join_type": "request"})));
    }

    #[test]
    fn likes_of_posts_are_activities() {
        let like = json!({"liker_id": 5, "object_type": "post", "object_id": 10, "object_owner_id": -77});
        let added = (5, EventKind::Activity(ActivityKind::Like), "10".to_string());
        assert_eq!(member_event("like_add", like.clone()), added);
        let removed = (5, EventKind::ActivityRemoved(ActivityKind::Like), "10".to_string());
        assert_eq!(member_event("like_remove", like), removed);
        let photo = json!({"liker_id": 5, "object_type": "photo", "object_id": 10, "object_owner_id": -77});
        assert!(ignored("like_add", photo));
    }

    #[test]
    fn comments_are_told_apart_by_their_id() {
        let new = json!({"id": 3, "from_id": 5, "post_id": 10, "owner_id": -77, "text": "hi", "date": 1});
        let written = (5, EventKind::Activity(ActivityKind::Comment), "10_3".to_string());
        assert_eq!(member_event("wall_reply_new", new), written);
        let deleted = json!({"id": 3, "deleter_id": 5, "post_id": 10, "owner_id": -77});
        let removed = (5, EventKind::ActivityRemoved(ActivityKind::Comment), "10_3".to_string());
        assert_eq!(member_event("wall_reply_delete", deleted), removed);
    }

    #[test]
    fn reposts_name_the_original_post() {
        let repost = json!({"id": 900, "from_id": 5, "owner_id": 5, "copy_history": [{"id": 10, "owner_id": -77}]});
        let reposted = (5, EventKind::Activity(ActivityKind::Repost), "10".to_string());
        assert_eq!(member_event("wall_repost", repost), reposted);
        let bare = json!({"id": 10, "from_id": 5});
        assert_eq!(member_event("wall_repost", bare).2, "10");
    }

    #[test]
    fn communities_and_other_types_are_ignored() {
        assert!(ignored(
            "wall_reply_new",
            json!({"id": 3, "from_id": -77, "post_id": 10})
        ));
        assert!(ignored("message_new", json!({"message": {}})));
        assert!(ignored("wall_reply_edit", json!(null)));
    }

    #[test]
    fn malformed_and_large_bodies_are_refused() {
        let missing = parse(callback("like_add", json!({"liker_id": 5})));
        assert!(matches!(missing, Err(VkError::Malformed(_))));
        assert!(matches!(
            parse(json!({"type": "group_join"})),
            Err(VkError::Malformed(_))
        ));
        assert!(matches!(parse_callback(b"{", AT), Err(VkError::Malformed(_))));
        let large = vec![b' '; MAX_BODY + 1];
        assert_eq!(parse_callback(&large, AT).unwrap_err(), VkError::TooLarge);
    }

    #[test]
    fn the_secret_is_checked_and_kept_out_of_logs() {
        let parsed = parse(callback("confirmation", json!({}))).unwrap();
        assert!(secret_matches(&parsed, "s3"));
        assert!(!secret_matches(&parsed, "s4") && !secret_matches(&parsed, ""));
        let without = VkCallback {
            secret: None,
            ..parsed.clone()
        };
        assert!(!secret_matches(&without, ""));
        assert!(!format!("{parsed:?}").contains("s3"));
    }

    const TYPES: [&str; 9] = [
        "confirmation",
        "group_join",
        "group_leave",
        "like_add",
        "like_remove",
        "wall_reply_new",
        "wall_reply_delete",
        "wall_repost",
        "message_new",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z_0-9]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Mostly the field names VK uses, so the objects get past the first check.
    fn key() -> impl Strategy<Value = String> {
        let names = [
            "user_id",
            "join_type",
            "liker_id",
            "object_type",
            "object_id",
            "from_id",
            "deleter_id",
        ];
        let more = ["post_id", "id", "copy_history", "secret", "type"];
        prop_oneof![
            prop::sample::select([names.as_slice(), more.as_slice()].concat()).prop_map(String::from),
            "[a-z_]{1,8}",
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_callback(&body, AT);
        }

        #[test]
        fn arbitrary_objects_never_panic(kind in prop::sample::select(TYPES.as_slice()), object in json_value()) {
            if let Ok(VkKind::Event { vk_user_id, event }) = parse(callback(kind, object)).map(|c| c.kind) {
                prop_assert!(vk_user_id > 0);
                prop_assert_eq!(event.network.as_deref(), Some(NETWORK));
            }
        }
    }
}
