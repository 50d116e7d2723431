// generated from /openapi.json by `make types`; do not edit
// volspike-oi 0.1.0 (OpenAPI 3.1.0)

/** Every 4xx/5xx answer of the JSON API. */
export interface ApiError {
  /** What is wrong, for a person to read. */
  error: string;
  /**
   * The offending field as a path (`data[3].openInterest`, `limit`); `$` for the body as a whole.
   * Absent when no one field is to blame.
   */
  field?: string;
}

/**
 * One symbol's reading in an ingest batch. Members not listed here are ignored, so senders may add
 * their own (forward compatible).
 */
export interface OiIngestItem {
  [member: string]: unknown;
  /**
   * A USDT-M perpetual such as BTCUSDT or 币安人生USDT (upper-cased by the server): no whitespace or
   * control characters.
   */
  symbol: string;
  /** Open interest in contracts, ≥ 0. A JSON number or a decimal string ("123.45"). */
  openInterest: number | string;
  /**
   * openInterest × markPrice in USDT, ≥ 0; computed by the server when absent. A JSON number or a
   * decimal string ("123.45").
   */
  openInterestUsd?: number | string | null;
  /**
   * Mark price in USDT. An item without a price > 0 (absent, null, ≤ 0) is listed in `rejected`,
   * never stored as $0. A JSON number or a decimal string ("123.45").
   */
  markPrice?: number | string | null;
  /** Overrides the batch's source for this item. */
  source?: "realtime" | "snapshot" | "snapshot_legacy" | null;
}

/**
 * `POST /api/market/open-interest/ingest`: seed 000's 5-minute snapshot payload unchanged, or a
 * realtime batch (seed 001 §4.4, `source: "realtime"`). Members not listed here are ignored, so
 * senders may add their own (forward compatible).
 */
export interface LegacyOiSnapshotIngest {
  [member: string]: unknown;
  data: OiIngestItem[];
  /**
   * When the batch was read; every item is stored at this time (at the server's time if this is
   * more than 5 minutes ahead of it).
   */
  timestamp: string;
  /** How many symbols the sender tried (informational, echoed back). */
  totalSymbols?: number | null;
  /** Source of every item without its own; snapshot when absent or null. */
  source?: "realtime" | "snapshot" | "snapshot_legacy" | null;
}

/** A well-formed item that was not stored (bad price, unknown symbol, duplicate). */
export interface OiIngestRejection {
  /** Position of the item in `data`. */
  index: number;
  symbol: string;
  /** Why it was not stored. */
  reason: string;
}

export interface OiIngestResult {
  /** New rows stored. */
  stored: number;
  /** Accepted items already stored (same symbol, time and source): a re-posted batch. */
  duplicates: number;
  rejected: OiIngestRejection[];
  /** Items received: stored + duplicates + rejected. */
  received: number;
  /** The request's totalSymbols, or null. */
  totalSymbols: number | null;
}

/**
 * `POST /api/open-interest-alerts/ingest`: seed 001 §5.3's alert payload, with optional context
 * members. Members not listed here are ignored, so senders may add their own (forward compatible).
 */
export interface OiAlertIngest {
  [member: string]: unknown;
  /**
   * A USDT-M perpetual such as BTCUSDT or 币安人生USDT (upper-cased by the server): no whitespace or
   * control characters.
   */
  symbol: string;
  direction: "UP" | "DOWN";
  /**
   * Baseline open interest in contracts, > 0 (the change is relative to it). A JSON number or a
   * decimal string ("123.45").
   */
  baseline: number | string;
  /** Open interest in contracts now. A JSON number or a decimal string ("123.45"). */
  current: number | string;
  /**
   * (current − baseline) / baseline: 0.1 is +10 %. A JSON number or a decimal string ("123.45").
   */
  pctChange: number | string;
  /** current − baseline, in contracts. A JSON number or a decimal string ("123.45"). */
  absChange: number | string;
  /** When the alert fired (the server's time if more than 5 minutes ahead of it). */
  timestamp: string;
  /** Who raised it: 1–64 characters, no control characters; external when absent. */
  source?: string;
  /**
   * baseline valued at the baseline window's mark price, > 0; null when unknown. A JSON number or a
   * decimal string ("123.45").
   */
  baselineUsd?: number | string | null;
  /**
   * current valued at the mark price when it fired, > 0; null when unknown. A JSON number or a
   * decimal string ("123.45").
   */
  currentUsd?: number | string | null;
  /**
   * The mark price's move over the same window: 0.02 is +2 %. A JSON number or a decimal string
   * ("123.45").
   */
  markPriceChangePct?: number | string | null;
  /**
   * The baseline window started this many minutes before timestamp, > 0. A JSON number or a decimal
   * string ("123.45").
   */
  windowMinutes?: number | string | null;
}

