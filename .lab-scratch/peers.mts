import http from 'node:http';
import { Agent, Dispatcher1Wrapper, interceptors, request } from 'undici';
import { DnsServer } from '/work/main/src/lab/dns-server.ts';
import { Resolver } from 'node:dns/promises';
import got, { Options } from 'got';
const dns = new DnsServer({ address: '127.0.100.53' }); await dns.start();
dns.setRecords('svc.lab.test', { a: ['127.0.150.1'] , ttl: 5});
const s = http.createServer((q, res) => res.end('hi')); await new Promise<void>(r => s.listen(8080, '127.0.150.1', () => r()));
let calls = 0;
function lookup(hostname: string, options: any, cb: any) {
  calls++;
  const r = new Resolver(); r.setServers([dns.server]);
  r.resolve4(hostname).then(a => options.all ? cb(null, a.map(address => ({ address, family: 4 }))) : cb(null, a[0], 4), e => cb(e));
}
const agent = new Agent({ connect: { lookup } });
const res = await fetch('http://svc.lab.test:8080/', { dispatcher: new Dispatcher1Wrapper(agent) } as any);
console.log('fetch', res.status, await res.text(), calls);
const ia = new Agent({ connect: { lookup } }).compose(interceptors.dns({ lookup: (origin, opts, cb) => { calls++; const r = new Resolver(); r.setServers([dns.server]); r.resolve4(origin.hostname).then(a => cb(null, a.map(address => ({ address, family: 4 as const })) as any), e => cb(e, [])); } }), interceptors.retry());
const r2 = await request('http://svc.lab.test:8080/', { dispatcher: ia }); console.log('undici', r2.statusCode, await r2.body.text(), calls);
const CL = (new Options({ dnsCache: true }).dnsCache as any).constructor;
const resolver = new Resolver(); resolver.setServers([dns.server]);
const cl = new CL({ resolver, lookup: false });
const r3 = await got('http://svc.lab.test:8080/', { dnsCache: cl, agent: { http: new http.Agent({ keepAlive: true }) } }); console.log('got', r3.statusCode, r3.body, dns.queries.length);
await agent.close(); s.close(); await dns.stop(); process.exit(0);
