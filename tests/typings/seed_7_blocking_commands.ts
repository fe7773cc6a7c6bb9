#!js api_version=1.0 name=lib
import { redis } from '@redis/gears-api';

redis.registerAsyncFunction('my_blpop', async function(client, key, expected_val) {
    var res: any = null
    do {
        res = await client.block((c) => {
            return c.callAsync('blpop', key, '0');
        })
    } while (res[1] != expected_val);
    return res;
});
