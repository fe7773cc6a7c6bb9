// expect: TS2345
// Arguments are strings, numbers or bytes: not arrays or objects.
import { redis } from '@redis/gears-api';
redis.registerFunction('f', (client) => client.call('set', 'k', new Map()));
