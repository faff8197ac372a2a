// bench/profile.ts
import { parseArgs } from "node:util";
import { Agent, interceptors, request } from "undici";

// src/core/agent.ts
import { Dispatcher, Pool } from "undici";

// src/attempt/legacy-handler.ts
function isModernHandler(handler) {
  return typeof handler.onRequestStart === "function" || typeof handler.onHeaders !== "function";
}
var LegacyHandlerAdapter = class {
  /**
   * @param handler - the undici 6/7 handler
   */
  constructor(handler) {
    this.handler = handler;
  }
  handler;
  onRequestStart(controller, context) {
    this.handler.onConnect?.((reason) => controller.abort(toError(reason)), context);
  }
  onRequestUpgrade(controller, statusCode, headers, socket) {
    this.handler.onUpgrade?.(statusCode, rawHeaders(controller.rawHeaders, headers), socket);
  }
  onResponseStarted() {
    this.handler.onResponseStarted?.();
  }
  onResponseStart(controller, statusCode, headers, statusMessage) {
    const keepGoing = this.handler.onHeaders?.(statusCode, rawHeaders(controller.rawHeaders, headers), () => controller.resume(), statusMessage ?? "");
    if (keepGoing === false) controller.pause();
  }
  onResponseData(controller, chunk) {
    if (this.handler.onData?.(chunk) === false) controller.pause();
  }
  onResponseEnd(controller, trailers) {
    this.handler.onComplete?.(rawHeaders(controller.rawTrailers, trailers));
  }
  onResponseError(_controller, err) {
    this.handler.onError?.(err);
  }
  onBodySent(chunk) {
    this.handler.onBodySent?.(chunk);
  }
  onRequestSent() {
    this.handler.onRequestSent?.();
  }
};
function rawHeaders(raw, parsed) {
  if (Array.isArray(raw)) return raw.map((v) => Buffer.isBuffer(v) ? v : Buffer.from(String(v), "latin1"));
  const out = [];
  for (const [k, v] of Object.entries(parsed ?? {})) {
    if (v === void 0) continue;
    for (const item of Array.isArray(v) ? v : [v]) out.push(Buffer.from(k, "latin1"), Buffer.from(item, "latin1"));
  }
  return out;
}
function toError(reason) {
  return reason instanceof Error ? reason : new DOMException("The operation was aborted.", "AbortError");
}

