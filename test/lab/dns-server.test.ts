import { createSocket } from 'node:dgram';
import type { Resolver } from 'node:dns/promises';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { DnsServer } from '@ridethrough/testbed';

const servers: DnsServer[] = [];

/** Create a server that afterEach will stop. */
function track(server: DnsServer): DnsServer {
  servers.push(server);
  return server;
}

/** A real c-ares resolver pointed at the server only (loopback). */
async function resolverFor(server: DnsServer): Promise<Resolver> {
  const dns = await import('node:dns');
  const r = new dns.promises.Resolver({ timeout: 200, tries: 1 });
  r.setServers([server.server]);
  return r;
}

/** The error code a promise rejects with. */
async function errorCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
  throw new Error('expected the promise to reject');
}

/** Encode a domain name as uncompressed wire labels. */
function wireName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.split('.').filter((l) => l !== '')) {
    parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'));
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Build a raw query message. */
function rawQuery(options: {
  id?: number;
  flags?: number;
  qdcount?: number;
  ancount?: number;
  arcount?: number;
  question?: Buffer;
  type?: number;
  qclass?: number;
  additional?: Buffer;
}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? 0x1234, 0);
  header.writeUInt16BE(options.flags ?? 0x0100, 2);
  header.writeUInt16BE(options.qdcount ?? 1, 4);
  header.writeUInt16BE(options.ancount ?? 0, 6);
  header.writeUInt16BE(options.arcount ?? 0, 10);
  const parts: Buffer[] = [header];
  if (options.question !== undefined) {
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(options.type ?? 1, 0);
    tail.writeUInt16BE(options.qclass ?? 1, 2);
    parts.push(options.question, tail);
  }
  if (options.additional !== undefined) parts.push(options.additional);
  return Buffer.concat(parts);
}

/** Send one datagram to the server and wait for the reply (undefined on timeout). */
async function exchange(server: DnsServer, message: Buffer, timeoutMs = 300): Promise<Buffer | undefined> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.send(message, server.port, server.address);
    });
  } finally {
    socket.close();
  }
}

/** Decoded header of a response. */
function header(reply: Buffer): {
  id: number;
  qr: boolean;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
} {
  const flags = reply.readUInt16BE(2);
  return {
    id: reply.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    rcode: flags & 0x000f,
    qdcount: reply.readUInt16BE(4),
    ancount: reply.readUInt16BE(6),
    nscount: reply.readUInt16BE(8),
    arcount: reply.readUInt16BE(10),
  };
}

/** RDATA of every answer, assuming an uncompressed question and pointer owners. */
function answerRdata(reply: Buffer, questionLength: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 12 + questionLength;
  for (let i = 0; i < header(reply).ancount; i++) {
    expect(reply.readUInt16BE(offset)).toBe(0xc00c);
    const rdlength = reply.readUInt16BE(offset + 10);
    out.push(reply.subarray(offset + 12, offset + 12 + rdlength));
    offset += 12 + rdlength;
  }
  expect(offset).toBe(reply.length);
  return out;
}

