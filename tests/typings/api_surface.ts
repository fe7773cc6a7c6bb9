#!js api_version=1.1 name=surface
// The rest of the API: options, flags, triggers and their data, cluster functions, raw calls.
import { redis, NativeAsyncClient, StreamConsumerData } from '@redis/gears-api';

redis.registerFunction('flags', (client, key: string) => client.call('get', key), {
  description: 'reads only',
  flags: [redis.functionFlags.NO_WRITES, 'allow-oom'],
});
redis.registerFunction('raw', (client, key: ArrayBuffer) => {
  const bytes = client.callRaw('get', key);
  return bytes instanceof ArrayBuffer ? bytes.byteLength : 0;
}, {flags: [redis.functionFlags.RAW_ARGUMENTS]});
redis.registerFunction('types', (client) => {
  const hash = client.call('hgetall', 'h') as {[field: string]: string};
  const n = client.call('incr', 'n') as bigint;
  const members = client.call('smembers', 's') as Set<string>;
  redis.log(`${Object.keys(hash).length} ${n + 1n} ${members.size} ${redis.apiVersion()}`);
  return client.isBlockAllowed() ? redis.config.greeting ?? 'hi' : null;
});
redis.registerKeySpaceTrigger('audit', 'user:', (client, data) => {
  client.call('lpush', 'audit', data.event, data.key ?? '<binary>', data.key_raw);
}, {
  description: 'audits users',
  onTriggerFired: (client, data) => { (data as any).seen = Date.now(); },
});
const prefix = new Uint8Array([106, 111, 98, 58]).buffer;  // "job:" as bytes
redis.registerKeySpaceTrigger('later', prefix, async (client: NativeAsyncClient, data) => {
  await client.block((c) => c.call('incr', 'jobs:' + data.event));
});
redis.registerStreamTrigger('orders', 'orders:', (client, data: StreamConsumerData) => {
  const [ms, seq] = data.id;
  for (const [field, value] of data.record) {
    client.call('hset', 'order:' + ms + '-' + seq, field ?? '', value ?? '');
  }
}, {window: 4, isStreamTrimmed: true});
redis.registerClusterFunction('count', async (client: NativeAsyncClient, pattern: string) => {
  return client.block((c) => (c.call('keys', pattern) as string[]).length);
});
redis.registerAsyncFunction('total', async (client) => {
  const [counts, errors] = await client.runOnShards<number>('count', 'user:*');
  if (errors.length > 0) throw errors[0];
  const one = await client.runOnKey<number>('user:1', 'count', 'user:*');
  return counts.reduce((a, b) => a + b, 0) + one;
});
redis.registerFunction('status', () => {
  const ok: any = new String('OK');
  ok.__reply_type = 'status';
  return ok;
});