// src/utils/validate.ts
function checkNumber(name, value, min, max, opts = {}) {
  if (value === void 0) return;
  const what = `${opts.integer ? "an integer" : "a number"}${opts.unit ? ` of ${opts.unit}` : ""} from ${min} to ${max === Infinity ? "Infinity" : max}`;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`ridethrough: option "${name}" must be ${what}, got ${describe(value)}`);
  }
  if (value < min || value > max || opts.integer && !Number.isInteger(value) && value !== Infinity) {
    throw new RangeError(`ridethrough: option "${name}" must be ${what}, got ${value}`);
  }
}
function checkOneOf(name, value, allowed) {
  if (value === void 0) return;
  if (!allowed.includes(value)) {
    const ErrorClass = allowed.some((a) => typeof a === typeof value) ? RangeError : TypeError;
    throw new ErrorClass(`ridethrough: option "${name}" must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${describe(value)}`);
  }
}
function checkBoolean(name, value) {
  if (value === void 0 || typeof value === "boolean") return;
  throw new TypeError(`ridethrough: option "${name}" must be a boolean, got ${describe(value)}`);
}
function checkObject(name, value) {
  if (value === void 0) return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`ridethrough: option "${name}" must be an object, got ${describe(value)}`);
  }
}
function checkArray(name, value, item, itemWhat) {
  if (value === void 0) return;
  if (!Array.isArray(value) || !value.every(item)) {
    throw new TypeError(`ridethrough: option "${name}" must be an array of ${itemWhat}, got ${describe(value)}`);
  }
}
function checkKnownKeys(name, value, known) {
  if (!value) return;
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`ridethrough: unknown option "${name ? `${name}.` : ""}${key}"; known options are ${known.join(", ")}`);
    }
  }
}
function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array (${JSON.stringify(value).slice(0, 60)})`;
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

// src/health/retry-budget.ts
var budgetDefaults = { ratio: 0.2, minPerSecond: 10, window: 1e4 };
var buckets = 10;
var RetryBudget = class {
  ratio;
  floor;
  bucketMs;
  requests = new Float64Array(buckets);
  retries = new Float64Array(buckets);
  current = 0;
  currentStart = 0;
  /** Retries refused since creation. */
  refused = 0;
  /**
   * @param options - ratio, floor and window (validated by the caller)
   */
  constructor(options) {
    this.ratio = options.ratio;
    this.floor = options.minPerSecond * (options.window / 1e3);
    this.bucketMs = options.window / buckets;
  }
  /** Counts a request (first attempt) sent. */
  deposit(now = Date.now()) {
    this.roll(now);
    this.requests[this.current] += 1;
  }
  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryWithdraw(now = Date.now()) {
    this.roll(now);
    if (this.sum(this.retries) + 1 > this.ratio * this.sum(this.requests) + this.floor) {
      this.refused++;
      return false;
    }
    this.retries[this.current] += 1;
    return true;
  }
  /** Retries still available now. */
  available(now = Date.now()) {
    this.roll(now);
    return Math.max(0, Math.floor(this.ratio * this.sum(this.requests) + this.floor - this.sum(this.retries)));
  }
  sum(a) {
    let s = 0;
    for (let i = 0; i < buckets; i++) s += a[i];
    return s;
  }
  roll(now) {
    if (this.currentStart === 0) {
      this.currentStart = now;
      return;
    }
    let steps = Math.floor((now - this.currentStart) / this.bucketMs);
    if (steps <= 0) return;
    if (steps > buckets) steps = buckets;
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % buckets;
      this.requests[this.current] = 0;
      this.retries[this.current] = 0;
    }
    this.currentStart += Math.floor((now - this.currentStart) / this.bucketMs) * this.bucketMs;
  }
};

// src/resolve/dns-options.ts
import { isIP } from "node:net";
var dnsDefaults = {
  maxTtl: 5e3,
  minTtl: 500,
  staleTtl: 6e4,
  negativeTtl: 1e3,
  reResolveInterval: 500,
  timeout: 500,
  tries: 2,
  family: 0,
  maxHosts: 1e3,
  resolvConf: "/etc/resolv.conf",
  hostsFile: "/etc/hosts"
};
var day = 864e5;
function validateDnsOptions(dns) {
  if (dns === void 0) return;
  checkObject("dns", dns);
  checkKnownKeys("dns", dns, ["servers", "maxTtl", "minTtl", "staleTtl", "negativeTtl", "reResolveInterval", "timeout", "tries", "family", "maxHosts", "search", "ndots", "resolvConf", "hostsFile"]);
  checkArray("dns.servers", dns.servers, isServer, 'IP addresses with an optional port ("127.0.0.1:5353", "[::1]:53")');
  checkNumber("dns.maxTtl", dns.maxTtl, 0, day, { unit: "milliseconds" });
  checkNumber("dns.minTtl", dns.minTtl, 0, day, { unit: "milliseconds" });
  if ((dns.minTtl ?? dnsDefaults.minTtl) > (dns.maxTtl ?? dnsDefaults.maxTtl)) {
    throw new RangeError(`ridethrough: option "dns.minTtl" must be at most dns.maxTtl (${dns.maxTtl ?? dnsDefaults.maxTtl}), got ${dns.minTtl ?? dnsDefaults.minTtl}`);
  }
  checkNumber("dns.staleTtl", dns.staleTtl, 0, day, { unit: "milliseconds" });
  checkNumber("dns.negativeTtl", dns.negativeTtl, 0, day, { unit: "milliseconds" });
  checkNumber("dns.reResolveInterval", dns.reResolveInterval, 0, 6e4, { unit: "milliseconds" });
  checkNumber("dns.timeout", dns.timeout, 1, 6e4, { unit: "milliseconds" });
  checkNumber("dns.tries", dns.tries, 1, 10, { integer: true });
  checkOneOf("dns.family", dns.family, [0, 4, 6]);
  checkNumber("dns.maxHosts", dns.maxHosts, 1, 1e6, { integer: true });
  checkArray("dns.search", dns.search, (s) => typeof s === "string" && s.length > 0, "domain names");
  checkNumber("dns.ndots", dns.ndots, 0, 15, { integer: true });
  if (dns.resolvConf !== void 0 && typeof dns.resolvConf !== "string") {
    throw new TypeError('ridethrough: option "dns.resolvConf" must be a file path string');
  }
  if (dns.hostsFile !== void 0 && dns.hostsFile !== false && typeof dns.hostsFile !== "string") {
    throw new TypeError('ridethrough: option "dns.hostsFile" must be a file path string or false');
  }
}
function isServer(value) {
  if (typeof value !== "string") return false;
  if (isIP(value)) return true;
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value);
  if (v6) return isIP(v6[1]) === 6 && Number(v6[2]) <= 65535;
  const v4 = /^([^:]+):(\d{1,5})$/.exec(value);
  return v4 !== null && isIP(v4[1]) === 4 && Number(v4[2]) <= 65535;
}

// src/core/options.ts
var defaults = {
  deadline: 1e4,
  maxAttempts: 25,
  connectTimeout: 1e3,
  attemptTimeout: 5e3,
  bodyTimeout: 3e4,
  backoff: { jitter: "full", base: 25, cap: 1e3 },
  retryStatuses: [502, 503, 504],
  maxRetryAfter: 5e3,
  ejection: { baseTime: 1e4, maxTime: 12e4, maxPercent: 50, consecutiveFailures: 5 },
  keepAliveTimeout: 4e3,
  breaker: { mode: "consecutive", threshold: 5, halfOpenAfter: 5e3 },
  budget: budgetDefaults,
  balancer: "p2c",
  maxConnectionAge: 6e4
};
var topKeys = ["deadline", "maxAttempts", "connectTimeout", "attemptTimeout", "bodyTimeout", "backoff", "retryStatuses", "maxRetryAfter", "dns", "ejection", "keepAliveTimeout", "connectionsPerEndpoint", "tls", "breaker", "budget", "hedge", "balancer", "maxConnectionAge"];
function resolveOptions(options = {}) {
  checkObject("options", options);
  checkKnownKeys("", options, topKeys);
  checkNumber("deadline", options.deadline, 1, 36e5, { unit: "milliseconds" });
  checkNumber("maxAttempts", options.maxAttempts, 1, 1e3, { integer: true });
  checkNumber("connectTimeout", options.connectTimeout, 1, 6e5, { unit: "milliseconds" });
  checkNumber("attemptTimeout", options.attemptTimeout, 1, 36e5, { unit: "milliseconds" });
  checkNumber("bodyTimeout", options.bodyTimeout, 0, 36e5, { unit: "milliseconds" });
  checkObject("backoff", options.backoff);
  checkKnownKeys("backoff", options.backoff, ["jitter", "base", "cap"]);
  checkOneOf("backoff.jitter", options.backoff?.jitter, ["full", "decorrelated"]);
  checkNumber("backoff.base", options.backoff?.base, 1, 6e4, { unit: "milliseconds" });
  checkNumber("backoff.cap", options.backoff?.cap, 1, 6e4, { unit: "milliseconds" });
  const backoff = { ...defaults.backoff, ...options.backoff };
  if (backoff.cap < backoff.base) {
    throw new RangeError(`ridethrough: option "backoff.cap" must be at least backoff.base (${backoff.base}), got ${backoff.cap}`);
  }
  checkArray("retryStatuses", options.retryStatuses, (s) => typeof s === "number" && !Number.isNaN(s), "integer HTTP statuses from 400 to 599");
  for (const s of options.retryStatuses ?? []) {
    if (!Number.isInteger(s) || s < 400 || s > 599) {
      throw new RangeError(`ridethrough: option "retryStatuses" must be an array of integer HTTP statuses from 400 to 599, got ${s}`);
    }
  }
  checkNumber("maxRetryAfter", options.maxRetryAfter, 0, 36e5, { unit: "milliseconds" });
  validateDnsOptions(options.dns);
  checkObject("ejection", options.ejection);
  checkKnownKeys("ejection", options.ejection, ["baseTime", "maxTime", "maxPercent", "consecutiveFailures"]);
  checkNumber("ejection.baseTime", options.ejection?.baseTime, 100, 36e5, { unit: "milliseconds" });
  checkNumber("ejection.maxTime", options.ejection?.maxTime, 100, 36e5, { unit: "milliseconds" });
  checkNumber("ejection.maxPercent", options.ejection?.maxPercent, 0, 100);
  checkNumber("ejection.consecutiveFailures", options.ejection?.consecutiveFailures, 1, 1e3, { integer: true });
  const ejection = { ...defaults.ejection, ...options.ejection };
  if (ejection.maxTime < ejection.baseTime) {
    throw new RangeError(`ridethrough: option "ejection.maxTime" must be at least ejection.baseTime (${ejection.baseTime}), got ${ejection.maxTime}`);
  }
  checkNumber("keepAliveTimeout", options.keepAliveTimeout, 1, 6e5, { unit: "milliseconds" });
  checkNumber("connectionsPerEndpoint", options.connectionsPerEndpoint, 1, 65535, { integer: true });
  checkObject("tls", options.tls);
  validateBreaker(options.breaker);
  if (options.budget !== false) {
    checkObject("budget", options.budget);
    checkKnownKeys("budget", options.budget, ["ratio", "minPerSecond", "window"]);
    checkNumber("budget.ratio", options.budget?.ratio, 0, 10);
    checkNumber("budget.minPerSecond", options.budget?.minPerSecond, 0, 1e4);
    checkNumber("budget.window", options.budget?.window, 1e3, 6e5, { unit: "milliseconds" });
  }
  validateHedge("hedge", options.hedge);
  checkOneOf("balancer", options.balancer, ["p2c", "round-robin"]);
  checkNumber("maxConnectionAge", options.maxConnectionAge, 0, 864e5, { unit: "milliseconds" });
  if (options.maxConnectionAge !== void 0 && options.maxConnectionAge > 0 && options.maxConnectionAge < 1e3) {
    throw new RangeError(`ridethrough: option "maxConnectionAge" must be 0 (never) or from 1000 to 86400000 milliseconds, got ${options.maxConnectionAge}`);
  }
  return {
    deadline: options.deadline ?? defaults.deadline,
    maxAttempts: options.maxAttempts ?? defaults.maxAttempts,
    connectTimeout: options.connectTimeout ?? defaults.connectTimeout,
    attemptTimeout: options.attemptTimeout ?? defaults.attemptTimeout,
    bodyTimeout: options.bodyTimeout ?? defaults.bodyTimeout,
    backoff,
    retryStatuses: new Set(options.retryStatuses ?? defaults.retryStatuses),
    maxRetryAfter: options.maxRetryAfter ?? defaults.maxRetryAfter,
    dns: options.dns ?? {},
    ejection,
    keepAliveTimeout: options.keepAliveTimeout ?? defaults.keepAliveTimeout,
    connectionsPerEndpoint: options.connectionsPerEndpoint,
    tls: options.tls,
    // The consecutive default threshold (5 requests) is no ratio: sampling mode defaults to 0.5.
    breaker: options.breaker === false ? false : { ...defaults.breaker, ...options.breaker?.mode === "sampling" ? { threshold: 0.5 } : {}, ...options.breaker },
    budget: options.budget === false ? false : { ...budgetDefaults, ...options.budget },
    hedge: options.hedge ?? false,
    balancer: options.balancer ?? defaults.balancer,
    maxConnectionAge: options.maxConnectionAge ?? defaults.maxConnectionAge
  };
}
function validateBreaker(breaker) {
  if (breaker === false || breaker === void 0) return;
  checkObject("breaker", breaker);
  checkKnownKeys("breaker", breaker, ["mode", "threshold", "duration", "minimumRps", "halfOpenAfter"]);
  checkOneOf("breaker.mode", breaker.mode, ["consecutive", "sampling"]);
  if (breaker.mode === "sampling") checkNumber("breaker.threshold", breaker.threshold, 0.01, 1);
  else checkNumber("breaker.threshold", breaker.threshold, 1, 1e3, { integer: true });
  checkNumber("breaker.duration", breaker.duration, 1e3, 6e5, { unit: "milliseconds" });
  checkNumber("breaker.minimumRps", breaker.minimumRps, 0, 1e5);
  checkNumber("breaker.halfOpenAfter", breaker.halfOpenAfter, 100, 6e5, { unit: "milliseconds" });
}
function validateHedge(name, hedge) {
  if (hedge === false || hedge === void 0) return;
  checkObject(name, hedge);
  checkKnownKeys(name, hedge, ["delay", "percentile", "minDelay", "maxHedges"]);
  checkNumber(`${name}.delay`, hedge.delay, 1, 6e5, { unit: "milliseconds" });
  checkNumber(`${name}.percentile`, hedge.percentile, 50, 99.9);
  checkNumber(`${name}.minDelay`, hedge.minDelay, 0, 6e5, { unit: "milliseconds" });
  checkNumber(`${name}.maxHedges`, hedge.maxHedges, 1, 5, { integer: true });
}
function validateOverrides(overrides) {
  if (overrides === void 0) return;
  checkObject("ridethrough", overrides);
  checkKnownKeys("ridethrough", overrides, ["deadline", "maxAttempts", "attemptTimeout", "idempotent", "hedge"]);
  validateHedge("ridethrough.hedge", overrides.hedge);
  checkNumber("ridethrough.deadline", overrides.deadline, 1, 36e5, { unit: "milliseconds" });
  checkNumber("ridethrough.maxAttempts", overrides.maxAttempts, 1, 1e3, { integer: true });
  checkNumber("ridethrough.attemptTimeout", overrides.attemptTimeout, 1, 36e5, { unit: "milliseconds" });
  checkBoolean("ridethrough.idempotent", overrides.idempotent);
}

// src/core/context.ts
import { LRUCache as LRUCache2 } from "lru-cache";

// src/events/channels.ts
import diagnosticsChannel from "node:diagnostics_channel";
var channelNames = {
  /** {@link RetryEvent}: a failed attempt will be retried. */
  retry: "ridethrough:retry",
  /** {@link EndpointEvent}: an address was ejected. */
  endpointEjected: "ridethrough:endpoint:ejected",
  /** {@link EndpointEvent}: an ejected address was restored. */
  endpointRestored: "ridethrough:endpoint:restored",
  /** {@link ResolveEvent}: a DNS resolution finished. */
  resolve: "ridethrough:dns:resolve",
  /** {@link StaleEvent}: DNS failed, the last good answer is served. */
  stale: "ridethrough:dns:stale",
  /** {@link GiveUpEvent}: the overall deadline was hit. */
  deadline: "ridethrough:deadline",
  /** {@link GiveUpEvent}: ridethrough gave up on a request (any reason). */
  giveUp: "ridethrough:giveup",
  /** {@link BreakerEvent}: a breaker changed state. */
  breaker: "ridethrough:breaker",
  /** {@link HedgeEvent}: a hedged attempt was sent. */
  hedge: "ridethrough:hedge"
};
var channelObjects = Object.fromEntries(
  Object.entries(channelNames).map(([key, name]) => [key, diagnosticsChannel.channel(name)])
);
function publish(key, build) {
  const channel = channelObjects[key];
  if (channel.hasSubscribers) channel.publish(build());
}

// src/endpoints/endpoint.ts
var Endpoint = class {
  /**
   * @param address - the IP address and family
   */
  constructor(address) {
    this.address = address;
  }
  address;
  /** Requests in flight. */
  inFlight = 0;
  /** Attempts sent. */
  attempts = 0;
  /** Failed attempts. */
  failures = 0;
  /** Failures in a row. */
  consecutiveFailures = 0;
  /** Times ejected. */
  ejections = 0;
  /** Ejected until (epoch ms). */
  ejectedUntil = 0;
  /** When the endpoint was last ejected (epoch ms). */
  lastEjectedAt = 0;
  /** EWMA of time to headers, ms. */
  latencyMs = 0;
  /** The connection pool for this address, created on first use by the agent. */
  pool;
  /** Whether the endpoint is out of rotation at `now`. */
  isEjected(now) {
    return this.ejectedUntil > now;
  }
  /** Records a latency sample (EWMA, weight 0.3 for the new sample). */
  recordLatency(ms) {
    this.latencyMs = this.latencyMs === 0 ? ms : this.latencyMs * 0.7 + ms * 0.3;
  }
  /** A snapshot for stats(). */
  snapshot(now) {
    return {
      address: this.address.address,
      state: this.isEjected(now) ? "ejected" : "healthy",
      inFlight: this.inFlight,
      attempts: this.attempts,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      ejections: this.ejections,
      ejectedUntil: this.isEjected(now) ? this.ejectedUntil : 0,
      latencyMs: Math.round(this.latencyMs * 100) / 100
    };
  }
};

// src/endpoints/endpoint-set.ts
var EndpointSet = class {
  /**
   * @param hostname - the host these endpoints serve
   * @param options - ejection settings
   * @param onRemove - called for an endpoint that left the DNS answer (to drain its pool)
   */
  constructor(hostname, options, onRemove) {
    this.hostname = hostname;
    this.options = options;
    this.onRemove = onRemove;
  }
  hostname;
  options;
  onRemove;
  /** Endpoints by address. */
  endpoints = /* @__PURE__ */ new Map();
  /** The answer the endpoints were last reconciled with. */
  answer;
  /** Reconciles the endpoints with a DNS answer: new addresses join, departed ones are removed. */
  update(answer) {
    if (answer === this.answer) return;
    this.answer = answer;
    const keep = new Set(answer.addresses.map((a) => a.address));
    for (const [address, endpoint] of this.endpoints) {
      if (!keep.has(address)) {
        this.endpoints.delete(address);
        this.onRemove(endpoint);
      }
    }
    for (const a of answer.addresses) {
      if (!this.endpoints.has(a.address)) this.endpoints.set(a.address, new Endpoint(a));
    }
  }
  /**
   * Picks the endpoint for the next attempt.
   * @param tried - addresses this request already tried (avoided while others exist)
   * @param last - the address that just failed (avoided above all)
   */
  pick(tried, last, now) {
    const fresh = [];
    let healthy = [];
    let leastBad;
    for (const e of this.endpoints.values()) {
      if (!e.isEjected(now)) {
        healthy.push(e);
        if (!tried.has(e.address.address)) fresh.push(e);
      } else if (!leastBad || lessBad(e, leastBad, last)) {
        leastBad = e;
      }
    }
    if (fresh.length > 0) return this.choose(fresh);
    if (healthy.length > 1 && last !== void 0) healthy = healthy.filter((e) => e.address.address !== last);
    if (healthy.length > 0) return this.choose(healthy);
    return leastBad;
  }
  turn = 0;
  /** Round-robin, or power of two choices on requests in flight (ties to the lower latency). */
  choose(list) {
    if (this.options.balancer === "round-robin") return list[this.turn++ % list.length];
    return twoChoices(list);
  }
  /** Whether any endpoint other than those tried is in rotation. */
  hasUntried(tried, now) {
    for (const e of this.endpoints.values()) if (!e.isEjected(now) && !tried.has(e.address.address)) return true;
    return false;
  }
  /** Records a success: clears the failure streak and restores an endpoint on trial. */
  succeeded(endpoint, now) {
    endpoint.consecutiveFailures = 0;
    if (endpoint.ejectedUntil !== 0) {
      endpoint.ejectedUntil = 0;
      publish("endpointRestored", () => ({ hostname: this.hostname, address: endpoint.address.address, reason: "restored", ejectedForMs: 0 }));
    }
    if (endpoint.ejections > 0 && now - endpoint.lastEjectedAt > this.options.ejection.maxTime) endpoint.ejections = 0;
  }
  /**
   * Records a failure. Returns true when the endpoint was ejected by it.
   */
  failed(endpoint, kind, reason, now) {
    endpoint.failures++;
    endpoint.consecutiveFailures++;
    if (kind === "soft") return false;
    if (kind === "outlier") {
      if (endpoint.consecutiveFailures < this.options.ejection.consecutiveFailures) return false;
      if (!this.mayEject(now)) return false;
    }
    this.eject(endpoint, reason, now);
    return true;
  }
  mayEject(now) {
    let ejected = 0;
    for (const e of this.endpoints.values()) if (e.isEjected(now)) ejected++;
    return (ejected + 1) / this.endpoints.size * 100 <= this.options.ejection.maxPercent;
  }
  eject(endpoint, reason, now) {
    const { baseTime, maxTime } = this.options.ejection;
    if (endpoint.isEjected(now)) return;
    const base = Math.min(maxTime, baseTime * 2 ** Math.min(endpoint.ejections, 20));
    const duration = Math.round(base * (0.85 + Math.random() * 0.3));
    endpoint.ejections++;
    endpoint.lastEjectedAt = now;
    endpoint.ejectedUntil = now + Math.min(maxTime, duration);
    publish("endpointEjected", () => ({ hostname: this.hostname, address: endpoint.address.address, reason, ejectedForMs: endpoint.ejectedUntil - now }));
  }
  /** Removes every endpoint (calls `onRemove` for each). */
  clear() {
    for (const e of this.endpoints.values()) this.onRemove(e);
    this.endpoints.clear();
    this.answer = void 0;
  }
};
function lessBad(a, b, last) {
  const aLast = a.address.address === last;
  const bLast = b.address.address === last;
  if (aLast !== bLast) return bLast;
  return a.ejectedUntil < b.ejectedUntil;
}
function twoChoices(list) {
  if (list.length === 1) return list[0];
  const i = Math.floor(Math.random() * list.length);
  let j = Math.floor(Math.random() * (list.length - 1));
  if (j >= i) j++;
  const a = list[i];
  const b = list[j];
  if (a.inFlight !== b.inFlight) return a.inFlight < b.inFlight ? a : b;
  return a.latencyMs <= b.latencyMs ? a : b;
}

// src/health/circuit-breaker.ts
import { CircuitState, ConsecutiveBreaker, SamplingBreaker, circuitBreaker, handleType } from "cockatiel";
var Unhealthy = class extends Error {
};
var Neutral = class extends Error {
};
var OriginBreaker = class {
  /**
   * @param origin - the origin this breaker protects (for events)
   * @param options - breaker settings (validated by the caller)
   */
  constructor(origin, options) {
    this.origin = origin;
    this.halfOpenAfter = options.halfOpenAfter ?? 5e3;
    const breaker = options.mode === "sampling" ? new SamplingBreaker({
      // cockatiel wants a ratio below 1: threshold 1 means "open only when every request in the window failed".
      threshold: Math.min(options.threshold ?? 0.5, 1 - 1e-9),
      duration: options.duration ?? 1e4,
      // cockatiel treats 0 as "not set" and falls back to its own minimum; the smallest positive value means none.
      minimumRps: options.minimumRps === 0 ? Number.MIN_VALUE : options.minimumRps ?? 5
    }) : new ConsecutiveBreaker(options.threshold ?? 5);
    this.policy = circuitBreaker(handleType(Unhealthy), { halfOpenAfter: this.halfOpenAfter, breaker });
    this.policy.onBreak(() => {
      this.openedAt = Date.now();
    });
    this.policy.onStateChange((state) => {
      const name = state === CircuitState.Open ? "open" : state === CircuitState.HalfOpen ? "half-open" : state === CircuitState.Closed ? "closed" : "open";
      publish("breaker", () => ({ origin: this.origin, state: name }));
    });
  }
  origin;
  policy;
  openedAt = 0;
  halfOpenAfter;
  /** `closed`, `open` or `half-open`. */
  get state() {
    const s = this.policy.state;
    return s === CircuitState.Closed ? "closed" : s === CircuitState.HalfOpen ? "half-open" : "open";
  }
  /** When the next probe will be let through (epoch ms), while open. */
  get retryAt() {
    return this.policy.state === CircuitState.Closed ? void 0 : this.openedAt + this.halfOpenAfter;
  }
  /**
   * Asks to send a request. Returns a permit, or undefined when the breaker is open (or a probe is
   * already in flight): the request must then fail at once.
   */
  acquire() {
    const state = this.policy.state;
    if (state === CircuitState.HalfOpen) return void 0;
    if (state !== CircuitState.Closed && Date.now() - this.openedAt < this.halfOpenAfter) return void 0;
    let settle;
    const outcome = new Promise((resolve, reject) => {
      settle = (verdict) => verdict === "unhealthy" ? reject(new Unhealthy()) : verdict === "neutral" ? reject(new Neutral()) : resolve();
    });
    this.policy.execute(() => outcome).catch(() => {
    });
    let released = false;
    return {
      release: (verdict) => {
        if (released) return;
        released = true;
        settle(verdict);
      }
    };
  }
};

// src/health/latency-window.ts
var LatencyWindow = class {
  samples;
  count = 0;
  next = 0;
  /**
   * @param size - how many recent samples to keep
   */
  constructor(size = 128) {
    this.samples = new Float64Array(size);
  }
  /** Number of samples held. */
  get size() {
    return this.count;
  }
  /** Adds a sample in ms. */
  add(ms) {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
  }
  /** The `p`-th percentile (0–100) of the samples held, or undefined when empty. */
  percentile(p) {
    if (this.count === 0) return void 0;
    const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
    const index = Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1);
    return sorted[Math.max(0, index)];
  }
};

// src/resolve/dns-cache.ts
import { Resolver } from "node:dns/promises";
import { isIP as isIP3 } from "node:net";
import { LRUCache } from "lru-cache";

// src/errors/errors.ts
var RidethroughError = class extends Error {
  /** Stable machine-readable code. */
  code;
  /** Every attempt made, in order: address, error code or status, duration. */
  attempts;
  /** The origin the request was for, when known. */
  origin;
  /**
   * @param code - the stable code
   * @param message - a sentence that says why ridethrough gave up
   * @param options - cause, attempts and origin
   */
  constructor(code, message, options = {}) {
    super(message, options.cause === void 0 ? void 0 : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.attempts = options.attempts ?? [];
    this.origin = options.origin;
  }
};
var DeadlineExceededError = class extends RidethroughError {
  /** The deadline that was exceeded, in milliseconds. */
  deadlineMs;
  /**
   * @param deadlineMs - the deadline in milliseconds
   * @param options - cause, attempts and origin
   */
  constructor(deadlineMs, options = {}) {
    super("RIDETHROUGH_DEADLINE_EXCEEDED", `deadline of ${deadlineMs} ms exceeded after ${options.attempts?.length ?? 0} attempt(s)${describeLast(options)}`, options);
    this.deadlineMs = deadlineMs;
  }
};
var AttemptsExhaustedError = class extends RidethroughError {
  /**
   * @param maxAttempts - the attempt limit that was reached
   * @param options - cause, attempts and origin
   */
  constructor(maxAttempts, options = {}) {
    super("RIDETHROUGH_ATTEMPTS_EXHAUSTED", `all ${maxAttempts} attempts failed${describeLast(options)}`, options);
  }
};
var NotRetryableError = class extends RidethroughError {
  /** Why the failure could not be retried. */
  reason;
  /**
   * @param reason - why it could not be retried
   * @param options - cause, attempts and origin
   */
  constructor(reason, options = {}) {
    const why = reason === "not-idempotent" ? "the request may have reached the server and is not idempotent (add an Idempotency-Key header or mark it idempotent to allow a retry)" : reason === "body-not-replayable" ? "the request body was a stream that has already been read and cannot be sent again" : "the error is not one that a retry can fix";
    super("RIDETHROUGH_NOT_RETRYABLE", `request failed and was not retried: ${why}${describeLast(options)}`, options);
    this.reason = reason;
  }
};
var NoEndpointError = class extends RidethroughError {
  /**
   * @param host - the host name
   * @param options - cause, attempts and origin
   */
  constructor(host, options = {}) {
    super("RIDETHROUGH_NO_ENDPOINT", `no endpoint available for ${host}${describeLast(options)}`, options);
  }
};
var DnsResolutionError = class extends RidethroughError {
  /** The host that failed to resolve. */
  hostname;
  /** The DNS error code (`ENOTFOUND`, `ETIMEOUT`, `ESERVFAIL`, ...). */
  dnsCode;
  /**
   * Whether waiting may help: DNS failed (timeout, SERVFAIL), or a name that resolved before now has
   * no address (a headless service between pods). False for a name never seen to resolve.
   */
  retryable;
  /**
   * @param hostname - the host name
   * @param dnsCode - the resolver's error code
   * @param options - cause, attempts, origin, and whether a retry may help
   */
  constructor(hostname, dnsCode, options = {}) {
    super("RIDETHROUGH_DNS", `could not resolve ${hostname}: ${dnsCode}`, options);
    this.hostname = hostname;
    this.dnsCode = dnsCode;
    this.retryable = options.retryable ?? true;
  }
};
var CircuitOpenError = class extends RidethroughError {
  /** When the breaker will let a probe request through (epoch ms), if known. */
  retryAt;
  /**
   * @param origin - the origin whose breaker is open
   * @param retryAt - epoch ms of the next half-open probe, if known
   * @param options - cause and attempts
   */
  constructor(origin, retryAt, options = {}) {
    super(
      "RIDETHROUGH_CIRCUIT_OPEN",
      `circuit open for ${origin}${retryAt === void 0 ? "" : `; next probe in ${Math.max(0, retryAt - Date.now())} ms`}`,
      { ...options, origin }
    );
    this.retryAt = retryAt;
  }
};
var BudgetExhaustedError = class extends RidethroughError {
  /**
   * @param options - cause, attempts and origin
   */
  constructor(options = {}) {
    super("RIDETHROUGH_BUDGET_EXHAUSTED", `retry budget exhausted for ${options.origin ?? "the origin"}; not retried${describeLast(options)}`, options);
  }
};
function describeLast(options) {
  const last = options.attempts?.[options.attempts.length - 1];
  if (!last) return "";
  const what = last.code ?? (last.status === void 0 ? "unknown" : `HTTP ${last.status}`);
  return `; last: ${what}${last.address ? ` from ${last.address}` : ""}`;
}

// src/resolve/system-config.ts
import { readFileSync } from "node:fs";
import { isIP as isIP2 } from "node:net";
function parseResolvConf(text) {
  const nameservers = [];
  let search = [];
  let ndots = 1;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    if (!line) continue;
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword === "nameserver" && rest[0]) nameservers.push(rest[0]);
    else if (keyword === "search") search = rest.filter(Boolean);
    else if (keyword === "domain" && rest[0]) search = [rest[0]];
    else if (keyword === "options") {
      for (const opt of rest) {
        const m = /^ndots:(\d+)$/.exec(opt);
        if (m) ndots = Math.min(15, Number(m[1]));
      }
    }
  }
  return { nameservers, search, ndots };
}
function readResolvConf(path) {
  try {
    return parseResolvConf(readFileSync(path, "utf8"));
  } catch {
    return { nameservers: [], search: [], ndots: 1 };
  }
}
function parseHostsFile(text) {
  const hosts = /* @__PURE__ */ new Map();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    const [address, ...names] = line.split(/\s+/);
    if (!address || !isIP2(address.replace(/%.*$/, ""))) continue;
    for (const name of names) {
      const key = name.toLowerCase().replace(/\.$/, "");
      const list = hosts.get(key) ?? [];
      if (!list.includes(address)) list.push(address);
      hosts.set(key, list);
    }
  }
  return hosts;
}
function readHostsFile(path) {
  try {
    return parseHostsFile(readFileSync(path, "utf8"));
  } catch {
    return /* @__PURE__ */ new Map();
  }
}

// src/resolve/dns-cache.ts
var negativeCodes = /* @__PURE__ */ new Set(["ENOTFOUND", "ENODATA"]);
var DnsCache = class {
  resolver;
  cache;
  inflight = /* @__PURE__ */ new Map();
  hosts;
  search;
  ndots;
  family;
  maxTtl;
  minTtl;
  staleTtl;
  negativeTtl;
  reResolveInterval;
  /**
   * @param options - DNS settings; validated here (throws `TypeError`/`RangeError` naming the option)
   */
  constructor(options = {}) {
    validateDnsOptions(options);
    const conf = readResolvConf(options.resolvConf ?? dnsDefaults.resolvConf);
    this.resolver = new Resolver({ timeout: options.timeout ?? dnsDefaults.timeout, tries: options.tries ?? dnsDefaults.tries });
    const servers = options.servers ?? conf.nameservers;
    if (servers.length > 0) this.resolver.setServers([...servers]);
    const hostsFile = options.hostsFile ?? dnsDefaults.hostsFile;
    this.hosts = hostsFile === false ? /* @__PURE__ */ new Map() : readHostsFile(hostsFile);
    this.search = (options.search ?? conf.search).map((d) => d.replace(/^\.|\.$/g, "")).filter(Boolean);
    this.ndots = options.ndots ?? conf.ndots;
    this.family = options.family ?? dnsDefaults.family;
    this.maxTtl = options.maxTtl ?? dnsDefaults.maxTtl;
    this.minTtl = Math.min(options.minTtl ?? dnsDefaults.minTtl, this.maxTtl);
    this.staleTtl = options.staleTtl ?? dnsDefaults.staleTtl;
    this.negativeTtl = options.negativeTtl ?? dnsDefaults.negativeTtl;
    this.reResolveInterval = options.reResolveInterval ?? dnsDefaults.reResolveInterval;
    this.cache = new LRUCache({ max: options.maxHosts ?? dnsDefaults.maxHosts });
  }
  /** Number of host names cached. */
  get size() {
    return this.cache.size;
  }
  /**
   * Resolves a host name (or IP literal) to its addresses.
   * Serves the cached answer while fresh; otherwise queries DNS (one query shared by concurrent callers).
   * @throws {@link DnsResolutionError} on NXDOMAIN/empty answers, or DNS failure with no good answer to fall back on
   */
  resolve(hostname) {
    const key = normalize(hostname);
    const entry = this.cache.get(key);
    const now = Date.now();
    if (entry) {
      if (now < entry.expiresAt) return entry.negative ? Promise.reject(entry.negative) : Promise.resolve(entry.answer);
      if (entry.answer?.stale && now < entry.staleUntil) {
        this.refresh(key, "expired").catch(noop);
        return Promise.resolve(entry.answer);
      }
    }
    const fixed = this.fixedAnswer(key, now);
    if (fixed) return Promise.resolve(fixed);
    return this.refresh(key, entry ? "expired" : "miss");
  }
  /**
   * The cached answer for a host, fresh or not, without querying.
   */
  peek(hostname) {
    return this.cache.get(normalize(hostname), { updateAgeOnGet: false })?.answer;
  }
  /**
   * Tells the cache an address of `hostname` failed: starts a fresh resolution at once, bypassing the
   * cache, unless one ran less than `reResolveInterval` ago. Returns the refresh in flight, if any.
   */
  reportFailure(hostname) {
    const key = normalize(hostname);
    const running = this.inflight.get(key);
    if (running) return running;
    const entry = this.cache.get(key, { updateAgeOnGet: false });
    if (!entry || entry.answer?.source === "literal" || entry.answer?.source === "hosts") return void 0;
    if (Date.now() - entry.lastQueryAt < this.reResolveInterval) return void 0;
    const p = this.refresh(key, "failure");
    p.catch(noop);
    return p;
  }
  /** The refresh in flight for a host, if any. */
  pending(hostname) {
    return this.inflight.get(normalize(hostname));
  }
  /** Forgets every cached answer. */
  clear() {
    this.cache.clear();
  }
  /** Cancels queries in flight and forgets the cache. */
  close() {
    this.resolver.cancel();
    this.cache.clear();
  }
  fixedAnswer(key, now) {
    const literal = isIP3(key);
    const addresses2 = literal ? [{ address: key, family: literal }] : (this.hosts.get(key.replace(/\.$/, "")) ?? []).map((address) => ({ address, family: isIP3(address) })).filter((a) => this.family === 0 || a.family === this.family).sort((a, b) => a.family - b.family);
    if (addresses2.length === 0) return void 0;
    const answer = { hostname: key, addresses: addresses2, source: literal ? "literal" : "hosts", fetchedAt: now, expiresAt: Infinity, stale: false };
    this.cache.set(key, { answer, expiresAt: Infinity, staleUntil: Infinity, lastQueryAt: now });
    return answer;
  }
  refresh(key, trigger) {
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.query(key, trigger).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
  async query(key, trigger) {
    const started = Date.now();
    const previous = this.cache.get(key, { updateAgeOnGet: false });
    if (previous) previous.lastQueryAt = started;
    let result;
    try {
      result = await this.queryWithSearch(key);
    } catch (err) {
      const code = errorCode(err);
      const now2 = Date.now();
      publish("resolve", () => ({ hostname: key, addresses: [], ttlSeconds: 0, trigger, error: code, durationMs: now2 - started }));
      const last2 = previous?.answer;
      if (last2 && now2 < previous.staleUntil) {
        const answer2 = last2.stale ? last2 : { ...last2, stale: true };
        this.cache.set(key, { answer: answer2, expiresAt: Math.min(previous.staleUntil, now2 + Math.max(this.minTtl, 1e3)), staleUntil: previous.staleUntil, lastQueryAt: started, known: true });
        publish("stale", () => ({ hostname: key, addresses: answer2.addresses.map((a) => a.address), error: code, ageMs: now2 - answer2.fetchedAt }));
        return answer2;
      }
      throw new DnsResolutionError(key, code, { cause: err });
    }
    const now = Date.now();
    if ("negative" in result) {
      const known = previous?.known === true;
      const error = new DnsResolutionError(key, result.negative, { retryable: known });
      this.cache.set(key, { negative: error, expiresAt: now + this.negativeTtl, staleUntil: 0, lastQueryAt: started, known });
      publish("resolve", () => ({ hostname: key, addresses: [], ttlSeconds: this.negativeTtl / 1e3, trigger, error: result.negative, durationMs: now - started }));
      throw error;
    }
    const ttlMs = Math.min(this.maxTtl, Math.max(this.minTtl, result.ttlMs));
    const last = previous?.answer;
    const answer = last && !last.stale && sameAddresses(last.addresses, result.addresses) ? { ...last, fetchedAt: now, expiresAt: now + ttlMs } : { hostname: key, addresses: result.addresses, source: "dns", fetchedAt: now, expiresAt: now + ttlMs, stale: false };
    this.cache.set(key, { answer, expiresAt: now + ttlMs, staleUntil: now + ttlMs + this.staleTtl, lastQueryAt: started, known: true });
    publish("resolve", () => ({ hostname: key, addresses: result.addresses.map((a) => a.address), ttlSeconds: ttlMs / 1e3, trigger, error: void 0, durationMs: now - started }));
    return answer;
  }
  /** Tries the names a pod's resolver would, in its order; the first with addresses wins. */
  async queryWithSearch(key) {
    let negative;
    for (const name of this.candidates(key)) {
      const r = await this.queryName(name);
      if ("addresses" in r) return r;
      negative = r.negative === "ENOTFOUND" || negative === "ENOTFOUND" ? "ENOTFOUND" : r.negative;
    }
    return { negative: negative ?? "ENOTFOUND" };
  }
  candidates(key) {
    if (key.endsWith(".") || this.search.length === 0) return [key];
    const dots = key.split(".").length - 1;
    const searched = this.search.map((domain) => `${key}.${domain}`);
    return dots >= this.ndots ? [key, ...searched] : [...searched, key];
  }
  /** Queries A and/or AAAA for one name. Throws the first server failure when no family answered. */
  async queryName(name) {
    const families = this.family === 0 ? [4, 6] : [this.family];
    const settled = await Promise.allSettled(
      families.map((f) => f === 4 ? this.resolver.resolve4(name, { ttl: true }) : this.resolver.resolve6(name, { ttl: true }))
    );
    const addresses2 = [];
    let ttl = Infinity;
    let failure;
    let negative = "ENODATA";
    settled.forEach((s, i) => {
      if (s.status === "fulfilled") {
        for (const r of s.value) {
          addresses2.push({ address: r.address, family: families[i] });
          ttl = Math.min(ttl, r.ttl);
        }
      } else if (negativeCodes.has(errorCode(s.reason))) {
        if (errorCode(s.reason) === "ENOTFOUND") negative = "ENOTFOUND";
      } else {
        failure ??= s.reason;
      }
    });
    if (addresses2.length > 0) return { addresses: addresses2, ttlMs: ttl * 1e3 };
    if (failure !== void 0) throw failure;
    return { negative };
  }
};
function normalize(hostname) {
  let h = hostname.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  return h;
}
function sameAddresses(a, b) {
  return a.length === b.length && a.every((x, i) => x.address === b[i].address);
}
function errorCode(err) {
  const code = err?.code;
  return typeof code === "string" ? code : "EUNKNOWN";
}
function noop() {
}

// src/core/context.ts
var ResilienceContext = class {
  /** Validated options. */
  options;
  /** The DNS cache. */
  dns;
  origins;
  removers = /* @__PURE__ */ new Set();
  /**
   * @param options - user options; validated here
   */
  constructor(options = {}) {
    this.options = resolveOptions(options);
    this.dns = new DnsCache(this.options.dns);
    this.origins = new LRUCache2({
      max: this.options.dns.maxHosts ?? dnsDefaults.maxHosts,
      dispose: (state) => state.endpoints.clear()
    });
  }
  /** Registers a callback run when an endpoint leaves its DNS answer or its origin is evicted. */
  onEndpointRemoved(fn) {
    this.removers.add(fn);
  }
  /** The state of an origin, created on first use. */
  originFor(origin) {
    let state = this.origins.get(origin.key);
    if (!state) {
      const o = this.options;
      state = {
        key: origin.key,
        endpoints: new EndpointSet(origin.hostname, o, (e) => {
          for (const fn of this.removers) fn(e);
        }),
        breaker: o.breaker === false ? void 0 : new OriginBreaker(origin.key, o.breaker),
        budget: o.budget === false ? void 0 : new RetryBudget(o.budget),
        latencies: new LatencyWindow()
      };
      this.origins.set(origin.key, state);
    }
    return state;
  }
  /** The endpoint set of an origin, created on first use. */
  endpointsFor(origin) {
    return this.originFor(origin).endpoints;
  }
  /** A snapshot of every origin's state. */
  stats() {
    const now = Date.now();
    return [...this.origins.values()].map((s) => ({
      origin: s.key,
      breaker: s.breaker?.state ?? "disabled",
      breakerRetryAt: s.breaker?.retryAt,
      budgetAvailable: s.budget?.available(now),
      budgetRefused: s.budget?.refused ?? 0,
      latencyP50Ms: s.latencies.percentile(50),
      endpoints: [...s.endpoints.endpoints.values()].map((e) => e.snapshot(now))
    }));
  }
  /** Forgets all state; removal callbacks run for every endpoint. */
  close() {
    this.origins.clear();
    this.dns.close();
  }
};

// src/core/origin.ts
import { isIP as isIP4 } from "node:net";
var cache = /* @__PURE__ */ new Map();
function parseOrigin(origin) {
  if (origin === void 0) throw new TypeError("ridethrough: the request has no origin");
  const text = typeof origin === "string" ? origin : origin.origin;
  const hit = cache.get(text);
  if (hit) return hit;
  const url2 = typeof origin === "string" ? new URL(origin) : origin;
  const hostname = url2.hostname.startsWith("[") ? url2.hostname.slice(1, -1) : url2.hostname;
  const port = url2.port ? Number(url2.port) : url2.protocol === "https:" ? 443 : 80;
  const parsed = {
    protocol: url2.protocol,
    hostname,
    port,
    host: url2.host,
    key: `${url2.protocol}//${urlHost(hostname)}:${port}`
  };
  if (cache.size > 1e3) cache.clear();
  cache.set(text, parsed);
  return parsed;
}
function urlHost(ip) {
  return isIP4(ip) === 6 ? `[${ip}]` : ip;
}

