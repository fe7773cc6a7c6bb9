// The clients scenario through node-redis (npm `redis`). Usage: node node_redis_scenario.mjs PORT
import { createClient } from 'redis';
import { readFileSync } from 'node:fs';
import { checks } from './checks.mjs';

const port = Number(process.argv[2]);
const { expect, expectError, finish } = checks();

const client = createClient({ socket: { port, host: '127.0.0.1' } });
await client.connect();
expect('PING', await client.ping(), 'PONG');
expect('SET', await client.set('node:k', 'v'), 'OK');
expect('GET', await client.get('node:k'), 'v');
await client.del('node:n');
const incrs = [];
for (let i = 0; i < 100; i++) incrs.push(client.incr('node:n'));  // auto-pipelined
expect('pipeline', (await Promise.all(incrs)).at(-1), 100);
expect('MULTI', await client.multi().set('node:m', '1').incr('node:m').exec(), ['OK', 2]);

const subscriber = client.duplicate();
await subscriber.connect();
const heard = new Promise((resolve) => subscriber.subscribe('node:channel', resolve));
await new Promise((r) => setTimeout(r, 100));
expect('PUBLISH', await client.publish('node:channel', 'hello'), 1);
expect('message', await heard, 'hello');
await subscriber.quit();

const code = readFileSync(new URL('../clients/scenario.js', import.meta.url), 'utf8');
expect('TFUNCTION LOAD', await client.sendCommand(['TFUNCTION', 'LOAD', 'REPLACE', code]), 'OK');
expect('TFCALL', await client.sendCommand(['TFCALL', 'clients.greet', '1', 'node:greeting', 'node']),
       'hello node');
await client.del('node:later');
expect('TFCALLASYNC', await client.sendCommand(['TFCALLASYNC', 'clients.later', '1', 'node:later']),
       1);
await expectError('unknown function', client.sendCommand(['TFCALL', 'clients.missing', '0']),
                  'Unknown function missing');
await expectError('thrown', client.sendCommand(['TFCALL', 'clients.fail', '0']),
                  'failed on purpose');
expect('shape', await client.sendCommand(['TFCALL', 'clients.shape', '0']),
       ['name', 'tfproxy', 'answer', 42]);
await client.quit();
finish();
