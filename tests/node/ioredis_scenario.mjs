// The clients scenario through ioredis. Usage: node ioredis_scenario.mjs PORT
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { checks } from './checks.mjs';

const port = Number(process.argv[2]);
const { expect, expectError, finish } = checks();

const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
await client.connect();
expect('PING', await client.ping(), 'PONG');
expect('SET', await client.set('io:k', 'v'), 'OK');
expect('GET', await client.get('io:k'), 'v');
await client.del('io:n');
const pipeline = client.pipeline();
for (let i = 0; i < 100; i++) pipeline.incr('io:n');
expect('pipeline', (await pipeline.exec()).at(-1), [null, 100]);
expect('MULTI', await client.multi().set('io:m', '1').incr('io:m').exec(), [[null, 'OK'], [null, 2]]);

const subscriber = client.duplicate();
await subscriber.subscribe('io:channel');
const heard = new Promise((resolve) => subscriber.on('message', (channel, text) => resolve(text)));
expect('PUBLISH', await client.publish('io:channel', 'hello'), 1);
expect('message', await heard, 'hello');
subscriber.disconnect();

const code = readFileSync(new URL('../clients/scenario.js', import.meta.url), 'utf8');
expect('TFUNCTION LOAD', await client.call('TFUNCTION', 'LOAD', 'REPLACE', code), 'OK');
expect('TFCALL', await client.call('TFCALL', 'clients.greet', 1, 'io:greeting', 'io'), 'hello io');
await client.del('io:later');
expect('TFCALLASYNC', await client.call('TFCALLASYNC', 'clients.later', 1, 'io:later'), 1);
await expectError('unknown function', client.call('TFCALL', 'clients.missing', 0),
                  'Unknown function missing');
await expectError('thrown', client.call('TFCALL', 'clients.fail', 0), 'failed on purpose');
expect('shape', await client.call('TFCALL', 'clients.shape', 0), ['name', 'tfproxy', 'answer', 42]);
client.disconnect();
finish();