describe('DnsServer', () => {
  let server: DnsServer;
  let r: Resolver;

  beforeEach(async () => {
    server = track(new DnsServer());
    await server.start();
    r = await resolverFor(server);
  });

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  describe('lifecycle', () => {
    it('binds 127.0.0.53 on an ephemeral port and exposes a setServers() string', () => {
      expect(server.address).toBe('127.0.0.53');
      expect(server.port).toBeGreaterThan(0);
      expect(server.server).toBe(`127.0.0.53:${server.port}`);
      expect(server.listening).toBe(true);
    });

    it('cannot report a server string before the ephemeral port is known', () => {
      const fresh = track(new DnsServer({ address: '127.0.0.1' }));
      expect(fresh.port).toBe(0);
      expect(() => fresh.server).toThrow(/start/);
    });

    it('rejects invalid constructor options', () => {
      expect(() => new DnsServer({ address: 'localhost' })).toThrow(TypeError);
      expect(() => new DnsServer({ port: 70000 })).toThrow(TypeError);
      expect(() => new DnsServer({ port: 1.5 })).toThrow(TypeError);
    });

    it('stop() is idempotent and start() afterwards rebinds the same port', async () => {
      server.setRecords('backend.test', { a: ['127.0.0.10'] });
      const port = server.port;
      await server.stop();
      await server.stop();
      expect(server.listening).toBe(false);
      await expect(r.resolve4('backend.test')).rejects.toThrow();

      await server.start();
      expect(server.port).toBe(port);
      expect(server.server).toBe(`127.0.0.53:${port}`);
      // The same resolver configuration keeps working, and records survive.
      await expect(r.resolve4('backend.test')).resolves.toEqual(['127.0.0.10']);
    });

    it('start() is idempotent while running and stop() before start() is harmless', async () => {
      await server.start();
      await Promise.all([server.start(), server.start()]);
      const idle = track(new DnsServer({ address: '127.0.0.1' }));
      await idle.stop();
      expect(idle.listening).toBe(false);
    });

    it('binds an explicit port', async () => {
      const port = server.port;
      await server.stop();
      const explicit = track(new DnsServer({ address: '127.0.0.53', port }));
      await explicit.start();
      expect(explicit.port).toBe(port);
      explicit.setRecords('explicit.test', { a: ['127.0.0.11'] });
      await expect(r.resolve4('explicit.test')).resolves.toEqual(['127.0.0.11']);
    });

    it('fails to start on a port that is taken', async () => {
      const clash = track(new DnsServer({ address: server.address, port: server.port }));
      await expect(clash.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
      expect(clash.listening).toBe(false);
    });
  });

  describe('answers via the real node resolver', () => {
    it('answers A queries with addresses and TTLs', async () => {
      server.setRecords('backend.test', { a: ['127.0.0.2', '127.0.0.3'], ttl: 30 });
      await expect(r.resolve4('backend.test', { ttl: true })).resolves.toEqual([
        { address: '127.0.0.2', ttl: 30 },
        { address: '127.0.0.3', ttl: 30 },
      ]);
    });

    it('uses a default TTL of 5 seconds and accepts TTL 0', async () => {
      server.setRecords('default.test', { a: ['127.0.0.2'] });
      server.setRecords('zero.test', { a: ['127.0.0.3'], ttl: 0 });
      await expect(r.resolve4('default.test', { ttl: true })).resolves.toEqual([{ address: '127.0.0.2', ttl: 5 }]);
      await expect(r.resolve4('zero.test', { ttl: true })).resolves.toEqual([{ address: '127.0.0.3', ttl: 0 }]);
    });

    it('answers AAAA queries, including :: shorthand and IPv4-mapped forms', async () => {
      server.setRecords('v6.test', {
        aaaa: ['::1', '2001:db8::1:0:0:1', '::ffff:10.1.2.3', 'fe80:0:0:0:0:0:0:abcd', '::'],
        ttl: 12,
      });
      await expect(r.resolve6('v6.test', { ttl: true })).resolves.toEqual([
        { address: '::1', ttl: 12 },
        { address: '2001:db8::1:0:0:1', ttl: 12 },
        { address: '::ffff:10.1.2.3', ttl: 12 },
        { address: 'fe80::abcd', ttl: 12 },
        { address: '::', ttl: 12 },
      ]);
    });

    it('keeps A and AAAA apart for a dual-stack name', async () => {
      server.setRecords('dual.test', { a: ['127.0.0.4'], aaaa: ['::1'] });
      await expect(r.resolve4('dual.test')).resolves.toEqual(['127.0.0.4']);
      await expect(r.resolve6('dual.test')).resolves.toEqual(['::1']);
    });

    it('reports an unknown name as ENOTFOUND (NXDOMAIN)', async () => {
      expect(await errorCode(r.resolve4('missing.test'))).toBe('ENOTFOUND');
      expect(await errorCode(r.resolve6('missing.test'))).toBe('ENOTFOUND');
    });

    it('reports a name without records of the queried type as ENODATA', async () => {
      server.setRecords('only-v4.test', { a: ['127.0.0.5'] });
      server.setRecords('empty.test', {});
      expect(await errorCode(r.resolve6('only-v4.test'))).toBe('ENODATA');
      expect(await errorCode(r.resolve4('empty.test'))).toBe('ENODATA');
      expect(await errorCode(r.resolveTxt('only-v4.test'))).toBe('ENODATA');
    });

    it('makes record changes visible on the next query', async () => {
      server.setRecords('pod.test', { a: ['127.0.0.20'], ttl: 30 });
      await expect(r.resolve4('pod.test')).resolves.toEqual(['127.0.0.20']);
      server.setRecords('pod.test', { a: ['127.0.0.21'], ttl: 30 });
      await expect(r.resolve4('pod.test')).resolves.toEqual(['127.0.0.21']);
      server.setRecords('pod.test', { aaaa: ['::1'] });
      expect(await errorCode(r.resolve4('pod.test'))).toBe('ENODATA');
      expect(server.removeRecords('pod.test')).toBe(true);
      expect(server.removeRecords('pod.test')).toBe(false);
      expect(await errorCode(r.resolve4('pod.test'))).toBe('ENOTFOUND');
    });

    it('treats names case-insensitively with an optional trailing dot', async () => {
      server.setRecords('Backend.TEST.', { a: ['127.0.0.6'] });
      await expect(r.resolve4('backend.test')).resolves.toEqual(['127.0.0.6']);
      await expect(r.resolve4('BACKEND.Test')).resolves.toEqual(['127.0.0.6']);
      await expect(r.resolve4('backend.test.')).resolves.toEqual(['127.0.0.6']);
      expect(server.queryCount('BACKEND.test.')).toBe(3);
      expect(server.removeRecords('BACKEND.TEST')).toBe(true);
      expect(await errorCode(r.resolve4('backend.test'))).toBe('ENOTFOUND');
    });

    it('validates records', () => {
      expect(() => server.setRecords('bad.test', { a: ['::1'] })).toThrow(TypeError);
      expect(() => server.setRecords('bad.test', { a: ['127.0.0.256'] })).toThrow(TypeError);
      expect(() => server.setRecords('bad.test', { aaaa: ['127.0.0.1'] })).toThrow(TypeError);
      expect(() => server.setRecords('bad.test', { aaaa: ['1::2::3'] })).toThrow(TypeError);
      expect(() => server.setRecords('bad.test', { aaaa: ['fe80::1%lo'] })).toThrow(TypeError);
      expect(() => server.setRecords('bad.test', { a: ['127.0.0.1'], ttl: -1 })).toThrow(TypeError);
      expect(() => server.setRecords('bad.test', { a: ['127.0.0.1'], ttl: 1.5 })).toThrow(TypeError);
      expect(() => server.setRecords('', { a: ['127.0.0.1'] })).toThrow(TypeError);
      expect(() => server.setRecords('a..test', { a: ['127.0.0.1'] })).toThrow(TypeError);
      expect(() => server.setRecords(`${'x'.repeat(64)}.test`, { a: ['127.0.0.1'] })).toThrow(TypeError);
    });
  });

  describe('outage simulation', () => {
    beforeEach(() => {
      server.setRecords('backend.test', { a: ['127.0.0.2'] });
    });

    it('pause() drops queries so the client times out; resume() answers again', async () => {
      server.pause();
      expect(server.paused).toBe(true);
      expect(await errorCode(r.resolve4('backend.test'))).toBe('ETIMEOUT');
      expect(server.queryCount('backend.test')).toBe(1);
      server.resume();
      expect(server.paused).toBe(false);
      await expect(r.resolve4('backend.test')).resolves.toEqual(['127.0.0.2']);
    });

    it('pause() also drops malformed messages and unknown names', async () => {
      server.pause();
      expect(await exchange(server, rawQuery({ qdcount: 0 }), 150)).toBeUndefined();
      expect(await errorCode(r.resolve4('missing.test'))).toBe('ETIMEOUT');
    });

    it("setMode('servfail') answers SERVFAIL, reported as ESERVFAIL", async () => {
      server.setMode('servfail');
      expect(server.mode).toBe('servfail');
      expect(await errorCode(r.resolve4('backend.test'))).toBe('ESERVFAIL');
      expect(await errorCode(r.resolve4('missing.test'))).toBe('ESERVFAIL');
      const reply = await exchange(server, rawQuery({ question: wireName('backend.test') }));
      expect(reply).toBeDefined();
      expect(header(reply!)).toMatchObject({ rcode: 2, qdcount: 1, ancount: 0 });
    });

    it("setMode('refused') answers REFUSED, reported as EREFUSED", async () => {
      server.setMode('refused');
      expect(await errorCode(r.resolve4('backend.test'))).toBe('EREFUSED');
      expect(await errorCode(r.resolve6('missing.test'))).toBe('EREFUSED');
      const reply = await exchange(server, rawQuery({ question: wireName('backend.test') }));
      expect(header(reply!)).toMatchObject({ rcode: 5, qdcount: 1, ancount: 0 });
    });

    it("setMode('normal') restores answers", async () => {
      server.setMode('refused');
      server.setMode('normal');
      await expect(r.resolve4('backend.test')).resolves.toEqual(['127.0.0.2']);
      expect(() => server.setMode('bogus' as 'normal')).toThrow(TypeError);
    });

    it('pause() wins over the mode', async () => {
      server.setMode('servfail');
      server.pause();
      expect(await errorCode(r.resolve4('backend.test'))).toBe('ETIMEOUT');
    });

    it('setDelay() delays every answer', async () => {
      server.setDelay(80);
      expect(server.delay).toBe(80);
      const started = performance.now();
      await expect(r.resolve4('backend.test')).resolves.toEqual(['127.0.0.2']);
      expect(performance.now() - started).toBeGreaterThanOrEqual(70);
      expect(await errorCode(r.resolve4('missing.test'))).toBe('ENOTFOUND');
      expect(() => server.setDelay(-1)).toThrow(TypeError);
      expect(() => server.setDelay(Number.NaN)).toThrow(TypeError);
    });

    it('a delay longer than the client timeout looks like a timeout', async () => {
      server.setDelay(2_000);
      expect(await errorCode(r.resolve4('backend.test'))).toBe('ETIMEOUT');
      // stop() cancels the pending answer instead of waiting for it.
      await server.stop();
    });
  });

  describe('query log', () => {
    it('logs every query with its name, type and time', async () => {
      server.setRecords('backend.test', { a: ['127.0.0.2'] });
      const before = Date.now();
      await r.resolve4('Backend.Test');
      await r.resolve6('backend.test').catch(() => undefined);
      await r.resolve4('missing.test').catch(() => undefined);
      await r.resolveTxt('backend.test').catch(() => undefined);
      const after = Date.now();

      expect(server.queries.map(({ name, type }) => ({ name, type }))).toEqual([
        { name: 'backend.test', type: 'A' },
        { name: 'backend.test', type: 'AAAA' },
        { name: 'missing.test', type: 'A' },
        { name: 'backend.test', type: 'TXT' },
      ]);
      for (const entry of server.queries) {
        expect(entry.at).toBeGreaterThanOrEqual(before);
        expect(entry.at).toBeLessThanOrEqual(after);
      }
      expect(server.queryCount()).toBe(4);
      expect(server.queryCount('backend.test')).toBe(3);
      expect(server.queryCount('BACKEND.TEST.')).toBe(3);
      expect(server.queryCount('missing.test')).toBe(1);
      expect(server.queryCount('other.test')).toBe(0);

      server.clearLog();
      expect(server.queries).toEqual([]);
      expect(server.queryCount()).toBe(0);
      await r.resolve4('backend.test');
      expect(server.queryCount('backend.test')).toBe(1);
    });

    it('logs unknown types as TYPE<n>', async () => {
      await exchange(server, rawQuery({ question: wireName('x.test'), type: 65280 }));
      expect(server.queries.at(-1)).toMatchObject({ name: 'x.test', type: 'TYPE65280' });
    });
  });

  describe('wire format', () => {
    it('echoes the ID, RD flag and question, sets AA and QR, and compresses owners', async () => {
      server.setRecords('backend.test', { a: ['127.0.0.2', '127.0.0.3'], ttl: 42 });
      const question = wireName('BaCkEnD.test');
      const reply = await exchange(server, rawQuery({ id: 0xbeef, flags: 0x0100, question }));
      expect(reply).toBeDefined();
      expect(header(reply!)).toEqual({
        id: 0xbeef,
        qr: true,
        aa: true,
        tc: false,
        rd: true,
        rcode: 0,
        qdcount: 1,
        ancount: 2,
        nscount: 0,
        arcount: 0,
      });
      // Question echoed byte for byte, including the client's letter case.
      expect(reply!.subarray(12, 12 + question.length + 4)).toEqual(Buffer.concat([question, Buffer.from([0, 1, 0, 1])]));
      const first = 12 + question.length + 4;
      expect(reply!.readUInt16BE(first + 2)).toBe(1); // type A
      expect(reply!.readUInt16BE(first + 4)).toBe(1); // class IN
      expect(reply!.readUInt32BE(first + 6)).toBe(42); // TTL
      expect(answerRdata(reply!, question.length + 4)).toEqual([Buffer.from([127, 0, 0, 2]), Buffer.from([127, 0, 0, 3])]);

      const noRd = await exchange(server, rawQuery({ id: 7, flags: 0, question }));
      expect(header(noRd!)).toMatchObject({ id: 7, rd: false, rcode: 0, ancount: 2 });
    });

    it('answers NXDOMAIN with AA and NODATA with zero answers', async () => {
      server.setRecords('only-v4.test', { a: ['127.0.0.5'] });
      const nx = await exchange(server, rawQuery({ question: wireName('missing.test') }));
      expect(header(nx!)).toMatchObject({ aa: true, rcode: 3, qdcount: 1, ancount: 0 });
      const nodata = await exchange(server, rawQuery({ question: wireName('only-v4.test'), type: 28 }));
      expect(header(nodata!)).toMatchObject({ aa: true, rcode: 0, qdcount: 1, ancount: 0 });
      const mx = await exchange(server, rawQuery({ question: wireName('only-v4.test'), type: 15 }));
      expect(header(mx!)).toMatchObject({ aa: true, rcode: 0, qdcount: 1, ancount: 0 });
    });

    it('encodes AAAA RDATA correctly', async () => {
      server.setRecords('v6.test', {
        aaaa: ['2001:db8::1', '::ffff:192.0.2.1', '64:ff9b::192.0.2.33', '1:2:3:4:5:6:7:8', '::', 'FE80::A:B'],
      });
      const question = wireName('v6.test');
      const reply = await exchange(server, rawQuery({ question, type: 28 }));
      const hex = answerRdata(reply!, question.length + 4).map((b) => b.toString('hex'));
      expect(hex).toEqual([
        '20010db8000000000000000000000001',
        '00000000000000000000ffffc0000201',
        '0064ff9b0000000000000000c0000221',
        '00010002000300040005000600070008',
        '00000000000000000000000000000000',
        'fe8000000000000000000000000a000b',
      ]);
    });

    it('follows compression pointers in the question', async () => {
      // Bytes 5..7 of the header read as the name "x." when the low byte of
      // QDCOUNT (1) is taken as a label length: 0x01 'x' 0x00 (ANCOUNT = 0x7800).
      server.setRecords('backend.x', { a: ['127.0.0.7'] });
      const question = Buffer.concat([Buffer.from([7]), Buffer.from('backend'), Buffer.from([0xc0, 5])]);
      const reply = await exchange(server, rawQuery({ ancount: 0x7800, question }));
      expect(header(reply!)).toMatchObject({ rcode: 0, ancount: 1 });
      expect(server.queries.at(-1)).toMatchObject({ name: 'backend.x', type: 'A' });
    });

    it('answers FORMERR to compression loops and forward pointers', async () => {
      const self = await exchange(server, rawQuery({ question: Buffer.from([0xc0, 12]) }));
      expect(header(self!)).toMatchObject({ id: 0x1234, qr: true, rcode: 1, qdcount: 0 });
      const forward = await exchange(server, rawQuery({ question: Buffer.from([1, 0x61, 0xc0, 20]) }));
      expect(header(forward!)).toMatchObject({ rcode: 1 });
    });

    it('answers FORMERR to malformed messages with a readable header', async () => {
      // Truncated question.
      const truncated = rawQuery({ question: wireName('backend.test') }).subarray(0, 20);
      expect(header((await exchange(server, truncated))!)).toMatchObject({ id: 0x1234, rcode: 1, rd: true });
      // Missing QTYPE/QCLASS.
      const noType = Buffer.concat([rawQuery({}), wireName('backend.test')]);
      expect(header((await exchange(server, noType))!)).toMatchObject({ rcode: 1 });
      // No question at all, or two.
      expect(header((await exchange(server, rawQuery({ qdcount: 0 })))!)).toMatchObject({ rcode: 1 });
      const two = rawQuery({ qdcount: 2, question: wireName('a.test') });
      expect(header((await exchange(server, two))!)).toMatchObject({ rcode: 1 });
      // Label longer than 63 octets (0x40 label type is not supported).
      const longLabel = rawQuery({ question: Buffer.concat([Buffer.from([0x40]), Buffer.alloc(64, 0x61), Buffer.from([0])]) });
      expect(header((await exchange(server, longLabel))!)).toMatchObject({ rcode: 1 });
      // Name longer than 255 octets.
      const longName = rawQuery({ question: wireName(Array.from({ length: 5 }, () => 'a'.repeat(63)).join('.')) });
      expect(header((await exchange(server, longName))!)).toMatchObject({ rcode: 1 });
    });

    it('ignores garbage shorter than a header and responses', async () => {
      expect(await exchange(server, Buffer.from([1, 2, 3, 4, 5]), 150)).toBeUndefined();
      expect(await exchange(server, rawQuery({ flags: 0x8000, question: wireName('a.test') }), 150)).toBeUndefined();
      // Still serving afterwards.
      server.setRecords('alive.test', { a: ['127.0.0.8'] });
      await expect(r.resolve4('alive.test')).resolves.toEqual(['127.0.0.8']);
    });

    it('answers NOTIMP to opcodes other than QUERY', async () => {
      const reply = await exchange(server, rawQuery({ flags: 2 << 11, question: wireName('a.test') }));
      expect(header(reply!)).toMatchObject({ rcode: 4 });
    });

    it('refuses classes other than IN', async () => {
      server.setRecords('version.bind', { a: ['127.0.0.1'] });
      const reply = await exchange(server, rawQuery({ question: wireName('version.bind'), type: 16, qclass: 3 }));
      expect(header(reply!)).toMatchObject({ rcode: 5 });
    });

    it('ignores an EDNS0 OPT record in the additional section', async () => {
      server.setRecords('backend.test', { a: ['127.0.0.2'] });
      // Root owner, TYPE 41, UDP size 1232, extended RCODE/flags (DO), one option (cookie).
      const opt = Buffer.from([0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x80, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8]);
      const question = wireName('backend.test');
      const reply = await exchange(server, rawQuery({ arcount: 1, question, additional: opt }));
      expect(header(reply!)).toMatchObject({ rcode: 0, ancount: 1, arcount: 0 });
      expect(answerRdata(reply!, question.length + 4)).toEqual([Buffer.from([127, 0, 0, 2])]);
    });

    it('truncates answers beyond 512 bytes to whole records and sets TC', async () => {
      const a = Array.from({ length: 40 }, (_, i) => `127.0.1.${i}`);
      server.setRecords('many.test', { a });
      const question = wireName('many.test');
      const reply = await exchange(server, rawQuery({ question }));
      expect(reply!.length).toBeLessThanOrEqual(512);
      const h = header(reply!);
      expect(h.tc).toBe(true);
      expect(h.ancount).toBe(Math.floor((512 - 12 - question.length - 4) / 16));
      expect(answerRdata(reply!, question.length + 4)).toHaveLength(h.ancount);
    });
  });
});

/** Whether IPv6 loopback is usable here (it is missing in some sandboxes). */
async function ipv6LoopbackAvailable(): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = createSocket('udp6');
    probe.once('error', () => {
      probe.close();
      resolve(false);
    });
    probe.bind(0, '::1', () => {
      probe.close();
      resolve(true);
    });
  });
}

describe('DnsServer on ::1', () => {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  it('serves over IPv6 and formats the server string with brackets', async (ctx) => {
    if (!(await ipv6LoopbackAvailable())) ctx.skip('no IPv6 loopback');
    const server = track(new DnsServer({ address: '::1' }));
    await server.start();
    expect(server.server).toBe(`[::1]:${server.port}`);
    server.setRecords('backend.test', { a: ['127.0.0.2'], aaaa: ['::1'] });
    const r = await resolverFor(server);
    await expect(r.resolve4('backend.test')).resolves.toEqual(['127.0.0.2']);
    await expect(r.resolve6('backend.test')).resolves.toEqual(['::1']);
  });
});
