//! The VK collector Loymax's document describes: it reads the community's members and
//! the likes and reposts of its recent posts through the VK API, and turns what changed
//! since the last run into events of the members who linked their VK profile — joins
//! and leaves, likes and reposts made and removed (VK's Callback API tells no deleted
//! repost; this does).

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
    let mut recorded = observe(
        store,
        program_id,
        "member",
        &group,
        Api::ids(&members, "id"),
        EventKind::GroupJoined,
    )
    .await?;
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
        let like = EventKind::Activity(ActivityKind::Like);
        recorded += observe(store, program_id, "like", &post, Api::ids(&likes, "id"), like).await?;
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
        let repost = EventKind::Activity(ActivityKind::Repost);
        recorded += observe(
            store,
            program_id,
            "repost",
            &post,
            Api::ids(&reposts, "from_id"),
            repost,
        )
        .await?;
    }
    Ok(recorded)
}

/// Compares what VK shows now with what was seen last; records each change as an event
/// (`made`, or its removal) of the member who linked that VK user; remembers the new
/// state. How many events were recorded.
async fn observe(
    store: &Store,
    program_id: i64,
    kind: &str,
    object: &str,
    now: BTreeSet<String>,
    made: EventKind,
) -> Result<usize, CollectError> {
    let seen: BTreeSet<String> = store.vk_seen(program_id, kind, object).await?.into_iter().collect();
    let added: Vec<String> = now.difference(&seen).cloned().collect();
    let removed: Vec<String> = seen.difference(&now).cloned().collect();
    let undone = match made {
        EventKind::GroupJoined => EventKind::GroupLeft,
        EventKind::Activity(a) => EventKind::ActivityRemoved(a),
        other => other,
    };
    let mut recorded = 0;
    for (users, event_kind) in [(&added, made), (&removed, undone)] {
        for user in users {
            let Some(member_id) = store.social_member(program_id, NETWORK, user).await? else {
                continue;
            };
            let event = Event {
                kind: event_kind,
                at: store.now(),
                network: Some(NETWORK.to_string()),
                object: Some(object.to_string()),
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