export interface OiAlertIngestResult {
  stored: 1;
  alert: OiAlert;
}

/** `GET /api/market/open-interest`: seed 000's frontend cache, unchanged. */
export interface FrontendOpenInterest {
  /**
   * Symbol → open interest in USD. Only symbols with a fresh, non-zero USD value: a symbol without
   * a mark price is absent, never $0.
   */
  data: Record<string, number>;
  /** Time of the newest entry (now when there is none). */
  timestamp: string;
  /** timestamp + 300 s: entries older are left out. */
  cacheExpiry: string;
}

/** One venue-symbol's latest reading (REST `latest` and the WebSocket `oi` event). */
export interface OiSampleView {
  /** The venue's own symbol. */
  symbol: string;
  /**
   * Open interest as the venue reports it (contracts; USD for Deribit's inverse perpetuals). Never
   * add it across venues: use coin.
   */
  openInterest: number;
  /** USD value, or null without a fresh mark price. */
  openInterestUsd: number | null;
  /** Mark price, or null without a fresh one. */
  markPrice: number | null;
  /** When it was read. */
  sampleTime: string;
  /** The venue's own time of the reading. */
  exchangeTime: string;
  /** Seconds since sampleTime when this was served. */
  ageSeconds: number;
  /**
   * realtime: liquid symbols polled every few seconds; snapshot: the 5-minute coverage of every
   * perp; snapshot_legacy: posted by the legacy 5-minute script.
   */
  source: "realtime" | "snapshot" | "snapshot_legacy";
  /** The venue that reported it. */
  venue: "binance" | "bybit" | "okx" | "deribit" | "hyperliquid";
  /** Canonical asset (BTC; 1000PEPEUSDT is PEPE). */
  asset: string;
  /**
   * Open interest in units of the asset, comparable across venues (null only for an inverse
   * contract without a mark price).
   */
  coin: number | null;
}

/**
 * `GET /api/market/open-interest/latest`: every symbol with a reading younger than 300 s (realtime
 * preferred over snapshot).
 */
export interface LatestOpenInterest {
  /** By symbol. */
  data: OiSampleView[];
  /** Length of data. */
  count: number;
  /** When this was served. */
  timestamp: string;
}

export interface LiquidMember {
  symbol: string;
  /** 24h quote volume in USDT at the last classification. */
  quoteVolume24h: number;
  /** When it joined the liquid set. */
  enteredAt: string;
}

export interface UniverseThresholds {
  /** A symbol joins at this 24h quote volume (USDT) or more. */
  enterQuote24h: number;
  /** A liquid symbol leaves below this. */
  exitQuote24h: number;
}

/** Polling of liquid symbols; null fields before the first plan. */
export interface PollInterval {
  /** The interval seed 001 §4.2 asks for. */
  designSec: number | null;
  /** The interval the request budget allows. */
  plannedSec: number | null;
  /** Median gap between two polls of one symbol. */
  achievedSec: number | null;
  /** Interval of the non-liquid perps. */
  othersSec: number | null;
  /** False when the budget cannot give the design interval. */
  fitsBudget: boolean | null;
  note: string | null;
}

/** `GET /api/market/open-interest/liquid-universe` and the `universe` event. */
export interface LiquidUniverse {
  symbols: LiquidMember[];
  /** Liquid symbols. */
  count: number;
  /** Trading USDT-M perpetuals. */
  trackedCount: number;
  /** Joined at the last classification. */
  entered: string[];
  /** Left at the last classification. */
  exited: string[];
  thresholds: UniverseThresholds | null;
  interval: PollInterval;
  /** Last classification; null before the first. */
  updatedAt: string | null;
}

/**
 * One stored reading. Without a database only ts and openInterest are known (the alert engine's
 * in-memory history).
 */
export interface OiStoredSample {
  /** When it was read. */
  ts: string;
  /** Contracts. */
  openInterest: number;
  /** USD value. */
  openInterestUsd?: number | null;
  /** Mark price. */
  markPrice?: number | null;
  /**
   * realtime: liquid symbols polled every few seconds; snapshot: the 5-minute coverage of every
   * perp; snapshot_legacy: posted by the legacy 5-minute script.
   */
  source?: "realtime" | "snapshot" | "snapshot_legacy";
  /** The venue's own time of the reading. */
  exchangeTime?: string | null;
  /**
   * Open interest in units of the asset (after contract size and multipliers); null for rows stored
   * before venues were recorded.
   */
  coin?: number | null;
}

