// A small typed client of the volspike-oi API, as the Next.js frontend would write one. It is
// compiled with `tsc --strict` by `make test` (tests/web/test_typescript.py), so a change of
// the generated declarations that would break such a client fails the suite. It names every
// exported type at least once (the test checks that too).

import type {
  ActorHealth,
  AlertDriver,
  AssetDetail,
  AssetPoint,
  Assets,
  AssetSummary,
  AssetVenue,
  Alerts,
  ApiError,
  BudgetHealth,
  DebugStatus,
  Endpoints,
  FrontendOpenInterest,
  Health,
  HealthReason,
  LatestOpenInterest,
  LegacyOiSnapshotIngest,
  LiquidMember,
  LiquidUniverse,
  OiAlert,
  OiAlertIngest,
  OiAlertIngestResult,
  OiIngestItem,
  OiIngestRejection,
  OiIngestResult,
  OiSampleView,
  OiStoredSample,
  PollInterval,
  Samples,
  StatusErrorsPerMinute,
  StatusFigures,
  StatusStore,
  StoreHealth,
  UniverseThresholds,
  Venues,
  VenueView,
  WsAlertEvent,
  WsAssetsEvent,
  WsClientOp,
  WsErrorEvent,
  WsHeartbeatEvent,
  WsOiEvent,
  WsPing,
  WsPongEvent,
  WsServerEvent,
  WsSubscribe,
  WsSubscribedEvent,
  WsUniverseEvent,
} from "../volspike-oi";

type Route = keyof Endpoints;
type Query<K extends Route> = Endpoints[K] extends { query: infer Q } ? Q : undefined;
type PathParams<K extends Route> = Endpoints[K] extends { path: infer P } ? P : undefined;
type Body<K extends Route> = Endpoints[K] extends { body: infer B } ? B : undefined;
type Responses<K extends Route> = Endpoints[K]["responses"];
/** One answer of route K: its status narrows its body. */
export type Answer<K extends Route> = {
  [S in keyof Responses<K>]: { status: S; body: Responses<K>[S] };
}[keyof Responses<K>];

export interface Call<K extends Route> {
  path?: PathParams<K>;
  query?: Query<K>;
  body?: Body<K>;
  apiKey?: string;
}

export async function call<K extends Route>(
  base: string,
  route: K,
  options: Call<K> = {},
): Promise<Answer<K>> {
  const [method, template] = route.split(" ") as [string, string];
  const params: Record<string, unknown> = options.path ?? {};
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent(String(params[name])),
  );
  const url = new URL(path, base);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.apiKey !== undefined) headers["X-API-Key"] = options.apiKey;
  const init: RequestInit = { method, headers };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(url, init);
  const type = response.headers.get("content-type") ?? "";
  const body: unknown = type.startsWith("application/json")
    ? await response.json()
    : await response.text();
  return { status: response.status, body } as Answer<K>;
}

function failure(error: ApiError): string {
  return error.field === undefined ? error.error : `${error.field}: ${error.error}`;
}

// -- ingest ------------------------------------------------------------------------------------

export async function postSnapshot(base: string, apiKey: string, items: OiIngestItem[]) {
  const body: LegacyOiSnapshotIngest = {
    data: items,
    timestamp: new Date().toISOString(),
    totalSymbols: items.length,
  };
  const answer = await call(base, "POST /api/market/open-interest/ingest", { body, apiKey });
  if (answer.status !== 200) throw new Error(failure(answer.body));
  const result: OiIngestResult = answer.body;
  const rejected: OiIngestRejection[] = result.rejected;
  return { stored: result.stored, rejected: rejected.map((r) => `${r.symbol}: ${r.reason}`) };
}

export async function postAlert(base: string, apiKey: string, alert: OiAlertIngest) {
  const answer = await call(base, "POST /api/open-interest-alerts/ingest", { body: alert, apiKey });
  if (answer.status !== 200) throw new Error(failure(answer.body));
  const result: OiAlertIngestResult = answer.body;
  const stored: OiAlert = result.alert;
  return stored;
}

// -- reads -------------------------------------------------------------------------------------

export async function usdBySymbol(base: string): Promise<Map<string, number>> {
  const answer = await call(base, "GET /api/market/open-interest");
  const cache: FrontendOpenInterest = answer.body;
  return new Map(Object.entries(cache.data));
}

export async function latest(base: string): Promise<OiSampleView[]> {
  const answer = await call(base, "GET /api/market/open-interest/latest");
  if (answer.status !== 200) throw new Error(`latest: HTTP ${answer.status}`);
  const body: LatestOpenInterest = answer.body;
  return body.data;
}

export async function liquidUniverse(base: string) {
  const answer = await call(base, "GET /api/market/open-interest/liquid-universe");
  const universe: LiquidUniverse = answer.body;
  const members: LiquidMember[] = universe.symbols;
  const thresholds: UniverseThresholds | null = universe.thresholds;
  const interval: PollInterval = universe.interval;
  return { symbols: members.map((m) => m.symbol), thresholds, plannedSec: interval.plannedSec };
}

export async function history(base: string, symbol: string): Promise<OiStoredSample[]> {
  const answer = await call(base, "GET /api/market/open-interest/samples", {
    query: { symbol, limit: 100 },
  });
  if (answer.status !== 200) throw new Error(failure(answer.body as ApiError));
  const samples: Samples = answer.body;
  return samples.samples;
}

