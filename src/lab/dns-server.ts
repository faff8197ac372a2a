/**
 * A small authoritative DNS server speaking the RFC 1035 wire format over UDP.
 *
 * It is meant for tests and for the local "lab", where it stands in for a
 * cluster DNS service (for example kube-dns) whose answers change as
 * simulated pods move between loopback addresses. It answers A (RFC 1035)
 * and AAAA (RFC 3596) queries from an in-memory table, and it can simulate
 * outages: a dead server (queries are dropped), SERVFAIL, REFUSED and slow
 * answers.
 *
 * It is deliberately not a general purpose server: no TCP, no zone transfers,
 * no recursion, no SOA/NS records, no EDNS0 in answers.
 *
 * @module
 */

import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { isIP, isIPv4, isIPv6 } from 'node:net';

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
}

/**
 * How the server answers queries (while not paused); see
 * {@link DnsServer.setMode}.
 *
 * - `'normal'`: answer from the record table.
 * - `'servfail'`: answer SERVFAIL (rcode 2) to every query.
 * - `'refused'`: answer REFUSED (rcode 5) to every query.
 */
export type DnsServerMode = 'normal' | 'servfail' | 'refused';

/** One entry of {@link DnsServer.queries}. */
export interface DnsQueryLogEntry {
  /**
   * The queried name, lower-cased (ASCII only), without trailing dot
   * (the root is `'.'`). Bytes that are not printable ASCII, and `.` or `\`
   * inside a label, are escaped as in zone files (`\DDD`, `\.`, `\\`).
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

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const CLASS_ANY = 255;

const RCODE_NOERROR = 0;
const RCODE_FORMERR = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const RCODE_REFUSED = 5;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const OPCODE_MASK = 0x7800;

const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'A'],
  [2, 'NS'],
  [5, 'CNAME'],
  [6, 'SOA'],
  [12, 'PTR'],
  [13, 'HINFO'],
  [15, 'MX'],
  [16, 'TXT'],
  [28, 'AAAA'],
  [33, 'SRV'],
  [35, 'NAPTR'],
  [41, 'OPT'],
  [43, 'DS'],
  [46, 'RRSIG'],
  [47, 'NSEC'],
  [48, 'DNSKEY'],
  [64, 'SVCB'],
  [65, 'HTTPS'],
  [252, 'AXFR'],
  [255, 'ANY'],
  [257, 'CAA'],
]);

/** A stored name: its answers, already encoded as RDATA. */
interface RecordSet {
  readonly a: readonly Buffer[];
  readonly aaaa: readonly Buffer[];
  readonly ttl: number;
}

/** The question section of a query, as parsed from the wire. */
interface Question {
  /** Raw labels as received (case preserved, for echoing the question). */
  readonly labels: readonly Buffer[];
  /** Normalized presentation form, the key into the record table. */
  readonly name: string;
  readonly type: number;
  readonly qclass: number;
}

/** Thrown internally when a message cannot be parsed. */
class MalformedMessageError extends Error {}

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
 * REFUSED, opcodes other than QUERY get NOTIMP, malformed messages get
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
   * @param records - A and AAAA addresses, and the TTL in seconds
   *   (integer 0..2147483647, default 5).
   * @throws TypeError on an invalid name, address or TTL.
   */
  setRecords(name: string, records: DnsRecords): void {
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
    if (mode !== 'normal' && mode !== 'servfail' && mode !== 'refused') {
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
    const id = message.readUInt16BE(0);
    const flags = message.readUInt16BE(2);
    if ((flags & FLAG_QR) !== 0) return undefined;
    const qdcount = message.readUInt16BE(4);

    let question: Question | undefined;
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

    if (question !== undefined) {
      this.queries.push({ name: question.name, type: typeName(question.type), at: Date.now() });
    }
    if (this.#paused) return undefined;

    const header = { id, flags };
    if ((flags & OPCODE_MASK) !== 0) return buildResponse(header, undefined, RCODE_NOTIMP, []);
    if (malformed || question === undefined) return buildResponse(header, undefined, RCODE_FORMERR, []);
    if (this.#mode === 'servfail') return buildResponse(header, question, RCODE_SERVFAIL, []);
    if (this.#mode === 'refused') return buildResponse(header, question, RCODE_REFUSED, []);
    if (question.qclass !== CLASS_IN && question.qclass !== CLASS_ANY) {
      return buildResponse(header, question, RCODE_REFUSED, []);
    }

    const set = this.#records.get(question.name);
    if (set === undefined) return buildResponse(header, question, RCODE_NXDOMAIN, []);
    const answers: ResourceRecord[] = [];
    if (question.type === TYPE_A) {
      for (const rdata of set.a) answers.push({ type: TYPE_A, ttl: set.ttl, rdata });
    } else if (question.type === TYPE_AAAA) {
      for (const rdata of set.aaaa) answers.push({ type: TYPE_AAAA, ttl: set.ttl, rdata });
    }
    return buildResponse(header, question, RCODE_NOERROR, answers);
  }
}

/** An answer record; its owner is always the question name. */
interface ResourceRecord {
  readonly type: number;
  readonly ttl: number;
  readonly rdata: Buffer;
}

/**
 * Encode a response. The question (if any) is echoed byte for byte; answer
 * owner names are compression pointers to it. Answers that would push the
 * message past 512 bytes are left out and TC is set.
 */
function buildResponse(
  query: { readonly id: number; readonly flags: number },
  question: Question | undefined,
  rcode: number,
  answers: readonly ResourceRecord[],
): Buffer {
  const parts: Buffer[] = [];
  let length = HEADER_LENGTH;
  if (question !== undefined) {
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
    // Owner (pointer, 2) + type (2) + class (2) + ttl (4) + rdlength (2) + rdata.
    const rr = Buffer.alloc(12 + answer.rdata.length);
    let offset = rr.writeUInt16BE(0xc000 | HEADER_LENGTH, 0);
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
  let flags = FLAG_QR | FLAG_AA | (query.flags & (OPCODE_MASK | FLAG_RD)) | rcode;
  if (truncated) flags |= FLAG_TC;
  header.writeUInt16BE(query.id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(question === undefined ? 0 : 1, 4);
  header.writeUInt16BE(ancount, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  return Buffer.concat([header, ...parts], length);
}

function encodedNameLength(labels: readonly Buffer[]): number {
  let length = 1;
  for (const label of labels) length += 1 + label.length;
  return length;
}

/**
 * Parse the single question at `offset`. Anything after it (answer,
 * authority and additional sections, such as an EDNS0 OPT record) is ignored.
 *
 * @throws MalformedMessageError if the question is truncated or invalid.
 */
function parseQuestion(message: Buffer, offset: number): Question {
  const { labels, end } = readName(message, offset);
  if (end + 4 > message.length) throw new MalformedMessageError('question truncated');
  const type = message.readUInt16BE(end);
  const qclass = message.readUInt16BE(end + 2);
  return { labels, name: presentationName(labels), type, qclass };
}

/**
 * Read a possibly compressed domain name (RFC 1035 section 4.1.4).
 *
 * Every compression pointer must point strictly before the start of the
 * label run it was found in, which rules out loops; the name may be at most
 * 255 octets long.
 *
 * @returns The labels and the offset just past the name where it started.
 */
function readName(message: Buffer, start: number): { labels: Buffer[]; end: number } {
  const labels: Buffer[] = [];
  let offset = start;
  let segmentStart = start;
  let end: number | undefined;
  let nameLength = 1;
  for (;;) {
    if (offset >= message.length) throw new MalformedMessageError('name truncated');
    const length = message.readUInt8(offset);
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (offset + 2 > message.length) throw new MalformedMessageError('pointer truncated');
      const target = message.readUInt16BE(offset) & 0x3fff;
      if (target >= segmentStart) throw new MalformedMessageError('compression pointer does not point backwards');
      end ??= offset + 2;
      offset = target;
      segmentStart = target;
      continue;
    }
    if (kind !== 0) throw new MalformedMessageError('unsupported label type');
    if (length === 0) {
      end ??= offset + 1;
      return { labels, end };
    }
    nameLength += 1 + length;
    if (nameLength > 255) throw new MalformedMessageError('name longer than 255 octets');
    if (offset + 1 + length > message.length) throw new MalformedMessageError('label truncated');
    labels.push(message.subarray(offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
}

/**
 * Turn wire labels into the normalized presentation form used as record key:
 * ASCII lower-cased, no trailing dot, special bytes escaped.
 */
function presentationName(labels: readonly Buffer[]): string {
  if (labels.length === 0) return '.';
  const out: string[] = [];
  for (const label of labels) {
    let text = '';
    for (const byte of label) {
      if (byte === 0x2e || byte === 0x5c) {
        text += `\\${String.fromCharCode(byte)}`;
      } else if (byte > 0x20 && byte < 0x7f) {
        text += String.fromCharCode(byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
      } else {
        text += `\\${byte.toString().padStart(3, '0')}`;
      }
    }
    out.push(text);
  }
  return out.join('.');
}

/** Lower-case (ASCII only) and drop one trailing dot, except from the root `'.'`. */
function normalizeName(name: string): string {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return lower.length > 1 && lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Check a normalized name given to setRecords. */
function validateName(key: string, original: string): void {
  const invalid = (why: string): TypeError =>
    new TypeError(`DnsServer: invalid domain name ${JSON.stringify(original)}: ${why}`);
  if (key === '.') return;
  if (key.length === 0) throw invalid('empty');
  if (!/^[\x21-\x7e]+$/.test(key)) throw invalid('only printable ASCII without spaces is supported');
  if (key.length > 253) throw invalid('longer than 253 characters');
  for (const label of key.split('.')) {
    if (label.length === 0) throw invalid('empty label');
    if (label.length > 63) throw invalid('label longer than 63 characters');
  }
}

/** Encode a dotted-quad IPv4 address as 4 octets of RDATA. */
function encodeIPv4(address: string): Buffer {
  if (!isIPv4(address)) throw new TypeError(`DnsServer: invalid IPv4 address ${JSON.stringify(address)}`);
  return Buffer.from(address.split('.').map(Number));
}

/**
 * Encode an IPv6 address as 16 octets of RDATA (RFC 3596), expanding `::`
 * and a trailing dotted-quad (IPv4-mapped or -embedded forms such as
 * `::ffff:192.0.2.1`). Zone ids (`%eth0`) are rejected.
 */
function encodeIPv6(address: string): Buffer {
  if (!isIPv6(address) || address.includes('%')) {
    throw new TypeError(`DnsServer: invalid IPv6 address ${JSON.stringify(address)}`);
  }
  const groups = expandIPv6(address);
  const out = Buffer.alloc(16);
  groups.forEach((group, index) => out.writeUInt16BE(group, index * 2));
  return out;
}

/** Expand a valid textual IPv6 address into its eight 16-bit groups. */
function expandIPv6(address: string): number[] {
  const parseGroups = (part: string): number[] => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const octets = piece.split('.').map(Number);
        const [a = 0, b = 0, c = 0, d = 0] = octets;
        groups.push((a << 8) | b, (c << 8) | d);
      } else {
        groups.push(Number.parseInt(piece, 16));
      }
    }
    return groups;
  };
  const doubleColon = address.indexOf('::');
  let groups: number[];
  if (doubleColon === -1) {
    groups = parseGroups(address);
  } else {
    const head = parseGroups(address.slice(0, doubleColon));
    const tail = parseGroups(address.slice(doubleColon + 2));
    const zeros = Math.max(0, 8 - head.length - tail.length);
    groups = [...head, ...new Array<number>(zeros).fill(0), ...tail];
  }
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) {
    throw new TypeError(`DnsServer: invalid IPv6 address ${JSON.stringify(address)}`);
  }
  return groups;
}

/** The mnemonic of a query type, or `TYPE<n>` (RFC 3597). */
function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}
