/**
 * A small authoritative DNS server over UDP, with the wire format done by `dns-packet`.
 *
 * It stands in for a cluster DNS service (for example kube-dns) in tests, benchmarks, examples and
 * the lab, whose answers change as simulated pods move between loopback addresses. It answers A
 * (RFC 1035) and AAAA (RFC 3596) queries from an in-memory table (CNAME aliases included), and it
 * can simulate outages: a dead server (queries are dropped), SERVFAIL, REFUSED, truncated or garbage
 * replies and slow answers.
 *
 * It is deliberately not a general purpose server: no TCP, no zone transfers, no recursion, no
 * SOA/NS records, no EDNS0 in answers.
 *
 * @module
 */

import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import dnsPacket from 'dns-packet';

/** Options for {@link DnsServer}. */
export interface DnsServerOptions {
  /**
   * IP address to bind to. IPv4 or IPv6 (without brackets or zone id).
   * Defaults to `'127.0.0.53'`.
   */
  address?: string;
  /**
   * UDP port to bind to. `0` (the default) picks an ephemeral port on the
   * first {@link DnsServer.start}; later restarts reuse that same port.
   */
  port?: number;
}

/** The records a name answers with; see {@link DnsServer.setRecords}. */
export interface DnsRecords {
  /** IPv4 addresses returned for A queries, in this order. */
  a?: string[];
  /** IPv6 addresses returned for AAAA queries, in this order. */
  aaaa?: string[];
  /** TTL of every answer record, in whole seconds. Defaults to 5. */
  ttl?: number;
  /**
   * Makes the name an alias (no `a`/`aaaa` then): A and AAAA queries answer a CNAME record to this
   * name, followed by the target's records as the table has them (further aliases followed, up to 8).
   */
  cname?: string;
}

/**
 * How the server answers queries (while not paused); see
 * {@link DnsServer.setMode}.
 *
 * - `'normal'`: answer from the record table.
 * - `'servfail'`: answer SERVFAIL (rcode 2) to every query.
 * - `'refused'`: answer REFUSED (rcode 5) to every query.
 * - `'truncated'`: answer with the TC flag and no records, so a client retries over TCP (not served here).
 * - `'garbage'`: answer with the query's ID followed by bytes that are not a DNS message.
 */
export type DnsServerMode = 'normal' | 'servfail' | 'refused' | 'truncated' | 'garbage';

const MODES: readonly DnsServerMode[] = ['normal', 'servfail', 'refused', 'truncated', 'garbage'];

/** What `'garbage'` mode sends after the query ID. */
const GARBAGE = Buffer.from('not a DNS message', 'latin1');

/** Longest CNAME chain followed in one answer. */
const MAX_ALIAS_HOPS = 8;

/** One entry of {@link DnsServer.queries}. */
export interface DnsQueryLogEntry {
  /**
   * The queried name as `dns-packet` reads it (labels as UTF-8, joined by dots), lower-cased
   * (ASCII only), without trailing dot (the root is `'.'`).
   */
  name: string;
  /**
   * The query type mnemonic, such as `'A'` or `'AAAA'`; unknown types are
   * written `'TYPE<number>'` (RFC 3597).
   */
  type: 'A' | 'AAAA' | string;
  /** When the query was received, in milliseconds since the epoch (`Date.now()`). */
  at: number;
}

/** Default TTL of answer records, in seconds. */
const DEFAULT_TTL = 5;
/** Largest TTL allowed by RFC 2181 section 8. */
const MAX_TTL = 0x7fffffff;
/** Largest DNS message over UDP without EDNS0 (RFC 1035 section 4.2.1). */
const MAX_UDP_RESPONSE = 512;
const HEADER_LENGTH = 12;

const RCODE_NOERROR = 0;
const RCODE_FORMERR = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const RCODE_REFUSED = 5;

const FLAG_QR = 0x8000;
const OPCODE_MASK = 0x7800;

/** An owner name that is a compression pointer to the question's name, right after the header. */
const POINTER_TO_QUESTION = Buffer.from([0xc0, HEADER_LENGTH]);

/** Types `dns-packet` has no mnemonic for but resolvers ask about. */
const EXTRA_TYPE_NAMES: Readonly<Record<string, string>> = { UNKNOWN_64: 'SVCB', UNKNOWN_65: 'HTTPS' };

/** A question as `dns-packet` decodes it. */
interface Question {
  readonly name: string;
  readonly type: string;
  readonly class: string;
}

/** The codecs `dns-packet` exports besides `encode`/`decode` (its type definitions leave them out). */
interface RecordCodecs {
  readonly question: { decode: ((buf: Buffer, offset: number) => Question) & { bytes: number } };
  readonly answer: { encode: (answer: dnsPacket.Answer) => Buffer };
}
const codecs = dnsPacket as unknown as RecordCodecs;

