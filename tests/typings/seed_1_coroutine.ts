#!js api_version=1.0 name=lib
// The user guide's first coroutine, through the global `redis`.

redis.registerAsyncFunction('test', async function(){
    return 'test';
});