// src/attempt/attempt-handler.ts
var maxDrainBytes = 256 * 1024;
var AttemptHandler = class {
  /**
   * @param owner - the request flow
   * @param endpoint - the endpoint this attempt goes to
   * @param number - 1-based attempt number
   * @param onStart - called when undici starts the request on a connection
   */
  constructor(owner, endpoint, number, onStart) {
    this.owner = owner;
    this.endpoint = endpoint;
    this.number = number;
    this.onStart = onStart;
    this.outcome = new Promise((resolve) => {
      this.settle = resolve;
    });
    endpoint.inFlight++;
    endpoint.attempts++;
  }
  owner;
  endpoint;
  number;
  onStart;
  /** Whether undici handed the request to a connection (it may then have reached the server). */
  started = false;
  /** The controller of this attempt's undici request, once started. */
  controller;
  /** When the attempt was dispatched (performance.now()). */
  startedAt = performance.now();
  abandoned = false;
  committed = false;
  drain;
  settle;
  /** Settles when the attempt is decided. */
  outcome;
  /** Gives up on this attempt: aborts it if it is on a connection, and ignores whatever it reports. */
  abandon(reason) {
    if (this.abandoned || this.committed) return;
    this.abandoned = true;
    this.controller?.abort(reason);
    this.done({ kind: "abandoned" });
  }
  onRequestStart(controller) {
    this.controller = controller;
    this.started = true;
    if (this.abandoned) {
      controller.abort(new Error("ridethrough: attempt abandoned"));
      return;
    }
    this.onStart();
  }
  onRequestUpgrade(controller, statusCode, headers, socket) {
    if (this.abandoned) return;
    this.committed = true;
    this.release();
    this.done({ kind: "committed" });
    this.owner.commitUpgrade(this, controller, statusCode, headers, socket);
  }
  onResponseStart(controller, statusCode, headers, statusMessage) {
    if (this.abandoned) return;
    this.endpoint.recordLatency(performance.now() - this.startedAt);
    if (statusCode < 200) return;
    const decision = this.owner.decideStatus(this, statusCode, headers);
    if (decision.retry) {
      this.drain = { status: statusCode, delayMs: decision.delayMs, bytes: 0 };
      return;
    }
    this.committed = true;
    this.done({ kind: "committed" });
    this.owner.commit(this, controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller, chunk) {
    if (this.abandoned) return;
    if (this.drain) {
      this.drain.bytes += chunk.length;
      if (this.drain.bytes > maxDrainBytes) controller.abort(new Error("ridethrough: retried response body too large to drain"));
      return;
    }
    if (this.committed) this.owner.userHandler.onResponseData?.(this.owner.userController, chunk);
  }
  onResponseEnd(controller, trailers) {
    if (this.abandoned) return;
    this.release();
    if (this.drain) {
      this.done({ kind: "status", status: this.drain.status, delayMs: this.drain.delayMs });
      return;
    }
    if (!this.committed) return;
    this.owner.userController.rawTrailers = controller.rawTrailers;
    try {
      this.owner.userHandler.onResponseEnd?.(this.owner.userController, trailers);
    } finally {
      this.owner.finished();
    }
  }
  onResponseError(_controller, error) {
    this.release();
    if (this.abandoned) return;
    if (this.drain) {
      this.done({ kind: "status", status: this.drain.status, delayMs: this.drain.delayMs });
      return;
    }
    if (this.committed) {
      try {
        this.owner.userHandler.onResponseError?.(this.owner.userController, error);
      } finally {
        this.owner.finished();
      }
      return;
    }
    this.done({ kind: "error", error, started: this.started });
  }
  onResponseStarted() {
  }
  onBodySent(chunk) {
    if (!this.abandoned) this.owner.userHandler.onBodySent?.(chunk);
  }
  onRequestSent() {
    if (!this.abandoned) this.owner.userHandler.onRequestSent?.();
  }
  released = false;
  release() {
    if (this.released) return;
    this.released = true;
    this.endpoint.inFlight--;
  }
  done(outcome) {
    if (outcome.kind !== "committed") this.release();
    const settle = this.settle;
    this.settle = void 0;
    settle?.(outcome);
  }
};

// src/attempt/body.ts
import { Readable } from "node:stream";
var RequestBody = class {
  started = false;
  /** The value to hand to undici for the next attempt. */
  value;
  /** Whether the body can be sent any number of times. */
  replayable;
  /**
   * @param body - the body from the dispatch options
   * @param replay - bytes known to equal the body (from resilientFetch), which make any body replayable
   */
  constructor(body, replay) {
    if (replay !== void 0) {
      this.value = replay;
      this.replayable = true;
    } else if (body == null || typeof body === "string" || body instanceof Uint8Array || ArrayBuffer.isView(body)) {
      this.value = body;
      this.replayable = true;
    } else if (isBlobLike(body)) {
      this.value = body;
      this.replayable = true;
    } else if (isAsyncIterable(body) || body instanceof Readable) {
      const source = body;
      const self = this;
      this.value = {
        [Symbol.asyncIterator]() {
          self.started = true;
          return source[Symbol.asyncIterator]();
        }
      };
      this.replayable = false;
    } else {
      this.value = body;
      this.replayable = false;
      this.opaque = true;
    }
  }
  /** True for a body of unknown kind, which counts as read once an attempt has started. */
  opaque = false;
  /** Marks an opaque body as sent. */
  markSent() {
    this.started = true;
  }
  /** Whether the body can be sent (again) now. */
  get canSend() {
    return this.replayable || !this.started;
  }
  /** Whether a one-shot body has been read. */
  get consumed() {
    return this.started;
  }
};
function isAsyncIterable(v) {
  return v !== null && typeof v === "object" && typeof v[Symbol.asyncIterator] === "function";
}
function isBlobLike(v) {
  return typeof Blob !== "undefined" && v instanceof Blob;
}

// src/attempt/headers.ts
function getHeader(headers, name) {
  if (headers == null) return void 0;
  const lower = name.toLowerCase();
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers) if (String(pair[0]).toLowerCase() === lower) return String(pair[1]);
      return void 0;
    }
    for (let i = 0; i + 1 < headers.length; i += 2) if (String(headers[i]).toLowerCase() === lower) return String(headers[i + 1]);
    return void 0;
  }
  if (typeof headers[Symbol.iterator] === "function" && !isPlainRecord(headers)) {
    for (const [k, v] of headers) if (k.toLowerCase() === lower) return String(v);
    return void 0;
  }
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === lower && v !== void 0) return Array.isArray(v) ? v.join(", ") : String(v);
  }
  return void 0;
}
function withHost(headers, host) {
  if (getHeader(headers, "host") !== void 0) return headers;
  if (headers == null) return { host };
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) return [["host", host], ...headers];
    return ["host", host, ...headers];
  }
  if (typeof headers[Symbol.iterator] === "function" && !isPlainRecord(headers)) {
    const flat = ["host", host];
    for (const [k, v] of headers) {
      if (Array.isArray(v)) for (const item of v) flat.push(k, String(item));
      else if (v !== void 0) flat.push(k, String(v));
    }
    return flat;
  }
  return { host, ...headers };
}
function isPlainRecord(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// src/classify/failure.ts
var connectCodes = /* @__PURE__ */ new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "EPERM",
  "EACCES",
  "EAI_AGAIN",
  "ENOTFOUND",
  "RIDETHROUGH_DNS"
]);
var ambiguousCodes = /* @__PURE__ */ new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_INFO",
  "RIDETHROUGH_ATTEMPT_TIMEOUT"
]);
function classifyError(err, started) {
  const code = errorCode2(err);
  if (connectCodes.has(code)) return "unsent";
  if (ambiguousCodes.has(code)) return started ? "maybe-sent" : "unsent";
  return "fatal";
}
function isConnectFailure(err) {
  return connectCodes.has(errorCode2(err));
}
function errorCode2(err) {
  let e = err;
  for (let depth = 0; depth < 4 && e !== null && typeof e === "object"; depth++) {
    const code = e.code;
    if (typeof code === "string") return code;
    e = e.cause;
  }
  return "EUNKNOWN";
}

