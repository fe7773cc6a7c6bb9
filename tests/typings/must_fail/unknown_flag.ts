// expect: TS2769
// No overload takes a flag that does not exist.
import { redis } from '@redis/gears-api';
redis.registerFunction('f', () => 1, {flags: ['no-write']});