/** `GET /api/market/open-interest/samples`. */
export interface Samples {
  symbol: string;
  /** Length of samples. */
  count: number;
  /** Newest first. */
  samples: OiStoredSample[];
}

/**
 * Seed 001 §5.3's alert, plus the baseline's sample count and what a trader needs in USD: the
 * change, both levels and the mark price's own move over the same window.
 */
export interface OiAlert {
  symbol: string;
  direction: "UP" | "DOWN";
  /** Baseline open interest in contracts. */
  baseline: number;
  /** Open interest in contracts when it fired. */
  current: number;
  /** (current − baseline) / baseline: 0.1 is +10 %. */
  pctChange: number;
  /** current − baseline, in contracts. */
  absChange: number;
  /** When it fired. */
  timestamp: string;
  /** oi_realtime_poller, or the ingester's. */
  source: string;
  /** Samples the baseline was the median of (0: ingested). */
  baselineSamples: number;
  /** absChange in USD, when a mark price was known. */
  usdChange: number | null;
  /** baseline × the baseline window's median mark price; null when no price was known. */
  baselineUsd: number | null;
  /** current × the mark price when it fired; null without a fresh price. */
  currentUsd: number | null;
  /**
   * The mark price's own move over the same window (0.02 is +2 %): OI up with the price flat is new
   * positions, not a repricing. Null when either price is unknown.
   */
  markPriceChangePct: number | null;
  /**
   * The baseline is the median of the window that starts this many minutes before timestamp
   * (OI_BASELINE_FROM_MIN); null for an ingested alert without it.
   */
  windowMinutes: number | null;
  /**
   * The venue whose symbol moved, or "all": an asset's total across venues (symbol is then the
   * asset, baseline and current its coin summed over the venues in drivers).
   */
  venue: string;
  /** For venue "all": every venue summed, its own move, largest share of the change first. */
  drivers?: AlertDriver[];
}

/** `GET /api/open-interest-alerts`. */
export interface Alerts {
  /** Length of alerts. */
  count: number;
  /** Newest first. */
  alerts: OiAlert[];
}

/** One venue's feed as `/venues` reports it. */
export interface VenueView {
  venue: "binance" | "bybit" | "okx" | "deribit" | "hyperliquid";
  /**
   * streaming: the push channel delivers; polling: REST (Binance always; another venue while its
   * stream is down or stale); down: nothing within the staleness limit; starting; disabled: not in
   * OI_VENUES.
   */
  state: "starting" | "streaming" | "polling" | "down" | "disabled";
  /** A reading arrived within the venue's staleness limit. */
  healthy: boolean;
  /** Perpetuals tracked on this venue. */
  symbols: number;
  /**
   * Measured median seconds between two readings of one symbol (Binance: between two polls of a
   * liquid symbol); null before two have arrived.
   */
  cadenceSeconds: number | null;
  /** When the newest reading arrived. */
  lastUpdate: string | null;
  /** Seconds since lastUpdate. */
  ageSeconds: number | null;
  /** A venue without a reading for this long is unhealthy. */
  staleAfterSeconds: number;
  /** Readings received since the start. */
  updates: number;
  /** Failed calls, refusals and dropped streams since the start. */
  errors: number;
  /** The newest error. */
  lastError: string | null;
  /** Whether the push channel is subscribed (null for Binance: no OI stream exists). */
  streamConnected: boolean | null;
  /** Stream reconnections since the start. */
  reconnects: number;
  /** Until when the venue refuses our requests (nothing is sent before). */
  rateLimitedUntil: string | null;
}

/** `GET /api/market/open-interest/venues`: every venue, its state and measured cadence. */
export interface Venues {
  venues: VenueView[];
  /** When this was served. */
  timestamp: string;
}

