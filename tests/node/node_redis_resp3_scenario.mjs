// The clients scenario's function calls through node-redis 5 speaking RESP3 (HELLO 3): replies
// keep their RESP3 types -- a function's object arrives as a map.
// Usage: node node_redis_resp3_scenario.mjs PORT
import { createClient } from 'redis5';
import { readFileSync } from 'node:fs';
import { checks } from './checks.mjs';

const port = Number(process.argv[2]);
const { expect, expectError, finish } = checks();

const client = createClient({ socket: { port, host: '127.0.0.1' }, RESP: 3 });
await client.connect();
expect('PING', await client.ping(), 'PONG');
expect('HSET', await client.hSet('r3:h', { a: '1' }), 1);
// A RESP3 map reply (HGETALL) as an object.
expect('HGETALL', { ...(await client.hGetAll('r3:h')) }, { a: '1' });
expect('MULTI', await client.multi().set('r3:m', '1').incr('r3:m').exec(), ['OK', 2]);
const code = readFileSync(new URL('../clients/scenario.js', import.meta.url), 'utf8');
expect('TFUNCTION LOAD', await client.sendCommand(['TFUNCTION', 'LOAD', 'REPLACE', code]), 'OK');
expect('TFCALL', await client.sendCommand(['TFCALL', 'clients.greet', '1', 'r3:greeting', 'resp3']),
       'hello resp3');
await client.del('r3:later');
expect('TFCALLASYNC', await client.sendCommand(['TFCALLASYNC', 'clients.later', '1', 'r3:later']),
       1);
await expectError('thrown', client.sendCommand(['TFCALL', 'clients.fail', '0']),
                  'failed on purpose');
// The function's object: a map in RESP3 (a flat array in RESP2).
expect('shape', { ...(await client.sendCommand(['TFCALL', 'clients.shape', '0'])) },
       { name: 'tfproxy', answer: 42 });
await client.close();
finish();
