#!js api_version=1.0 name=lib
// registerFunction with an `async function` (a coroutine) names its client's type.
import { redis, NativeAsyncClient } from '@redis/gears-api';

redis.registerFunction('test', async function(client: NativeAsyncClient){
    return client.block(function(redis_client){
        return redis_client.call('ping');
    });
});