/** One asset summed over its fresh venues (`/assets` and the `assets` WebSocket event). */
export interface AssetSummary {
  /** Canonical asset: BTC, ETH, PEPE. */
  asset: string;
  /** Open interest in units of the asset, summed over the fresh venues. */
  coin: number;
  /** Σ of each fresh venue's coin × that venue's own mark price. */
  usd: number;
  /** Venues counted in the sums. */
  venues: number;
  /** Venues listing the asset whose reading is too old: left out. */
  stale: ("binance" | "bybit" | "okx" | "deribit" | "hyperliquid")[];
  /**
   * Total coin now against the total an hour ago (0.02 is +2 %); null before an hour of totals.
   * Venues that joined or left in between move it: see /assets/{asset}.
   */
  change1hPct: number | null;
  /** When this total was computed. */
  timestamp: string;
}

/** `GET /api/market/open-interest/assets`: every asset, largest total USD first. */
export interface Assets {
  assets: AssetSummary[];
  /** Length of assets. */
  count: number;
  /** When this was served. */
  timestamp: string;
}

/** One venue's part of an asset's total. */
export interface AssetVenue {
  venue: "binance" | "bybit" | "okx" | "deribit" | "hyperliquid";
  /** This venue's OI in units of the asset. */
  coin: number;
  /** coin × this venue's mark price; null without one. */
  usd: number | null;
  /** This venue's part of the total USD (0..1; shares sum to 1). */
  share: number | null;
  /** Age of its oldest reading of the asset. */
  ageSeconds: number;
  /** The venue's symbols of the asset. */
  symbols: string[];
}

export interface AssetPoint {
  ts: string;
  coin: number;
  usd: number;
}

/**
 * `GET /api/market/open-interest/assets/{asset}`: the per-venue breakdown and the last hour of
 * totals.
 */
export interface AssetDetail {
  asset: string;
  /** Σ coin over the fresh venues. */
  coin: number;
  /** Σ USD over the fresh venues. */
  usd: number;
  /** Largest USD first. */
  venues: AssetVenue[];
  /** Venues whose reading of the asset is too old: not in the sums. */
  stale: ("binance" | "bybit" | "okx" | "deribit" | "hyperliquid")[];
  /** Tracked venues with no reading of the asset (it does not list it). */
  missing: ("binance" | "bybit" | "okx" | "deribit" | "hyperliquid")[];
  /** The total every 10 s over the last hour, oldest first. */
  history: AssetPoint[];
  /** When this was served. */
  timestamp: string;
}

/** One venue's own move within an aggregate alert, in coin of the asset. */
export interface AlertDriver {
  venue: "binance" | "bybit" | "okx" | "deribit" | "hyperliquid";
  /** Median coin of its baseline window. */
  baseline: number;
  /** Its coin when the alert fired. */
  current: number;
  /** Its own move. */
  pctChange: number;
  /** Its part of the total's change (negative: it moved against the total). */
  shareOfChange: number | null;
}

export interface ActorHealth {
  state: "starting" | "running" | "restarting" | "stopped" | "disabled";
  /** The service is down while it is. */
  critical: boolean;
  /** Restarts since start. */
  restarts: number;
  lastError: string | null;
  /**
   * When the actor last did its job (a poll, a write, a classification …); null before the first
   * time or for actors without a single kind of success.
   */
  lastSuccessAt: string | null;
}

export interface StoreHealth {
  /** Samples waiting for the database. */
  buffered: number;
  /** Samples dropped while the database was down too long. */
  dropped: number;
  /** Last successful write. */
  lastWriteAt: string | null;
  /** When the database went down; null while it is up. */
  downSince: string | null;
}

export interface BudgetHealth {
  /** Seconds Binance requests are held after a 429/418. */
  holdSeconds: number;
  /** Weight Binance last reported for this minute. */
  serverWeight: number;
  /** Binance's weight limit per minute. */
  weightLimit: number;
}

export interface HealthReason {
  /** What is wrong: critical_actor_down makes the status down, every other code degraded. */
  code: "critical_actor_down" | "actor_down" | "binance_ban" | "binance_firewall" | "rate_limited" | "exchange_unreachable" | "no_poll_for" | "store_unavailable" | "mark_prices_stale" | "venue_unavailable";
  /** The same, for a person to read. */
  detail: string;
  /** Since when it holds, when known. */
  since?: string;
  /** When it is expected to end (a Binance ban's end), when known. */
  until?: string;
}

/**
 * `GET /health`: "down" (503) when a critical actor is not running; "degraded" (200) when anything
 * else is wrong (a Binance ban or firewall, no OI poll for 2 intervals, the database down, stale
 * mark prices …); each is listed in `reasons`.
 */
