//! The VK collector Loymax's document describes: it reads the community's members and
//! the likes, comments and reposts of its recent posts through the VK API, and turns what
//! changed since the last run into events of the members who linked their VK profile —
//! joins and leaves, likes, comments and reposts made and removed (VK's Callback API
//! tells no deleted repost; this does). What the Callback API told already is not paid
//! again: a like that stands is the same like however often it is told.

use accrue_core::events::vk::NETWORK;
use accrue_core::events::{ActivityKind, Event, EventKind};
use accrue_store::events::{VkCollector, VkSettings};
use accrue_store::{Store, StoreError};
use serde_json::Value;
use std::collections::BTreeSet;

/// The VK API version asked for.
const VERSION: &str = "5.199";
/// The most items one call returns.
const PAGE: usize = 1000;
/// The most comments `wall.getComments` returns at once.
const COMMENTS_PAGE: usize = 100;

/// What the collector watches, each remembered apart (`vk_seen.kind`).
#[derive(Debug, Clone, Copy)]
enum Watched {
    Members,
    Likes,
    Reposts,
    /// Kept as `{user}_{comment id}`: each comment is its own subject, as the Callback
    /// API's `wall_reply_new` has it.
    Comments,
}

impl Watched {
    fn kind(self) -> &'static str {
        match self {
            Watched::Members => "member",
            Watched::Likes => "like",
            Watched::Reposts => "repost",
            Watched::Comments => "comment",
        }
    }

    /// The event when a user appears (its removal when they go).
    fn made(self) -> EventKind {
        match self {
            Watched::Members => EventKind::GroupJoined,
            Watched::Likes => EventKind::Activity(ActivityKind::Like),
            Watched::Reposts => EventKind::Activity(ActivityKind::Repost),
            Watched::Comments => EventKind::Activity(ActivityKind::Comment),
        }
    }

    /// The VK user and the event's object of a seen entry about `object`.
    fn subject<'a>(self, entry: &'a str, object: &str) -> (&'a str, String) {
        match (self, entry.split_once('_')) {
            (Watched::Comments, Some((user, comment))) => (user, format!("{object}_{comment}")),
            _ => (entry, object.to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("VK API: {0}")]
    Vk(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Api<'a> {
    http: &'a reqwest::Client,
    collector: &'a VkCollector,
    token: String,
}

impl Api<'_> {
    async fn call(&self, method: &str, params: &[(&str, String)]) -> Result<Value, CollectError> {
        let url = format!("{}/{method}", self.collector.api_base.trim_end_matches('/'));
        let mut query: Vec<(&str, String)> = vec![("access_token", self.token.clone()), ("v", VERSION.into())];
        query.extend(params.iter().cloned());
        let answer: Value = self
            .http
            .get(url)
            .query(&query)
            .send()
            .await
            .map_err(|e| CollectError::Vk(format!("{method}: {e}")))?
            .json()
            .await
            .map_err(|e| CollectError::Vk(format!("{method}: {e}")))?;
        if let Some(error) = answer.get("error") {
            return Err(CollectError::Vk(format!(
                "{method}: {}",
                error["error_msg"].as_str().unwrap_or("error")
            )));
        }
        Ok(answer["response"].clone())
    }

    /// The ids of `response.items`, read as numbers or as objects' `field`.
    fn ids(response: &Value, field: &str) -> BTreeSet<String> {
        response["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_i64().or_else(|| item[field].as_i64()))
            .filter(|id| *id > 0)
            .map(|id| id.to_string())
            .collect()
    }
}

/// One run for a program; how many events it recorded.
pub async fn collect(
    store: &Store,
    http: &reqwest::Client,
    program_id: i64,
    settings: &VkSettings,
) -> Result<usize, CollectError> {
    let Some(collector) = &settings.collector else {
        return Ok(0);
    };
    let token = store
        .sealer()
        .open(&collector.sealed_token)
        .map_err(StoreError::Internal)?;
    let api = Api { http, collector, token };
    let group = settings.group_id.to_string();
    let owner = format!("-{group}");
    let members = api
        .call(
            "groups.getMembers",
            &[("group_id", group.clone()), ("count", PAGE.to_string())],
        )
        .await?;
    let mut recorded = observe(store, program_id, Watched::Members, &group, Api::ids(&members, "id")).await?;
    let count = collector.posts.to_string();
    let posts = api
        .call("wall.get", &[("owner_id", owner.clone()), ("count", count)])
        .await?;
    for post in Api::ids(&posts, "id") {
        let item = [
            ("owner_id", owner.clone()),
            ("item_id", post.clone()),
            ("type", "post".to_string()),
        ];
        let likes = api
            .call("likes.getList", &[&item[..], &[("count", PAGE.to_string())]].concat())
            .await?;
        recorded += observe(store, program_id, Watched::Likes, &post, Api::ids(&likes, "id")).await?;
        let reposts = api
            .call(
                "wall.getReposts",
                &[
                    ("owner_id", owner.clone()),
                    ("post_id", post.clone()),
                    ("count", PAGE.to_string()),
                ],
            )
            .await?;
        let reposters = Api::ids(&reposts, "from_id");
        recorded += observe(store, program_id, Watched::Reposts, &post, reposters).await?;
        let comments = api
            .call(
                "wall.getComments",
                &[
                    ("owner_id", owner.clone()),
                    ("post_id", post.clone()),
                    ("count", COMMENTS_PAGE.to_string()),
                ],
            )
            .await?;
        recorded += observe(store, program_id, Watched::Comments, &post, written(&comments)).await?;
    }
    Ok(recorded)
}

/// The comments of a `wall.getComments` answer by users (not communities), as
/// `{user}_{comment id}`.
fn written(comments: &Value) -> BTreeSet<String> {
    let items = comments["items"].as_array().into_iter().flatten();
    items
        .filter_map(|c| Some((c["from_id"].as_i64().filter(|id| *id > 0)?, c["id"].as_i64()?)))
        .map(|(user, id)| format!("{user}_{id}"))
        .collect()
}

/// Compares what VK shows now with what was seen last; records each change as an event
/// (what `watched` makes, or its removal) of the member who linked that VK user;
/// remembers the new state. How many events were recorded.
async fn observe(
    store: &Store,
    program_id: i64,
    watched: Watched,
    object: &str,
    now: BTreeSet<String>,
) -> Result<usize, CollectError> {
    let kind = watched.kind();
    let seen: BTreeSet<String> = store.vk_seen(program_id, kind, object).await?.into_iter().collect();
    let added: Vec<String> = now.difference(&seen).cloned().collect();
    let removed: Vec<String> = seen.difference(&now).cloned().collect();
    let made = watched.made();
    let undone = match made {
        EventKind::GroupJoined => EventKind::GroupLeft,
        EventKind::Activity(a) => EventKind::ActivityRemoved(a),
        other => other,
    };
    let mut recorded = 0;
    for (entries, event_kind) in [(&added, made), (&removed, undone)] {
        for entry in entries {
            let (user, about) = watched.subject(entry, object);
            let Some(member_id) = store.social_member(program_id, NETWORK, user).await? else {
                continue;
            };
            let event = Event {
                kind: event_kind,
                at: store.now(),
                network: Some(NETWORK.to_string()),
                object: Some(about),
                attribute: None,
            };
            store.record_event(program_id, member_id, event, None).await?;
            recorded += 1;
        }
    }
    if !(added.is_empty() && removed.is_empty()) {
        store
            .update_vk_seen(program_id, kind.to_string(), object.to_string(), added, removed)
            .await?;
    }
    Ok(recorded)
}