// src/classify/idempotency.ts
var idempotentMethods = /* @__PURE__ */ new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
function isIdempotent(method, hasIdempotencyKey, override) {
  if (override !== void 0) return override;
  return idempotentMethods.has(method.toUpperCase()) || hasIdempotencyKey;
}

// src/retry/backoff.ts
import { ExponentialBackoff, decorrelatedJitterGenerator, fullJitterGenerator } from "cockatiel";
var Backoff = class {
  state;
  factory;
  /**
   * @param options - jitter, base and cap (already validated)
   */
  constructor(options) {
    this.factory = new ExponentialBackoff({
      generator: options.jitter === "decorrelated" ? decorrelatedJitterGenerator : fullJitterGenerator,
      initialDelay: options.base,
      maxDelay: options.cap
    });
  }
  /** The next delay in milliseconds. */
  next() {
    this.state = this.state ? this.state.next(void 0) : this.factory.next();
    return Math.max(0, Math.round(this.state.duration));
  }
};

// src/retry/retry-after.ts
function parseRetryAfter(value, now) {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === void 0) return void 0;
  const trimmed = v.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1e3;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return void 0;
  return Math.max(0, date - now);
}

// src/core/request-flow.ts
var Interrupted = class extends Error {
};
var FlowController = class {
  constructor(flow) {
    this.flow = flow;
  }
  flow;
  rawHeaders = null;
  rawTrailers = null;
  abortReason = null;
  isPaused = false;
  get aborted() {
    return this.abortReason !== null;
  }
  get reason() {
    return this.abortReason;
  }
  get paused() {
    return this.isPaused;
  }
  abort(reason) {
    if (this.abortReason) return;
    this.abortReason = reason ?? new DOMException("The operation was aborted.", "AbortError");
    this.flow.abort(this.abortReason);
  }
  pause() {
    this.isPaused = true;
    this.flow.current?.controller?.pause();
  }
  resume() {
    this.isPaused = false;
    this.flow.current?.controller?.resume();
  }
};
var RequestFlow = class {
  /**
   * @param ctx - the shared state (options, DNS cache, endpoints)
   * @param transport - how an attempt is sent
   * @param opts - the caller's dispatch options
   * @param handler - the caller's handler (undici 8 shape)
   * @param extras - overrides and a replayable body
   */
  constructor(ctx, transport, opts, handler, extras = {}) {
    this.ctx = ctx;
    this.transport = transport;
    const { ridethrough, ...rest } = opts;
    const overrides = { ...extras.overrides, ...ridethrough };
    const o = ctx.options;
    this.userHandler = handler;
    this.userController = new FlowController(this);
    this.origin = parseOrigin(opts.origin);
    this.state = ctx.originFor(this.origin);
    this.endpoints = this.state.endpoints;
    this.method = (opts.method ?? "GET").toUpperCase();
    this.body = new RequestBody(opts.body, extras.replayBody);
    this.idempotent = isIdempotent(this.method, getHeader(opts.headers, "idempotency-key") !== void 0, overrides.idempotent);
    this.deadlineMs = overrides.deadline ?? o.deadline;
    this.maxAttempts = overrides.maxAttempts ?? o.maxAttempts;
    this.deadlineAt = this.startedAt + this.deadlineMs;
    this.backoff = new Backoff(o.backoff);
    const hedge = overrides.hedge ?? o.hedge;
    this.hedge = hedge && this.idempotent && this.body.replayable ? hedge : void 0;
    this.opts = {
      ...rest,
      headers: withHost(opts.headers, this.origin.host),
      body: this.body.value,
      headersTimeout: overrides.attemptTimeout ?? opts.headersTimeout ?? o.attemptTimeout,
      bodyTimeout: opts.bodyTimeout ?? o.bodyTimeout
    };
    this.interrupt = new Promise((_, reject) => {
      this.interruptReject = reject;
    });
    this.interrupt.catch(() => {
    });
  }
  ctx;
  transport;
  userHandler;
  userController;
  /** The attempt whose response was handed to the caller, or the latest one started. */
  current;
  /** Attempts on the wire now (more than one while hedging). */
  running = /* @__PURE__ */ new Set();
  origin;
  state;
  endpoints;
  hedge;
  permit;
  opts;
  body;
  method;
  idempotent;
  deadlineMs;
  maxAttempts;
  startedAt = Date.now();
  deadlineAt;
  backoff;
  tried = /* @__PURE__ */ new Set();
  records = [];
  attemptCount = 0;
  lastAddress;
  done = false;
  deadlineTimer;
  sleepTimer;
  interruptReject;
  interrupt;
  /** Starts the flow. Errors reach the caller's handler, never the caller of start(). */
  start() {
    this.deadlineTimer = setTimeout(() => this.onDeadline(), this.deadlineMs);
    try {
      this.userHandler.onRequestStart?.(this.userController, {});
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.done) return;
    const breaker = this.state.breaker;
    if (breaker) {
      this.permit = breaker.acquire();
      if (!this.permit) {
        this.fail(new CircuitOpenError(this.origin.key, breaker.retryAt, { attempts: [] }));
        return;
      }
    }
    this.state.budget?.deposit();
    this.run().catch((err) => this.fail(err instanceof Error ? err : new Error(String(err))));
  }
  /** Caller abort: stops whatever is going on and reports the reason to the caller's handler. */
  abort(reason) {
    if (this.done) return;
    if (this.current && this.isCommitted) {
      this.current.controller?.abort(reason);
      return;
    }
    this.abandonRunning(reason);
    this.fail(reason);
  }
  isCommitted = false;
  async run() {
    while (!this.done) {
      let endpoint;
      try {
        endpoint = await this.chooseEndpoint();
      } catch (err) {
        if (this.done || err instanceof Interrupted) return;
        if (err instanceof DnsResolutionError && !err.retryable) {
          this.fail(new DnsResolutionError(err.hostname, err.dnsCode, { ...this.errorOptions(err), retryable: false }));
          return;
        }
        const dnsCode = err instanceof DnsResolutionError ? err.dnsCode : errorCode2(err);
        this.records.push({ attempt: ++this.attemptCount, address: void 0, code: dnsCode, status: void 0, durationMs: 0, maybeSent: false });
        if (!await this.retryAfterFailure(err, void 0, dnsCode, this.backoff.next())) return;
        continue;
      }
      if (this.done) return;
      const { attempt, outcome } = await this.attemptRound(endpoint);
      if (this.done || outcome.kind === "committed" || outcome.kind === "abandoned") return;
      if (outcome.kind === "status") {
        if (!await this.retryAfterFailure(void 0, attempt.endpoint.address.address, `HTTP ${outcome.status}`, outcome.delayMs)) return;
        continue;
      }
      if (!await this.decideAfterError(attempt, outcome.error, outcome.started)) return;
    }
  }
  /** Resolves the host and picks where the next attempt goes. */
  async chooseEndpoint() {
    const hostname = this.origin.hostname;
    const answer = await this.race(this.ctx.dns.resolve(hostname));
    this.endpoints.update(answer);
    const pending = this.ctx.dns.pending(hostname);
    if (pending && this.attemptCount > 0 && !this.endpoints.hasUntried(this.tried, Date.now())) {
      try {
        this.endpoints.update(await this.race(pending));
      } catch (err) {
        if (err instanceof Interrupted) throw err;
      }
    }
    const endpoint = this.endpoints.pick(this.tried, this.lastAddress, Date.now());
    if (!endpoint) throw new NoEndpointError(hostname, { origin: this.origin.key });
    return endpoint;
  }
  /** Starts one attempt on `endpoint`. */
  startAttempt(endpoint) {
    const number = ++this.attemptCount;
    const handler = new AttemptHandler(this, endpoint, number, () => {
      if (this.body.opaque) this.body.markSent();
    });
    this.current = handler;
    this.running.add(handler);
    this.tried.add(endpoint.address.address);
    this.lastAddress = endpoint.address.address;
    try {
      this.transport(this.origin, endpoint, this.opts, handler);
    } catch (err) {
      handler.onResponseError(null, err);
    }
    return handler;
  }
  /**
   * Runs one attempt, plus hedged attempts on other endpoints when hedging is on and no response came
   * within the hedge delay. Returns the attempt that decided the round: the one whose response was
   * accepted, or the last to fail.
   */
  async attemptRound(first) {
    if (!this.hedge) {
      const primary = this.startAttempt(first);
      const outcome = await primary.outcome;
      this.running.delete(primary);
      return { attempt: primary, outcome };
    }
    const pending = /* @__PURE__ */ new Map();
    const track = (a) => {
      pending.set(a, a.outcome.then((outcome) => ({ attempt: a, outcome })));
    };
    const primary = this.startAttempt(first);
    track(primary);
    let hedgesLeft = this.hedge ? this.hedge.maxHedges ?? 1 : 0;
    let hedgeTimer;
    try {
      for (; ; ) {
        let fire;
        if (hedgesLeft > 0 && this.attemptCount < this.maxAttempts) {
          fire = new Promise((resolve) => {
            hedgeTimer = setTimeout(() => resolve("hedge"), this.hedgeDelay());
          });
        }
        const next = await this.race(Promise.race(fire ? [...pending.values(), fire] : [...pending.values()]));
        if (hedgeTimer) clearTimeout(hedgeTimer);
        hedgeTimer = void 0;
        if (next === "hedge") {
          hedgesLeft--;
          const other = this.endpoints.pick(this.tried, this.lastAddress, Date.now());
          if (other && !this.tried.has(other.address.address) && (!this.state.budget || this.state.budget.tryWithdraw())) {
            publish("hedge", () => ({ origin: this.origin.key, method: this.method, address: other.address.address, delayMs: Math.round(performance.now() - primary.startedAt) }));
            track(this.startAttempt(other));
          }
          continue;
        }
        pending.delete(next.attempt);
        this.running.delete(next.attempt);
        const { outcome } = next;
        if (outcome.kind === "committed" || outcome.kind === "abandoned" || pending.size === 0) return next;
        if (outcome.kind === "error") this.noteError(next.attempt, outcome.error, outcome.started);
        else this.noteStatus(next.attempt, outcome.status);
      }
    } catch (err) {
      if (hedgeTimer) clearTimeout(hedgeTimer);
      throw err;
    }
  }
  hedgeDelay() {
    const h = this.hedge;
    const fallback = h.delay ?? 100;
    if (h.percentile === void 0 || this.state.latencies.size < 20) return fallback;
    return Math.max(h.minDelay ?? 5, this.state.latencies.percentile(h.percentile) ?? fallback);
  }
  /** Records an attempt's error in the attempt list and in endpoint health; returns its class. */
  noteError(attempt, error, started) {
    const now = Date.now();
    const code = errorCode2(error);
    const cls = classifyError(error, started);
    const endpoint = attempt.endpoint;
    this.records.push({
      attempt: attempt.number,
      address: endpoint.address.address,
      code,
      status: void 0,
      durationMs: Math.round(performance.now() - attempt.startedAt),
      maybeSent: cls === "maybe-sent"
    });
    if (cls === "fatal") return cls;
    if (isConnectFailure(error) || !started) this.endpoints.failed(endpoint, "connect", code, now);
    else if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "ETIMEDOUT") this.endpoints.failed(endpoint, "outlier", code, now);
    else this.endpoints.failed(endpoint, "soft", code, now);
    this.ctx.dns.reportFailure(this.origin.hostname);
    return cls;
  }
  /** Records a retryable status of an attempt that lost to another (its body was drained). */
  noteStatus(attempt, status) {
    this.records.push({ attempt: attempt.number, address: attempt.endpoint.address.address, code: void 0, status, durationMs: Math.round(performance.now() - attempt.startedAt), maybeSent: true });
  }
  /** Classifies the deciding attempt's error and retries or gives up. */
  async decideAfterError(attempt, error, started) {
    const cls = this.noteError(attempt, error, started);
    if (cls === "fatal") {
      this.fail(error);
      return false;
    }
    if (!this.body.canSend) {
      this.fail(new NotRetryableError("body-not-replayable", this.errorOptions(error)));
      return false;
    }
    if (cls === "maybe-sent") {
      if (!this.idempotent) {
        this.fail(new NotRetryableError("not-idempotent", this.errorOptions(error)));
        return false;
      }
      if (this.attemptCount < this.maxAttempts && this.state.budget && !this.state.budget.tryWithdraw()) {
        this.giveUp(new BudgetExhaustedError(this.errorOptions(error)));
        return false;
      }
    }
    return this.retryAfterFailure(error, attempt.endpoint.address.address, errorCode2(error), this.backoff.next());
  }
  /** Waits `delayMs` and returns true when another attempt fits; otherwise fails the request and returns false. */
  async retryAfterFailure(error, address, reason, delayMs) {
    if (this.attemptCount >= this.maxAttempts) {
      this.giveUp(new AttemptsExhaustedError(this.maxAttempts, this.errorOptions(error)));
      return false;
    }
    if (Date.now() + delayMs >= this.deadlineAt) {
      this.giveUp(new DeadlineExceededError(this.deadlineMs, this.errorOptions(error)));
      return false;
    }
    publish("retry", () => ({ origin: this.origin.key, method: this.method, attempt: this.attemptCount, address, reason, delayMs }));
    try {
      await this.race(new Promise((resolve) => {
        this.sleepTimer = setTimeout(resolve, delayMs);
      }));
    } catch {
      return false;
    } finally {
      this.sleepTimer = void 0;
    }
    return !this.done;
  }
  decideStatus(attempt, status, headers) {
    const now = Date.now();
    const retryAfter = parseRetryAfter(headers["retry-after"], now);
    const o = this.ctx.options;
    this.state.latencies.add(performance.now() - attempt.startedAt);
    const retryable = o.retryStatuses.has(status) || status === 429 && retryAfter !== void 0;
    if (!retryable) {
      this.endpoints.succeeded(attempt.endpoint, now);
      return { retry: false };
    }
    this.endpoints.failed(attempt.endpoint, "outlier", `HTTP ${status}`, now);
    if (this.running.size > 1 && this.body.canSend) return { retry: true, delayMs: 0 };
    if (!this.idempotent || !this.body.canSend || this.attemptCount >= this.maxAttempts) return { retry: false };
    if (retryAfter !== void 0 && retryAfter > o.maxRetryAfter) return { retry: false };
    const delayMs = retryAfter ?? this.backoff.next();
    if (now + delayMs >= this.deadlineAt) return { retry: false };
    if (this.state.budget && !this.state.budget.tryWithdraw()) return { retry: false };
    this.noteStatus(attempt, status);
    return { retry: true, delayMs };
  }
  commit(attempt, controller, status, headers, statusMessage) {
    this.isCommitted = true;
    this.current = attempt;
    this.running.delete(attempt);
    if (this.running.size > 0) this.abandonRunning(new Error("ridethrough: another attempt answered first"));
    this.clearDeadline();
    this.releasePermit(this.ctx.options.retryStatuses.has(status) ? "unhealthy" : "healthy");
    this.userController.rawHeaders = controller.rawHeaders ?? null;
    if (this.userController.paused) controller.pause();
    this.userHandler.onResponseStarted?.();
    this.userHandler.onResponseStart?.(this.userController, status, headers, statusMessage);
  }
  commitUpgrade(attempt, controller, status, headers, socket) {
    this.isCommitted = true;
    this.current = attempt;
    this.running.delete(attempt);
    this.abandonRunning(new Error("ridethrough: another attempt answered first"));
    this.clearDeadline();
    this.releasePermit("healthy");
    this.userController.rawHeaders = controller.rawHeaders ?? null;
    this.done = true;
    this.userHandler.onRequestUpgrade?.(this.userController, status, headers, socket);
  }
  finished() {
    this.done = true;
    this.clearDeadline();
  }
  onDeadline() {
    this.deadlineTimer = void 0;
    if (this.done || this.isCommitted) return;
    for (const a of this.running) {
      this.records.push({ attempt: a.number, address: a.endpoint.address.address, code: "RIDETHROUGH_DEADLINE_EXCEEDED", status: void 0, durationMs: Math.round(performance.now() - a.startedAt), maybeSent: a.started });
    }
    const error = new DeadlineExceededError(this.deadlineMs, this.errorOptions(void 0));
    this.abandonRunning(error);
    this.interruptReject?.(new Interrupted());
    this.giveUp(error);
  }
  giveUp(error) {
    const event = () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records.length });
    if (error instanceof DeadlineExceededError) publish("deadline", event);
    this.fail(error);
  }
  /** Reports a terminal error to the caller's handler, once. */
  fail(error) {
    if (this.done) return;
    this.done = true;
    this.clearDeadline();
    this.releasePermit(error instanceof RidethroughError && !(error instanceof DnsResolutionError) && this.records.some((r) => r.address !== void 0) ? "unhealthy" : "neutral");
    if (error instanceof RidethroughError) {
      publish("giveUp", () => ({ origin: this.origin.key, method: this.method, code: error.code, attempts: this.records.length }));
    }
    this.interruptReject?.(new Interrupted());
    this.userHandler.onResponseError?.(this.userController, error);
  }
  releasePermit(verdict) {
    this.permit?.release(verdict);
    this.permit = void 0;
  }
  abandonRunning(reason) {
    for (const a of this.running) a.abandon(reason);
    this.running.clear();
  }
  clearDeadline() {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.deadlineTimer = void 0;
    this.sleepTimer = void 0;
  }
  errorOptions(cause) {
    return { cause, attempts: [...this.records], origin: this.origin.key };
  }
  /** Awaits `p`, but rejects with Interrupted as soon as the flow ends (deadline, abort). */
  race(p) {
    return Promise.race([p, this.interrupt]);
  }
};

