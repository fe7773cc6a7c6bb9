// expect: TS2769
// A stream trigger's window is a number.
import { redis } from '@redis/gears-api';
redis.registerStreamTrigger('t', 's:', () => {}, {window: '4'});
