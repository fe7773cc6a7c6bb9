#!js api_version=1.0 name=clients
// The library every real client's scenario loads (tests/integration/clients_test.cpp).

redis.registerFunction('greet', function(client, key, name) {
  client.call('set', key, 'hello ' + name);
  return client.call('get', key);
});

redis.registerAsyncFunction('later', async function(client, key) {
  return client.block((c) => c.call('incr', key));
});

redis.registerFunction('fail', function() {
  throw 'failed on purpose';
});

// A map in RESP3, a flat array in RESP2.
redis.registerFunction('shape', function() {
  return {name: 'tfproxy', answer: 42};
});
