import { once } from 'node:events';
import http from 'node:http';
import ky from 'ky';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResilientFetch, ResilientAgent } from '../../src/index.js';
import { DnsServer } from '@ridethrough/testbed';

// The client recipes of docs/recipes.md, run for real: ky and the OpenAI SDK with ridethrough's fetch,
// against a host whose DNS answer names a dead address (nothing listens: ECONNREFUSED) before a live one.

const DEAD = '127.0.60.50';
const LIVE = '127.0.60.51';
const requests: { method: string; url: string; body: string }[] = [];
let dns: DnsServer;
let server: http.Server;
let agent: ResilientAgent;

beforeAll(async () => {
  dns = new DnsServer({ address: '127.0.60.3', port: 0 });
  await dns.start();
  dns.setRecords('api.shop.test', { a: [DEAD, LIVE], ttl: 5 });
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/chat/completions') {
        const prompt = (JSON.parse(body) as { messages: { content: string }[] }).messages[0]!.content;
        res.end(
          JSON.stringify({
            id: 'c1',
            object: 'chat.completion',
            created: 0,
            model: 'm',
            choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', content: `echo: ${prompt}`, refusal: null } }],
          }),
        );
      } else {
        res.end(JSON.stringify({ method: req.method, url: req.url, body }));
      }
    });
  });
  server.listen(8080, LIVE);
  await once(server, 'listening');
  // Round-robin over a fresh answer starts with its first address: the dead one is always tried first.
  agent = new ResilientAgent({ dns: { servers: [dns.server], search: [] }, balancer: 'round-robin' });
});

afterAll(async () => {
  await agent?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await dns?.stop();
});

describe('client recipes', () => {
  it('ky with createResilientFetch: GET and a JSON POST (ky passes a Request object) reach the live pod', async () => {
    const api = ky.create({ baseUrl: 'http://api.shop.test:8080/', fetch: createResilientFetch({ agent }), retry: 0, timeout: false });
    for (let i = 0; i < 4; i++) {
      expect(await api.get(`items/${i}`).json()).toEqual({ method: 'GET', url: `/items/${i}`, body: '' });
    }
    const posted = await api.post('orders', { json: { id: 42 }, headers: { 'idempotency-key': 'k1' } }).json();
    expect(posted).toEqual({ method: 'POST', url: '/orders', body: '{"id":42}' });
    // The POST ran exactly once, whatever the dead address did to the attempts.
    expect(requests.filter((r) => r.url === '/orders')).toHaveLength(1);
  });

  it('the OpenAI SDK with createResilientFetch: a completion POST is sent once, to the live pod', async () => {
    const llm = new OpenAI({ baseURL: 'http://api.shop.test:8080/v1', apiKey: 'unused', fetch: createResilientFetch({ agent }), maxRetries: 0 });
    for (const word of ['one', 'two', 'three']) {
      const reply = await llm.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: word }] });
      expect(reply.choices[0]?.message.content).toBe(`echo: ${word}`);
    }
    expect(requests.filter((r) => r.url === '/v1/chat/completions')).toHaveLength(3);
    // The dead address was tried at some point and ejected, so ridethrough really rode through it.
    const endpoints = Object.values(agent.stats).find((o) => o.origin.includes('api.shop.test'))?.endpoints ?? [];
    expect(endpoints.find((e) => e.address === DEAD)?.failures ?? 0).toBeGreaterThan(0);
  });
});