// src/core/agent.ts
var kDispatchWith = /* @__PURE__ */ Symbol("ridethrough.dispatchWith");
var ResilientAgent = class extends Dispatcher {
  ctx;
  pools = /* @__PURE__ */ new Set();
  closed = false;
  transport;
  /**
   * @param options - see {@link ResilienceOptions}; validated here (throws `TypeError`/`RangeError` naming the option)
   */
  constructor(options = {}) {
    super();
    this.ctx = new ResilienceContext(options);
    this.ctx.onEndpointRemoved((endpoint) => this.retirePool(endpoint));
    this.transport = (origin, endpoint, opts, handler) => {
      this.poolFor(origin, endpoint).dispatch(opts, handler);
    };
  }
  /**
   * Dispatches a request (the undici `Dispatcher` contract). Returns `true`: ridethrough queues
   * internally, so callers never need to wait for `'drain'`.
   */
  dispatch(options, handler) {
    return this[kDispatchWith](options, handler, {});
  }
  /** @internal */
  [kDispatchWith](options, handler, extras) {
    const modern = isModernHandler(handler) ? handler : new LegacyHandlerAdapter(handler);
    if (this.closed) {
      const err = Object.assign(new Error("ridethrough: the agent is closed"), { code: "UND_ERR_DESTROYED" });
      queueMicrotask(() => modern.onResponseError?.(null, err));
      return true;
    }
    let flow;
    try {
      validateOverrides(options.ridethrough);
      flow = new RequestFlow(this.ctx, this.transport, options, modern, extras);
    } catch (err) {
      queueMicrotask(() => modern.onResponseError?.(null, err));
      return true;
    }
    queueMicrotask(() => flow.start());
    return true;
  }
  /**
   * A dispatcher that sends through this agent with per-request overrides, for callers that cannot pass
   * extra options (Node's built-in `fetch`, SDKs that take a dispatcher).
   *
   * @example
   * ```ts
   * await fetch(url, { method: 'POST', body, dispatcher: agent.with({ idempotent: true, deadline: 3_000 }) });
   * ```
   */
  with(overrides) {
    validateOverrides(overrides);
    return new ResilientView(this, { overrides });
  }
  /** Per-origin endpoint health: addresses, ejections, requests in flight and latency. */
  stats() {
    return this.ctx.stats();
  }
  close(callback) {
    const p = this.shutdown((pool) => pool.close());
    if (callback) {
      p.then(() => callback(), () => callback());
      return;
    }
    return p;
  }
  destroy(errOrCallback, callback) {
    const err = typeof errOrCallback === "function" ? null : errOrCallback ?? null;
    const cb = typeof errOrCallback === "function" ? errOrCallback : callback;
    const p = this.shutdown((pool) => pool.destroy(err));
    if (cb) {
      p.then(() => cb(), () => cb());
      return;
    }
    return p;
  }
  async shutdown(how) {
    this.closed = true;
    const pools = [...this.pools];
    this.pools.clear();
    this.ctx.close();
    await Promise.all(pools.map((p) => how(p).catch(() => {
    })));
  }
  poolFor(origin, endpoint) {
    if (endpoint.pool) return endpoint.pool;
    const o = this.ctx.options;
    const pool = new Pool(`${origin.protocol}//${urlHost(endpoint.address.address)}:${origin.port}`, {
      connect: {
        timeout: o.connectTimeout,
        ...origin.protocol === "https:" ? { ...o.tls, servername: isIPLiteral(origin.hostname) ? void 0 : origin.hostname } : {}
      },
      keepAliveTimeout: o.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(o.keepAliveTimeout, 6e5),
      connections: o.connectionsPerEndpoint ?? null,
      headersTimeout: o.attemptTimeout,
      bodyTimeout: o.bodyTimeout,
      // Retire connections by age (jittered per pool) so a ClusterIP's traffic spreads onto new pods.
      ...o.maxConnectionAge > 0 ? { clientTtl: Math.round(o.maxConnectionAge * (0.9 + Math.random() * 0.2)) } : {}
    });
    endpoint.pool = pool;
    this.pools.add(pool);
    return pool;
  }
  retirePool(endpoint) {
    const pool = endpoint.pool;
    if (!pool) return;
    endpoint.pool = void 0;
    this.pools.delete(pool);
    pool.close().catch(() => {
    });
  }
};
var ResilientView = class extends Dispatcher {
  /**
   * @param agent - the agent requests go through
   * @param extras - overrides and a replayable body
   */
  constructor(agent, extras) {
    super();
    this.agent = agent;
    this.extras = extras;
  }
  agent;
  extras;
  dispatch(options, handler) {
    return this.agent[kDispatchWith](options, handler, this.extras);
  }
  close(callback) {
    if (callback) {
      queueMicrotask(callback);
      return;
    }
    return Promise.resolve();
  }
  destroy(errOrCallback, callback) {
    const cb = typeof errOrCallback === "function" ? errOrCallback : callback;
    if (cb) {
      queueMicrotask(cb);
      return;
    }
    return Promise.resolve();
  }
};
function isIPLiteral(hostname) {
  return /^[\d.]+$/.test(hostname) || hostname.includes(":");
}

