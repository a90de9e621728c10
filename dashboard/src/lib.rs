//! Control-room dashboard: event store, REST + WebSocket API, web UI. Arrives with issue 4.
