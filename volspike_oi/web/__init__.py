"""HTTP + WebSocket API, the existing backend's ingest routes, and the debug pages."""
