//! What the ingest thread shares with the web server while both run: the live feed of
//! incident summaries and node heartbeats (for WebSocket clients), the nodes' latest
//! heartbeats, and the sources muted for maintenance.

use pipeline::health::Heartbeat;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// Messages a slow WebSocket client may fall behind before it is told to resynchronise.
pub const FEED_BACKLOG: usize = 8192;

/// One message of the live feed, serialised once for every client.
#[derive(Debug)]
pub struct FeedEvent {
    /// The site it belongs to: clients see only their sites'.
    pub site: String,
    /// `{"type":"incident","summary":…}` or `{"type":"node","node":…}`.
    pub json: String,
}

/// A node as the dashboard shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    #[schema(value_type = Object)]
    pub heartbeat: Heartbeat,
    pub last_seen: chrono::DateTime<chrono::Utc>,
    pub silent: bool,
}

/// A source muted for maintenance: its alerts are stored but raise no alarm.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Mute {
    pub by: String,
    pub reason: String,
    pub until: chrono::DateTime<chrono::Utc>,
}

/// `(site, source kind, source id)`.
pub type SourceRef = (String, String, String);

pub struct Live {
    feed: broadcast::Sender<Arc<FeedEvent>>,
    nodes: RwLock<BTreeMap<String, NodeView>>,
    mutes: RwLock<HashMap<SourceRef, Mute>>,
}

impl Default for Live {
    fn default() -> Self {
        Self { feed: broadcast::channel(FEED_BACKLOG).0, nodes: RwLock::default(), mutes: RwLock::default() }
    }
}

impl Live {
    /// Sends `event` to every connected client (none connected: nothing to do).
    pub fn publish(&self, site: &str, json: String) {
        let _ = self.feed.send(Arc::new(FeedEvent { site: site.to_string(), json }));
    }

    pub fn has_clients(&self) -> bool {
        self.feed.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.feed.subscribe()
    }

    pub fn set_node(&self, view: NodeView) {
        if self.has_clients() {
            let json = serde_json::json!({ "type": "node", "node": &view }).to_string();
            self.publish(&view.heartbeat.site, json);
        }
        self.nodes.write().unwrap_or_else(|p| p.into_inner()).insert(view.heartbeat.node.clone(), view);
    }

    pub fn set_node_silent(&self, node: &str, silent: bool) {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = nodes.get_mut(node) {
            v.silent = silent;
        }
    }

    pub fn nodes(&self) -> Vec<NodeView> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    pub fn set_mutes(&self, mutes: HashMap<SourceRef, Mute>) {
        *self.mutes.write().unwrap_or_else(|p| p.into_inner()) = mutes;
    }

    pub fn mute(&self, source: SourceRef, mute: Option<Mute>) {
        let mut mutes = self.mutes.write().unwrap_or_else(|p| p.into_inner());
        match mute {
            Some(m) => mutes.insert(source, m),
            None => mutes.remove(&source),
        };
    }

    /// The mute on a source, if one holds at `now`.
    pub fn muted(&self, site: &str, kind: &str, id: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Mute> {
        let mutes = self.mutes.read().unwrap_or_else(|p| p.into_inner());
        if mutes.is_empty() {
            return None;
        }
        mutes.get(&(site.to_string(), kind.to_string(), id.to_string())).filter(|m| m.until > now).cloned()
    }
}