export interface Health {
  status: "ok" | "degraded" | "down";
  /** Critical actors that are not running. */
  down: string[];
  /** Why the status is not ok; empty when it is. */
  reasons: HealthReason[];
  /** Actor name → its health. */
  actors: Record<string, ActorHealth>;
  /** Latest open interest poll. */
  lastPollAt: string | null;
  store: StoreHealth | null;
  budget: BudgetHealth;
  /** The last status log line. */
  status_line: string;
}

/** Binance errors per minute, by kind. */
export interface StatusErrorsPerMinute {
  "429": number;
  "418": number;
  "5xx": number;
  timeout: number;
  transport: number;
  malformed: number;
}

export interface StatusStore {
  /** Samples waiting for the database. */
  buffered: number;
  /** Samples dropped. */
  dropped: number;
  /** Seconds the database has been down. */
  down_s: number | null;
}

/** The figures of the last status line; empty before the first one. */
export interface StatusFigures {
  /** Tracked perps. */
  tracked?: number;
  /** Liquid symbols. */
  liquid?: number;
  /** Planned interval. */
  interval_s?: number | null;
  /** Design interval. */
  design_interval_s?: number | null;
  /** Achieved interval. */
  achieved_interval_s?: number | null;
  interval_fits?: boolean | null;
  /** Interval of the other perps. */
  other_interval_s?: number | null;
  /** Open interest polls per minute. */
  oi_polls_per_min?: number;
  /** Request weight spent per minute. */
  weight_per_min?: number;
  /** Weight Binance last reported. */
  server_weight?: number;
  /** Binance's weight limit per minute. */
  weight_limit?: number;
  /** Planned open interest polls per minute. */
  oi_rate_per_min?: number;
  errors_per_min?: StatusErrorsPerMinute;
  /** Alerts per minute. */
  alerts_per_min?: number;
  /** Symbols with a fresh mark price. */
  fresh_marks?: number;
  mark_source?: "stream" | "rest-fallback";
  /** Seconds requests are held. */
  hold_s?: number;
  store?: StatusStore | null;
}

/** `GET /debug/status`: what the debug page shows. */
export interface DebugStatus {
  status: StatusFigures;
  /** The last status log line. */
  line: string;
  /** Counter name → value since start. */
  metrics: Record<string, number>;
  /** Connected WebSocket clients. */
  wsClients: number;
}

/** Replaces the connection's subscription; answered by `subscribed`. */
export interface WsSubscribe {
  op: "subscribe";
  /** Channels to receive; all when absent. */
  channels?: ("alerts" | "assets" | "oi" | "universe")[];
  /** Symbols to receive (oi and alerts); all when absent or null. */
  symbols?: string[] | null;
  /** Venues whose oi rows to receive; binance only when absent. */
  venues?: ("binance" | "bybit" | "okx" | "deribit" | "hyperliquid")[];
}

/** Answered by `pong`. */
export interface WsPing {
  op: "ping";
}

/** A message a client sends on /ws. */
export type WsClientOp = WsSubscribe | WsPing;

/** Channel oi: the readings of one batch (every 0.25 s), filtered by symbols. */
export interface WsOiEvent {
  event: "oi";
  data: OiSampleView[];
}

/** Channel alerts: one alert as it fires. */
export interface WsAlertEvent {
  event: "open_interest_alert";
  data: OiAlert;
}

/** Channel universe: the liquid universe, whenever a symbol enters or exits. */
export interface WsUniverseEvent {
  event: "universe";
  data: LiquidUniverse;
}

/**
 * Channel assets (only when subscribed): the totals of the assets that changed in the last second,
 * each summed over its fresh venues.
 */
export interface WsAssetsEvent {
  event: "asset_totals";
  data: AssetSummary[];
}

/** Sent to every client every 15 s. */
export interface WsHeartbeatEvent {
  event: "heartbeat";
  /** Server time. */
  timestamp: string;
}

/** The subscription now in force. */
export interface WsSubscribedEvent {
  event: "subscribed";
  channels: ("alerts" | "assets" | "oi" | "universe")[];
  symbols: string[] | null;
  /** Venues whose oi rows are sent (binance until a subscribe names any). */
  venues: ("binance" | "bybit" | "okx" | "deribit" | "hyperliquid")[];
}

/** The answer to a ping. */
export interface WsPongEvent {
  event: "pong";
}

/** A client message was refused; the subscription is unchanged. */
export interface WsErrorEvent {
  event: "error";
  field?: "channels" | "symbols" | "venues";
  error: string;
}