/** A stored name: its answer records, encoded with an owner pointing at the question. */
interface RecordSet {
  readonly a: readonly Buffer[];
  readonly aaaa: readonly Buffer[];
  /** The records as given, for answers that reach this name through an alias (owner is then this name). */
  readonly given: { readonly a: readonly string[]; readonly aaaa: readonly string[]; readonly ttl: number; readonly cname: string | undefined };
}

/**
 * A real, minimal authoritative DNS server over UDP for tests and the lab.
 *
 * ```ts
 * const dns = new DnsServer();
 * await dns.start();
 * dns.setRecords('backend.test', { a: ['127.0.0.2'], ttl: 5 });
 * const resolver = new (await import('node:dns')).promises.Resolver();
 * resolver.setServers([dns.server]);
 * await resolver.resolve4('backend.test'); // ['127.0.0.2']
 * await dns.stop();
 * ```
 *
 * Answers always have the AA flag set, echo the query ID, the RD flag and the
 * question (with the case used by the client). Names with no records answer
 * NXDOMAIN; names with records but none of the queried type answer NODATA
 * (NOERROR with no answers). Queries for classes other than IN (or ANY) are
 * REFUSED, opcodes other than QUERY get NOTIMP, malformed questions get
 * FORMERR, datagrams shorter than a header and responses (QR set) are ignored.
 * Answers larger than 512 bytes are truncated to whole records with TC set.
 */
export class DnsServer {
  /**
   * Every query received with a readable question, oldest first, including
   * those dropped while paused. Mutated in place; see {@link clearLog}.
   */
  readonly queries: DnsQueryLogEntry[] = [];

  readonly #address: string;
  #port: number;
  #socket: Socket | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  readonly #records = new Map<string, RecordSet>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #paused = false;
  #mode: DnsServerMode = 'normal';
  #delay = 0;

