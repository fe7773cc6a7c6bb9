// expect: TS2339
// A normal function's client has no block(): only coroutines do.
redis.registerFunction('f', function(client) {
  return client.block(() => 1);
});