/** A message the server sends on /ws (JSON text frames). */
export type WsServerEvent =
  | WsOiEvent
  | WsAlertEvent
  | WsUniverseEvent
  | WsAssetsEvent
  | WsHeartbeatEvent
  | WsSubscribedEvent
  | WsPongEvent
  | WsErrorEvent;

/** Every HTTP route (`METHOD /path`): query parameters, JSON body, responses by status. */
export interface Endpoints {
  /** Store a batch of open interest readings (legacy snapshot or realtime). */
  "POST /api/market/open-interest/ingest": {
    body: LegacyOiSnapshotIngest;
    responses: {
      200: OiIngestResult;
      400: ApiError;
      401: ApiError;
      413: ApiError;
      503: ApiError;
    };
  };
  /** Store an open interest spike/dump alert and push it to clients. */
  "POST /api/open-interest-alerts/ingest": {
    body: OiAlertIngest;
    responses: {
      200: OiAlertIngestResult;
      400: ApiError;
      401: ApiError;
      413: ApiError;
      503: ApiError;
    };
  };
  /** USD open interest of every symbol, as the frontend reads it. */
  "GET /api/market/open-interest": {
    responses: {
      200: FrontendOpenInterest;
    };
  };
  /** The latest reading of every symbol (or of one), with prices, times and source. */
  "GET /api/market/open-interest/latest": {
    query: {
      /** The venue (binance when absent, as before there were venues). */
      venue?: "binance" | "bybit" | "okx" | "deribit" | "hyperliquid";
      /**
       * Only this symbol (the venue's own name): `data` holds its fresh reading, or nothing while
       * it has none; an unknown symbol is a 404.
       */
      symbol?: string;
    };
    responses: {
      200: LatestOpenInterest;
      400: ApiError;
      404: ApiError;
    };
  };
  /** Every venue: state, symbols, measured update cadence, last update, errors. */
  "GET /api/market/open-interest/venues": {
    responses: {
      200: Venues;
    };
  };
  /** Every asset summed across its fresh venues (coin and USD), largest first. */
  "GET /api/market/open-interest/assets": {
    responses: {
      200: Assets;
    };
  };
  /** One asset: each venue's coin, USD and share, stale venues, the last hour. */
  "GET /api/market/open-interest/assets/{asset}": {
    path: {
      /** The canonical asset, e.g. BTC (any case). */
      asset: string;
    };
    responses: {
      200: AssetDetail;
      400: ApiError;
      404: ApiError;
    };
  };
  /** The liquid symbols polled in realtime, thresholds and intervals. */
  "GET /api/market/open-interest/liquid-universe": {
    responses: {
      200: LiquidUniverse;
    };
  };
  /** Recent readings of one symbol, newest first. */
  "GET /api/market/open-interest/samples": {
    query: {
      /** The venue (binance when absent, as before there were venues). */
      venue?: "binance" | "bybit" | "okx" | "deribit" | "hyperliquid";
      /** The venue's symbol, e.g. BTCUSDT (binance), BTC-USDT-SWAP (okx). */
      symbol: string;
      /** How many rows (default 100); larger values are served as 5000. */
      limit?: number;
      /**
       * Only readings from this time on: epoch milliseconds (1764592496000) or ISO 8601
       * (2025-12-01T12:34:56Z; UTC when no offset).
       */
      since?: string;
    };
    responses: {
      200: Samples;
      400: ApiError;
      404: ApiError;
      503: ApiError;
    };
  };
  /** Recent open interest alerts, newest first. */
  "GET /api/open-interest-alerts": {
    query: {
      /** Only this symbol's alerts. */
      symbol?: string;
      /** How many rows (default 50); larger values are served as 1000. */
      limit?: number;
    };
    responses: {
      200: Alerts;
      400: ApiError;
      503: ApiError;
    };
  };
  /**
   * Actors, store, request budget and the reasons the service is degraded or down; 503 when a
   * critical actor is down.
   */
  "GET /health": {
    responses: {
      200: Health;
      503: Health;
    };
  };
  /** Prometheus text exposition. */
  "GET /metrics": {
    responses: {
      200: string;
    };
  };
  /** This document. */
  "GET /openapi.json": {
    responses: {
      200: Record<string, unknown>;
    };
  };
  /** The debug page (HTML). */
  "GET /debug/open-interest": {
    responses: {
      200: string;
    };
  };
  /** Status figures, counters and WebSocket clients for the debug page. */
  "GET /debug/status": {
    responses: {
      200: DebugStatus;
    };
  };
}