// src/lab/dns-server.ts
import { createSocket } from "node:dgram";
import { isIP as isIP5, isIPv4, isIPv6 } from "node:net";
var DEFAULT_TTL = 5;
var MAX_TTL = 2147483647;
var MAX_UDP_RESPONSE = 512;
var HEADER_LENGTH = 12;
var TYPE_A = 1;
var TYPE_AAAA = 28;
var CLASS_IN = 1;
var CLASS_ANY = 255;
var RCODE_NOERROR = 0;
var RCODE_FORMERR = 1;
var RCODE_SERVFAIL = 2;
var RCODE_NXDOMAIN = 3;
var RCODE_NOTIMP = 4;
var RCODE_REFUSED = 5;
var FLAG_QR = 32768;
var FLAG_AA = 1024;
var FLAG_TC = 512;
var FLAG_RD = 256;
var OPCODE_MASK = 30720;
var TYPE_NAMES = /* @__PURE__ */ new Map([
  [1, "A"],
  [2, "NS"],
  [5, "CNAME"],
  [6, "SOA"],
  [12, "PTR"],
  [13, "HINFO"],
  [15, "MX"],
  [16, "TXT"],
  [28, "AAAA"],
  [33, "SRV"],
  [35, "NAPTR"],
  [41, "OPT"],
  [43, "DS"],
  [46, "RRSIG"],
  [47, "NSEC"],
  [48, "DNSKEY"],
  [64, "SVCB"],
  [65, "HTTPS"],
  [252, "AXFR"],
  [255, "ANY"],
  [257, "CAA"]
]);
var MalformedMessageError = class extends Error {
};
var DnsServer = class {
  /**
   * Every query received with a readable question, oldest first, including
   * those dropped while paused. Mutated in place; see {@link clearLog}.
   */
  queries = [];
  #address;
  #port;
  #socket;
  #starting;
  #stopping;
  #records = /* @__PURE__ */ new Map();
  #timers = /* @__PURE__ */ new Set();
  #paused = false;
  #mode = "normal";
  #delay = 0;
  /**
   * Create a server; nothing is bound until {@link start}.
   *
   * @param options - Bind address (default `'127.0.0.53'`) and port
   *   (default `0`, an ephemeral port chosen on first start).
   * @throws TypeError if the address is not an IP address or the port is
   *   not an integer in 0..65535.
   */
  constructor(options = {}) {
    const address = options.address ?? "127.0.0.53";
    const port = options.port ?? 0;
    if (isIP5(address) === 0 || address.includes("%")) {
      throw new TypeError(`DnsServer: address must be an IPv4 or IPv6 address, got ${JSON.stringify(address)}`);
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new TypeError(`DnsServer: port must be an integer in 0..65535, got ${String(port)}`);
    }
    this.#address = address;
    this.#port = port;
  }
  /** The IP address the server binds to. */
  get address() {
    return this.#address;
  }
  /**
   * The UDP port: the bound port once started (kept after {@link stop}, and
   * reused by the next {@link start}); before the first start, the port given
   * to the constructor (possibly `0`).
   */
  get port() {
    return this.#port;
  }
  /**
   * The server in the form accepted by `dns.Resolver#setServers`:
   * `'127.0.0.53:PORT'`, or `'[::1]:PORT'` for IPv6.
   *
   * @throws Error if the port is still unknown (port 0 and never started).
   */
  get server() {
    if (this.#port === 0) {
      throw new Error("DnsServer: the port is not known until start() has completed");
    }
    return isIPv6(this.#address) ? `[${this.#address}]:${this.#port}` : `${this.#address}:${this.#port}`;
  }
  /** Whether the socket is currently bound. */
  get listening() {
    return this.#socket !== void 0;
  }
  /** Whether queries are currently being dropped; see {@link pause}. */
  get paused() {
    return this.#paused;
  }
  /** The current answer mode; see {@link setMode}. */
  get mode() {
    return this.#mode;
  }
  /** The current answer delay in milliseconds; see {@link setDelay}. */
  get delay() {
    return this.#delay;
  }
  /**
   * Bind the UDP socket. Resolves once bound; does nothing if already
   * started. After a {@link stop}, binds the same port again.
   *
   * @throws Error from the socket if binding fails (for example EADDRINUSE).
   */
  async start() {
    if (this.#stopping !== void 0) await this.#stopping;
    if (this.#socket !== void 0) return;
    if (this.#starting === void 0) {
      this.#starting = this.#bind().finally(() => {
        this.#starting = void 0;
      });
    }
    return this.#starting;
  }
  /**
   * Close the socket and cancel answers still waiting out a delay.
   * Idempotent: resolves immediately if not started.
   */
  async stop() {
    if (this.#starting !== void 0) {
      try {
        await this.#starting;
      } catch {
      }
    }
    if (this.#stopping !== void 0) return this.#stopping;
    const socket = this.#socket;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (socket === void 0) return;
    this.#socket = void 0;
    this.#stopping = new Promise((resolve) => {
      socket.close(() => resolve());
    }).finally(() => {
      this.#stopping = void 0;
    });
    return this.#stopping;
  }
  /**
   * Replace all records of a name. A name with records (even empty lists)
   * exists: queries for a type it has no records of answer NODATA.
   *
   * @param name - Domain name; case-insensitive, trailing dot optional.
   * @param records - A and AAAA addresses, and the TTL in seconds
   *   (integer 0..2147483647, default 5).
   * @throws TypeError on an invalid name, address or TTL.
   */
  setRecords(name, records) {
    const key = normalizeName(name);
    validateName(key, name);
    const ttl = records.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) {
      throw new TypeError(`DnsServer: ttl must be an integer number of seconds in 0..${MAX_TTL}, got ${String(ttl)}`);
    }
    const a = (records.a ?? []).map(encodeIPv4);
    const aaaa = (records.aaaa ?? []).map(encodeIPv6);
    this.#records.set(key, { a, aaaa, ttl });
  }
  /**
   * Remove a name: it answers NXDOMAIN from now on.
   *
   * @param name - Domain name; case-insensitive, trailing dot optional.
   * @returns Whether the name had records.
   */
  removeRecords(name) {
    return this.#records.delete(normalizeName(name));
  }
  /**
   * Simulate a dead server: every datagram is dropped without an answer, so
   * clients time out. Queries are still logged.
   */
  pause() {
    this.#paused = true;
  }
  /** Undo {@link pause}: answer queries again. */
  resume() {
    this.#paused = false;
  }
  /**
   * Choose how queries are answered (while not paused).
   *
   * @param mode - `'servfail'` answers SERVFAIL (rcode 2) and `'refused'`
   *   answers REFUSED (rcode 5) to every query; `'normal'` answers from the
   *   records.
   * @throws TypeError on an unknown mode.
   */
  setMode(mode) {
    if (mode !== "normal" && mode !== "servfail" && mode !== "refused") {
      throw new TypeError(`DnsServer: unknown mode ${JSON.stringify(mode)}`);
    }
    this.#mode = mode;
  }
  /**
   * Delay every answer by this many milliseconds (`0`, the default, answers
   * at once). The answer is computed when the query arrives and sent after
   * the delay, like a slow network path.
   *
   * @param ms - Delay in milliseconds, finite and non-negative.
   * @throws TypeError on a negative or non-finite delay.
   */
  setDelay(ms) {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new TypeError(`DnsServer: delay must be a finite number of milliseconds >= 0, got ${String(ms)}`);
    }
    this.#delay = ms;
  }
  /**
   * Count logged queries.
   *
   * @param name - If given, count only queries for this name
   *   (case-insensitive, trailing dot optional).
   * @returns The number of matching entries in {@link queries}.
   */
  queryCount(name) {
    if (name === void 0) return this.queries.length;
    const key = normalizeName(name);
    let count = 0;
    for (const entry of this.queries) if (entry.name === key) count++;
    return count;
  }
  /** Empty {@link queries}. */
  clearLog() {
    this.queries.length = 0;
  }
  async #bind() {
    const socket = createSocket({ type: isIPv6(this.#address) ? "udp6" : "udp4" });
    await new Promise((resolve, reject) => {
      const onError = (error) => {
        socket.close();
        reject(error);
      };
      socket.once("error", onError);
      socket.bind(this.#port, this.#address, () => {
        socket.off("error", onError);
        resolve();
      });
    });
    socket.on("error", () => {
    });
    socket.on("message", (message, remote) => {
      this.#onMessage(socket, message, remote);
    });
    this.#port = socket.address().port;
    this.#socket = socket;
  }
  #onMessage(socket, message, remote) {
    const response = this.#handle(message);
    if (response === void 0) return;
    const send = () => {
      if (this.#socket !== socket) return;
      socket.send(response, remote.port, remote.address, () => {
      });
    };
    if (this.#delay <= 0) {
      send();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      send();
    }, this.#delay);
    this.#timers.add(timer);
  }
  /** Build the response to a datagram, or `undefined` to stay silent. */
  #handle(message) {
    if (message.length < HEADER_LENGTH) return void 0;
    const id = message.readUInt16BE(0);
    const flags = message.readUInt16BE(2);
    if ((flags & FLAG_QR) !== 0) return void 0;
    const qdcount = message.readUInt16BE(4);
    let question;
    let malformed = false;
    if (qdcount === 1) {
      try {
        question = parseQuestion(message, HEADER_LENGTH);
      } catch (error) {
        if (!(error instanceof MalformedMessageError)) throw error;
        malformed = true;
      }
    } else {
      malformed = true;
    }
    if (question !== void 0) {
      this.queries.push({ name: question.name, type: typeName(question.type), at: Date.now() });
    }
    if (this.#paused) return void 0;
    const header = { id, flags };
    if ((flags & OPCODE_MASK) !== 0) return buildResponse(header, void 0, RCODE_NOTIMP, []);
    if (malformed || question === void 0) return buildResponse(header, void 0, RCODE_FORMERR, []);
    if (this.#mode === "servfail") return buildResponse(header, question, RCODE_SERVFAIL, []);
    if (this.#mode === "refused") return buildResponse(header, question, RCODE_REFUSED, []);
    if (question.qclass !== CLASS_IN && question.qclass !== CLASS_ANY) {
      return buildResponse(header, question, RCODE_REFUSED, []);
    }
    const set = this.#records.get(question.name);
    if (set === void 0) return buildResponse(header, question, RCODE_NXDOMAIN, []);
    const answers = [];
    if (question.type === TYPE_A) {
      for (const rdata of set.a) answers.push({ type: TYPE_A, ttl: set.ttl, rdata });
    } else if (question.type === TYPE_AAAA) {
      for (const rdata of set.aaaa) answers.push({ type: TYPE_AAAA, ttl: set.ttl, rdata });
    }
    return buildResponse(header, question, RCODE_NOERROR, answers);
  }
};
function buildResponse(query, question, rcode, answers) {
  const parts = [];
  let length = HEADER_LENGTH;
  if (question !== void 0) {
    const q = Buffer.alloc(encodedNameLength(question.labels) + 4);
    let offset = 0;
    for (const label of question.labels) {
      offset = q.writeUInt8(label.length, offset);
      offset += label.copy(q, offset);
    }
    offset = q.writeUInt8(0, offset);
    offset = q.writeUInt16BE(question.type, offset);
    q.writeUInt16BE(question.qclass, offset);
    parts.push(q);
    length += q.length;
  }
  let truncated = false;
  let ancount = 0;
  for (const answer of answers) {
    const rr = Buffer.alloc(12 + answer.rdata.length);
    let offset = rr.writeUInt16BE(49152 | HEADER_LENGTH, 0);
    offset = rr.writeUInt16BE(answer.type, offset);
    offset = rr.writeUInt16BE(CLASS_IN, offset);
    offset = rr.writeUInt32BE(answer.ttl, offset);
    offset = rr.writeUInt16BE(answer.rdata.length, offset);
    answer.rdata.copy(rr, offset);
    if (length + rr.length > MAX_UDP_RESPONSE) {
      truncated = true;
      break;
    }
    parts.push(rr);
    length += rr.length;
    ancount++;
  }
  const header = Buffer.alloc(HEADER_LENGTH);
  let flags = FLAG_QR | FLAG_AA | query.flags & (OPCODE_MASK | FLAG_RD) | rcode;
  if (truncated) flags |= FLAG_TC;
  header.writeUInt16BE(query.id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(question === void 0 ? 0 : 1, 4);
  header.writeUInt16BE(ancount, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  return Buffer.concat([header, ...parts], length);
}
function encodedNameLength(labels) {
  let length = 1;
  for (const label of labels) length += 1 + label.length;
  return length;
}
function parseQuestion(message, offset) {
  const { labels, end } = readName(message, offset);
  if (end + 4 > message.length) throw new MalformedMessageError("question truncated");
  const type = message.readUInt16BE(end);
  const qclass = message.readUInt16BE(end + 2);
  return { labels, name: presentationName(labels), type, qclass };
}
function readName(message, start) {
  const labels = [];
  let offset = start;
  let segmentStart = start;
  let end;
  let nameLength = 1;
  for (; ; ) {
    if (offset >= message.length) throw new MalformedMessageError("name truncated");
    const length = message.readUInt8(offset);
    const kind = length & 192;
    if (kind === 192) {
      if (offset + 2 > message.length) throw new MalformedMessageError("pointer truncated");
      const target = message.readUInt16BE(offset) & 16383;
      if (target >= segmentStart) throw new MalformedMessageError("compression pointer does not point backwards");
      end ??= offset + 2;
      offset = target;
      segmentStart = target;
      continue;
    }
    if (kind !== 0) throw new MalformedMessageError("unsupported label type");
    if (length === 0) {
      end ??= offset + 1;
      return { labels, end };
    }
    nameLength += 1 + length;
    if (nameLength > 255) throw new MalformedMessageError("name longer than 255 octets");
    if (offset + 1 + length > message.length) throw new MalformedMessageError("label truncated");
    labels.push(message.subarray(offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
}
function presentationName(labels) {
  if (labels.length === 0) return ".";
  const out = [];
  for (const label of labels) {
    let text = "";
    for (const byte of label) {
      if (byte === 46 || byte === 92) {
        text += `\\${String.fromCharCode(byte)}`;
      } else if (byte > 32 && byte < 127) {
        text += String.fromCharCode(byte >= 65 && byte <= 90 ? byte + 32 : byte);
      } else {
        text += `\\${byte.toString().padStart(3, "0")}`;
      }
    }
    out.push(text);
  }
  return out.join(".");
}
function normalizeName(name) {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return lower.length > 1 && lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
function validateName(key, original) {
  const invalid = (why) => new TypeError(`DnsServer: invalid domain name ${JSON.stringify(original)}: ${why}`);
  if (key === ".") return;
  if (key.length === 0) throw invalid("empty");
  if (!/^[\x21-\x7e]+$/.test(key)) throw invalid("only printable ASCII without spaces is supported");
  if (key.length > 253) throw invalid("longer than 253 characters");
  for (const label of key.split(".")) {
    if (label.length === 0) throw invalid("empty label");
    if (label.length > 63) throw invalid("label longer than 63 characters");
  }
}
function encodeIPv4(address) {
  if (!isIPv4(address)) throw new TypeError(`DnsServer: invalid IPv4 address ${JSON.stringify(address)}`);
  return Buffer.from(address.split(".").map(Number));
}
function encodeIPv6(address) {
  if (!isIPv6(address) || address.includes("%")) {
    throw new TypeError(`DnsServer: invalid IPv6 address ${JSON.stringify(address)}`);
  }
  const groups = expandIPv6(address);
  const out = Buffer.alloc(16);
  groups.forEach((group, index) => out.writeUInt16BE(group, index * 2));
  return out;
}
function expandIPv6(address) {
  const parseGroups = (part) => {
    if (part === "") return [];
    const groups2 = [];
    for (const piece of part.split(":")) {
      if (piece.includes(".")) {
        const octets = piece.split(".").map(Number);
        const [a = 0, b = 0, c = 0, d = 0] = octets;
        groups2.push(a << 8 | b, c << 8 | d);
      } else {
        groups2.push(Number.parseInt(piece, 16));
      }
    }
    return groups2;
  };
  const doubleColon = address.indexOf("::");
  let groups;
  if (doubleColon === -1) {
    groups = parseGroups(address);
  } else {
    const head = parseGroups(address.slice(0, doubleColon));
    const tail = parseGroups(address.slice(doubleColon + 2));
    const zeros = Math.max(0, 8 - head.length - tail.length);
    groups = [...head, ...new Array(zeros).fill(0), ...tail];
  }
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 65535)) {
    throw new TypeError(`DnsServer: invalid IPv6 address ${JSON.stringify(address)}`);
  }
  return groups;
}
function typeName(type) {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

// bench/lib.ts
import { fork } from "node:child_process";
import { once } from "node:events";
import { Resolver as Resolver2 } from "node:dns/promises";
import { fileURLToPath } from "node:url";
var dnsAddress = "127.0.80.53";
function hotAddresses(count) {
  if (count < 1 || count > 50) throw new RangeError("endpoint count must be 1\u201350");
  return Array.from({ length: count }, (_, i) => `127.0.80.${i + 1}`);
}
var maxMemoryHosts = 8 * 250;
function forkTs(file, extraExecArgv = []) {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const loader = process.execArgv.filter((a, i, all) => a.includes("tsx") || i + 1 < all.length && all[i + 1].includes("tsx"));
  const execArgv = loader.length > 0 ? loader : ["--import", import.meta.resolve("tsx/esm")];
  return fork(path, [], { execArgv: [...execArgv, ...extraExecArgv], stdio: ["ignore", "inherit", "inherit", "ipc"] });
}
function nextMessage(child, accept, timeoutMs = 6e4) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no reply from child process ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (msg) => {
      if (accept(msg)) finish(void 0, msg);
    };
    const onExit = (code) => finish(new Error(`child process ${child.pid} exited (code ${code}) before replying`));
    function finish(err, msg) {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve(msg);
    }
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}
var ServerProcess = class _ServerProcess {
  constructor(child, port) {
    this.child = child;
    this.port = port;
  }
  child;
  port;
  /** Forks the server and waits until it listens on every address (one shared port). */
  static async start(addresses2) {
    const child = forkTs("./server.ts");
    try {
      const reply = nextMessage(child, (m) => isReply(m) && (m.type === "listening" || m.type === "error"));
      child.send({ type: "listen", addresses: addresses2 });
      const r = await reply;
      if (r.type !== "listening") throw new Error(`benchmark server failed to listen: ${r.type === "error" ? r.message : r.type}`);
      return new _ServerProcess(child, r.port);
    } catch (err) {
      child.kill();
      throw err;
    }
  }
  /** CPU time (user + system, µs) the server process has used so far, and its connection counts. */
  async usage() {
    const reply = nextMessage(this.child, (m) => isReply(m) && m.type === "cpu");
    this.child.send({ type: "cpu" });
    const r = await reply;
    return { cpuMicros: r.micros, openConnections: r.openConnections, acceptedConnections: r.acceptedConnections };
  }
  /** Stops the server process (kills it if it does not exit within 5 s). */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    if (this.child.connected) this.child.send({ type: "close" });
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5e3);
    await exited;
    clearTimeout(timer);
  }
};
function isReply(m) {
  return typeof m === "object" && m !== null && typeof m.type === "string";
}
function labResolver(server2) {
  const r = new Resolver2({ timeout: 500, tries: 2 });
  r.setServers([server2]);
  return r;
}
function interceptorLookup(server2) {
  const resolver = labResolver(server2);
  return (origin, _options, cb) => {
    resolver.resolve4(origin.hostname, { ttl: true }).then(
      (records) => cb(null, records.map((r) => ({ address: r.address, family: 4, ttl: r.ttl * 1e3 }))),
      (err) => cb(err, [])
    );
  };
}

// bench/profile.ts
var { values } = parseArgs({
  options: {
    client: { type: "string", default: "resilient" },
    requests: { type: "string", default: "50000" },
    concurrency: { type: "string", default: "32" },
    endpoints: { type: "string", default: "1" }
  }
});
var requests = Number(values.requests);
var concurrency = Number(values.concurrency);
var endpoints = Number(values.endpoints);
async function get(url2, dispatcher2) {
  const { statusCode, body } = await request(url2, { dispatcher: dispatcher2 });
  await body.text();
  if (statusCode !== 200) throw new Error(`unexpected status ${statusCode}`);
}
async function drive(send, n) {
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < n) {
        issued++;
        await send();
      }
    })
  );
  return performance.now() - t0;
}
var dnsServer = new DnsServer({ address: dnsAddress, port: 0 });
await dnsServer.start();
var addresses = hotAddresses(endpoints);
dnsServer.setRecords("hot.bench.test", { a: addresses, ttl: 5 });
var server = await ServerProcess.start(addresses);
var dispatcher;
var url = `http://hot.bench.test:${server.port}/`;
var closeIt;
if (values.client === "raw") {
  const a = new Agent();
  dispatcher = a;
  url = `http://${addresses[0]}:${server.port}/`;
  closeIt = () => a.close();
} else if (values.client === "interceptors") {
  const a = new Agent();
  dispatcher = a.compose(interceptors.dns({ lookup: interceptorLookup(dnsServer.server) }), interceptors.retry());
  closeIt = () => a.close();
} else {
  const a = new ResilientAgent({ dns: { servers: [dnsServer.server], search: [] } });
  dispatcher = a;
  closeIt = () => a.close();
}
try {
  await drive(() => get(url, dispatcher), Math.min(5e3, requests));
  const cpu0 = process.cpuUsage();
  const ms = await drive(() => get(url, dispatcher), requests);
  const cpu = process.cpuUsage(cpu0);
  const { acceptedConnections } = await server.usage();
  console.log(
    `${values.client}: ${Math.round(requests / ms * 1e3)} req/s, ${((cpu.user + cpu.system) / requests).toFixed(1)} \xB5s CPU per request, ${acceptedConnections} connections`
  );
} finally {
  await closeIt();
  await server.stop();
  await dnsServer.stop();
}
