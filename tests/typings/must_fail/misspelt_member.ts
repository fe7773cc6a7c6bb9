// expect: TS2551
import { redis } from '@redis/gears-api';
redis.registerFunction('f', () => redis.functionFlags.NO_WRITE);
