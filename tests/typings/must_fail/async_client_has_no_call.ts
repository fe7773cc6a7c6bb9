// expect: TS2339
import { redis } from '@redis/gears-api';
// A coroutine's client cannot run commands outside block().
redis.registerAsyncFunction('f', async function(client) {
  return client.call('get', 'k');
});