/** Each healthy venue's BTC reading in USD: the venue's own symbol, never summed contracts. */
export async function venuesAndBtc(base: string) {
  const answer = await call(base, "GET /api/market/open-interest/venues");
  const venues: Venues = answer.body;
  const healthy: VenueView[] = venues.venues.filter((v) => v.healthy);
  const btc: Record<string, number | null> = {};
  for (const v of healthy) {
    const latest = await call(base, "GET /api/market/open-interest/latest", {
      query: { venue: v.venue },
    });
    if (latest.status !== 200) continue;
    const row = latest.body.data.find((r: OiSampleView) => r.asset === "BTC");
    btc[v.venue] = row === undefined ? null : row.openInterestUsd;
  }
  return btc;
}

/** Where an asset's open interest sits across venues, and the venues behind its last alert. */
export async function assetAcrossVenues(base: string, asset: string) {
  const list = await call(base, "GET /api/market/open-interest/assets");
  const assets: Assets = list.body;
  const largest: AssetSummary[] = assets.assets.slice(0, 10);
  const answer = await call(base, "GET /api/market/open-interest/assets/{asset}", {
    path: { asset },
  });
  if (answer.status !== 200) throw new Error(failure(answer.body as ApiError));
  const detail: AssetDetail = answer.body;
  const parts: AssetVenue[] = detail.venues;
  const hour: AssetPoint[] = detail.history;
  const alerts = await call(base, "GET /api/open-interest-alerts", { query: { symbol: asset } });
  if (alerts.status !== 200) throw new Error(failure(alerts.body as ApiError));
  const drivers: AlertDriver[] = alerts.body.alerts.flatMap((a: OiAlert) => a.drivers ?? []);
  return { largest, shares: parts.map((p) => [p.venue, p.share]), points: hour.length, drivers };
}

export async function recentAlerts(base: string, symbol?: string): Promise<OiAlert[]> {
  const query: Query<"GET /api/open-interest-alerts"> =
    symbol === undefined ? { limit: 20 } : { symbol, limit: 20 };
  const answer = await call(base, "GET /api/open-interest-alerts", { query });
  if (answer.status !== 200) throw new Error(failure(answer.body as ApiError));
  const alerts: Alerts = answer.body;
  return alerts.alerts;
}

// -- operations --------------------------------------------------------------------------------

export async function health(base: string) {
  const answer = await call(base, "GET /health");
  const body: Health = answer.body;
  const actors: [string, ActorHealth][] = Object.entries(body.actors);
  const store: StoreHealth | null = body.store;
  const budget: BudgetHealth = body.budget;
  const ban: HealthReason | undefined = body.reasons.find((r) => r.code === "binance_ban");
  return {
    status: body.status,
    reasons: body.reasons.map((r) => r.code),
    bannedUntil: ban?.until ?? null,
    down: actors.filter(([, a]) => a.critical && a.state !== "running").map(([n]) => n),
    buffered: store?.buffered ?? 0,
    holdSeconds: budget.holdSeconds,
  };
}

export async function debugStatus(base: string) {
  const answer = await call(base, "GET /debug/status");
  const debug: DebugStatus = answer.body;
  const figures: StatusFigures | Record<string, never> = debug.status;
  if (!("errors_per_min" in figures)) return null;
  const errors: StatusErrorsPerMinute = figures.errors_per_min;
  const store: StatusStore | null = figures.store ?? null;
  return { errors, store };
}

export async function metricsText(base: string): Promise<string> {
  const answer = await call(base, "GET /metrics");
  return answer.body;
}

// -- the live feed -----------------------------------------------------------------------------

export interface Handlers {
  oi?: (event: WsOiEvent) => void;
  alert?: (event: WsAlertEvent) => void;
  universe?: (event: WsUniverseEvent) => void;
  assets?: (event: WsAssetsEvent) => void;
  heartbeat?: (event: WsHeartbeatEvent) => void;
  subscribed?: (event: WsSubscribedEvent) => void;
  pong?: (event: WsPongEvent) => void;
  error?: (event: WsErrorEvent) => void;
}

export function follow(base: string, symbols: string[] | null, on: Handlers): WebSocket {
  const socket = new WebSocket(new URL("/ws", base.replace(/^http/, "ws")));
  socket.onopen = () => {
    const subscribe: WsSubscribe = { op: "subscribe", channels: ["oi", "alerts"], symbols };
    const ping: WsPing = { op: "ping" };
    const ops: WsClientOp[] = [subscribe, ping];
    for (const op of ops) socket.send(JSON.stringify(op));
  };
  socket.onmessage = (message: MessageEvent<string>) => {
    const event = JSON.parse(message.data) as WsServerEvent;
    switch (event.event) {
      case "oi":
        on.oi?.(event);
        break;
      case "open_interest_alert":
        on.alert?.(event);
        break;
      case "universe":
        on.universe?.(event);
        break;
      case "asset_totals":
        on.assets?.(event);
        break;
      case "heartbeat":
        on.heartbeat?.(event);
        break;
      case "subscribed":
        on.subscribed?.(event);
        break;
      case "pong":
        on.pong?.(event);
        break;
      case "error":
        on.error?.(event);
        break;
      default: {
        const never: never = event;
        throw new Error(`unknown event ${JSON.stringify(never)}`);
      }
    }
  };
  return socket;
}