  /**
   * Create a server; nothing is bound until {@link start}.
   *
   * @param options - Bind address (default `'127.0.0.53'`) and port
   *   (default `0`, an ephemeral port chosen on first start).
   * @throws TypeError if the address is not an IP address or the port is
   *   not an integer in 0..65535.
   */
  constructor(options: DnsServerOptions = {}) {
    const address = options.address ?? '127.0.0.53';
    const port = options.port ?? 0;
    if (isIP(address) === 0 || address.includes('%')) {
      throw new TypeError(`DnsServer: address must be an IPv4 or IPv6 address, got ${JSON.stringify(address)}`);
    }
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new TypeError(`DnsServer: port must be an integer in 0..65535, got ${String(port)}`);
    }
    this.#address = address;
    this.#port = port;
  }

  /** The IP address the server binds to. */
  get address(): string {
    return this.#address;
  }

  /**
   * The UDP port: the bound port once started (kept after {@link stop}, and
   * reused by the next {@link start}); before the first start, the port given
   * to the constructor (possibly `0`).
   */
  get port(): number {
    return this.#port;
  }

  /**
   * The server in the form accepted by `dns.Resolver#setServers`:
   * `'127.0.0.53:PORT'`, or `'[::1]:PORT'` for IPv6.
   *
   * @throws Error if the port is still unknown (port 0 and never started).
   */
  get server(): string {
    if (this.#port === 0) {
      throw new Error('DnsServer: the port is not known until start() has completed');
    }
    return isIPv6(this.#address) ? `[${this.#address}]:${this.#port}` : `${this.#address}:${this.#port}`;
  }

  /** Whether the socket is currently bound. */
  get listening(): boolean {
    return this.#socket !== undefined;
  }

  /** Whether queries are currently being dropped; see {@link pause}. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The current answer mode; see {@link setMode}. */
  get mode(): DnsServerMode {
    return this.#mode;
  }

  /** The current answer delay in milliseconds; see {@link setDelay}. */
  get delay(): number {
    return this.#delay;
  }

  /**
   * Bind the UDP socket. Resolves once bound; does nothing if already
   * started. After a {@link stop}, binds the same port again.
   *
   * @throws Error from the socket if binding fails (for example EADDRINUSE).
   */
  async start(): Promise<void> {
    if (this.#stopping !== undefined) await this.#stopping;
    if (this.#socket !== undefined) return;
    if (this.#starting === undefined) {
      this.#starting = this.#bind().finally(() => {
        this.#starting = undefined;
      });
    }
    return this.#starting;
  }

  /**
   * Close the socket and cancel answers still waiting out a delay.
   * Idempotent: resolves immediately if not started.
   */
  async stop(): Promise<void> {
    if (this.#starting !== undefined) {
      try {
        await this.#starting;
      } catch {
        // A failed start leaves nothing to close.
      }
    }
    if (this.#stopping !== undefined) return this.#stopping;
    const socket = this.#socket;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (socket === undefined) return;
    this.#socket = undefined;
    this.#stopping = new Promise<void>((resolve) => {
      socket.close(() => resolve());
    }).finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  /**
   * Replace all records of a name. A name with records (even empty lists)
   * exists: queries for a type it has no records of answer NODATA.
   *
   * @param name - Domain name; case-insensitive, trailing dot optional.
   * @param records - A and AAAA addresses, or a CNAME target, and the TTL
   *   in seconds (integer 0..2147483647, default 5).
   * @throws TypeError on an invalid name, address or TTL, or a cname with addresses.
   */
  setRecords(name: string, records: DnsRecords): void {
    const key = normalizeName(name);
    validateName(key, name);
    const ttl = records.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL) {
      throw new TypeError(`DnsServer: ttl must be an integer number of seconds in 0..${MAX_TTL}, got ${String(ttl)}`);
    }
    const a = (records.a ?? []).map((address) => {
      if (!isIPv4(address)) throw new TypeError(`DnsServer: invalid IPv4 address ${JSON.stringify(address)}`);
      return encodeAnswer({ type: 'A', name: '.', ttl, data: address });
    });
    const aaaa = (records.aaaa ?? []).map((address) => {
      if (!isIPv6(address) || address.includes('%')) throw new TypeError(`DnsServer: invalid IPv6 address ${JSON.stringify(address)}`);
      return encodeAnswer({ type: 'AAAA', name: '.', ttl, data: address });
    });
    let cname: string | undefined;
    if (records.cname !== undefined) {
      cname = normalizeName(records.cname);
      validateName(cname, records.cname);
      // RFC 1034 section 3.6.2: an alias has no other data.
      if (a.length > 0 || aaaa.length > 0) throw new TypeError('DnsServer: a name with a cname has no a or aaaa records');
    }
    this.#records.set(key, { a, aaaa, given: { a: [...(records.a ?? [])], aaaa: [...(records.aaaa ?? [])], ttl, cname } });
  }

  /**
   * Remove a name: it answers NXDOMAIN from now on.
   *
   * @param name - Domain name; case-insensitive, trailing dot optional.
   * @returns Whether the name had records.
   */
  removeRecords(name: string): boolean {
    return this.#records.delete(normalizeName(name));
  }

  /**
   * Simulate a dead server: every datagram is dropped without an answer, so
   * clients time out. Queries are still logged.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Undo {@link pause}: answer queries again. */
  resume(): void {
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
  setMode(mode: DnsServerMode): void {
    if (!MODES.includes(mode)) {
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
  setDelay(ms: number): void {
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
  queryCount(name?: string): number {
    if (name === undefined) return this.queries.length;
    const key = normalizeName(name);
    let count = 0;
    for (const entry of this.queries) if (entry.name === key) count++;
    return count;
  }

  /** Empty {@link queries}. */
  clearLog(): void {
    this.queries.length = 0;
  }

  async #bind(): Promise<void> {
    const socket = createSocket({ type: isIPv6(this.#address) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        socket.close();
        reject(error);
      };
      socket.once('error', onError);
      socket.bind(this.#port, this.#address, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    // Errors after binding (ICMP unreachable and the like) are not fatal.
    socket.on('error', () => {});
    socket.on('message', (message, remote) => {
      this.#onMessage(socket, message, remote);
    });
    this.#port = socket.address().port;
    this.#socket = socket;
  }

  #onMessage(socket: Socket, message: Buffer, remote: RemoteInfo): void {
    const response = this.#handle(message);
    if (response === undefined) return;
    const send = (): void => {
      if (this.#socket !== socket) return;
      socket.send(response, remote.port, remote.address, () => {
        // Send errors are not interesting: the client will time out.
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
  #handle(message: Buffer): Buffer | undefined {
    if (message.length < HEADER_LENGTH) return undefined;
    // Only the header and the one question are read: what follows (answers a query should not
    // carry, an EDNS0 OPT record) is ignored, as a strict full decode would reject odd but valid queries.
    const id = message.readUInt16BE(0);
    const flags = message.readUInt16BE(2);
    if ((flags & FLAG_QR) !== 0) return undefined;
    const question = message.readUInt16BE(4) === 1 ? readQuestion(message) : undefined;

    if (question !== undefined) {
      this.queries.push({ name: normalizeName(question.name), type: typeName(question.type), at: Date.now() });
    }
    if (this.#paused) return undefined;

    const query = { id, flags };
    if (this.#mode === 'garbage') return Buffer.concat([message.subarray(0, 2), GARBAGE]);
    if ((flags & OPCODE_MASK) !== 0) return buildResponse(query, undefined, RCODE_NOTIMP, []);
    if (question === undefined) return buildResponse(query, undefined, RCODE_FORMERR, []);
    if (this.#mode === 'servfail') return buildResponse(query, question, RCODE_SERVFAIL, []);
    if (this.#mode === 'refused') return buildResponse(query, question, RCODE_REFUSED, []);
    if (this.#mode === 'truncated') {
      const response = buildResponse(query, question, RCODE_NOERROR, []);
      response.writeUInt16BE(response.readUInt16BE(2) | dnsPacket.TRUNCATED_RESPONSE, 2);
      return response;
    }
    if (question.class !== 'IN' && question.class !== 'ANY') return buildResponse(query, question, RCODE_REFUSED, []);

    const set = this.#records.get(normalizeName(question.name));
    if (set === undefined) return buildResponse(query, question, RCODE_NXDOMAIN, []);
    if (set.given.cname !== undefined) return buildResponse(query, question, RCODE_NOERROR, this.#aliasAnswers(set, question.type));
    const answers = question.type === 'A' ? set.a : question.type === 'AAAA' ? set.aaaa : [];
    return buildResponse(query, question, RCODE_NOERROR, answers);
  }

  /** The CNAME chain from an alias (its first owner the question), then the A or AAAA records where it ends. */
  #aliasAnswers(alias: RecordSet, type: string): Buffer[] {
    const answers: Buffer[] = [];
    let set: RecordSet | undefined = alias;
    let owner: string | undefined;
    for (let hop = 0; set !== undefined && hop <= MAX_ALIAS_HOPS; hop++) {
      const { ttl, cname } = set.given;
      const name = owner ?? '.';
      const encode = owner === undefined ? encodeAnswer : codecs.answer.encode;
      if (cname === undefined) {
        const addresses = type === 'A' ? set.given.a : type === 'AAAA' ? set.given.aaaa : [];
        for (const data of addresses) answers.push(encode({ type: type as 'A' | 'AAAA', name, ttl, data }));
        break;
      }
      answers.push(encode({ type: 'CNAME', name, ttl, data: cname }));
      owner = cname;
      set = this.#records.get(cname);
    }
    return answers;
  }
}

/** The question after the header, or `undefined` when it is truncated or invalid (FORMERR). */
function readQuestion(message: Buffer): Question | undefined {
  try {
    return codecs.question.decode(message, HEADER_LENGTH);
  } catch {
    return undefined;
  }
}

/** One answer record whose owner is a pointer to the question name. */
function encodeAnswer(answer: dnsPacket.Answer): Buffer {
  // dns-packet writes owner names uncompressed; the root owner (one zero byte) is swapped for the pointer.
  return Buffer.concat([POINTER_TO_QUESTION, codecs.answer.encode(answer).subarray(1)]);
}

/**
 * Encode a response: the question (if any) as the client wrote it, then as many answers as fit in
 * 512 bytes, with TC set when some were left out.
 */
function buildResponse(
  query: { readonly id: number; readonly flags: number },
  question: Question | undefined,
  rcode: number,
  answers: readonly Buffer[],
): Buffer {
  const questions = question === undefined ? [] : [question as dnsPacket.Question];
  const kept: Buffer[] = [];
  let flags = dnsPacket.AUTHORITATIVE_ANSWER | (query.flags & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED)) | rcode;
  let length = dnsPacket.encodingLength({ questions });
  for (const answer of answers) {
    if (length + answer.length > MAX_UDP_RESPONSE) {
      flags |= dnsPacket.TRUNCATED_RESPONSE;
      break;
    }
    kept.push(answer);
    length += answer.length;
  }
  const message = dnsPacket.encode({ type: 'response', id: query.id, flags, questions });
  // ANCOUNT: the answers are appended after dns-packet's header and question.
  message.writeUInt16BE(kept.length, 6);
  return Buffer.concat([message, ...kept], length);
}

/** Lower-case (ASCII only) and drop one trailing dot, except from the root `'.'`. */
function normalizeName(name: string): string {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return lower.length > 1 && lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Check a normalized name given to setRecords. */
function validateName(key: string, original: string): void {
  const invalid = (why: string): TypeError => new TypeError(`DnsServer: invalid domain name ${JSON.stringify(original)}: ${why}`);
  if (key === '.') return;
  if (key.length === 0) throw invalid('empty');
  if (!/^[\x21-\x7e]+$/.test(key)) throw invalid('only printable ASCII without spaces is supported');
  if (key.length > 253) throw invalid('longer than 253 characters');
  for (const label of key.split('.')) {
    if (label.length === 0) throw invalid('empty label');
    if (label.length > 63) throw invalid('label longer than 63 characters');
  }
}

/** The mnemonic of a query type as dns-packet names it, or `TYPE<n>` (RFC 3597). */
function typeName(type: string): string {
  return EXTRA_TYPE_NAMES[type] ?? type.replace(/^UNKNOWN_/, 'TYPE');
}
