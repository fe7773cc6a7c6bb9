// The library the fleet tests run through several tfproxy instances at once, in front of one
// Redis (fleet_test) and of a Redis Cluster (cluster_test): read-modify-write ('take'), two
// writes with work between them ('pair', in a function and in block()), and a slow pair.
#pragma once

namespace tfproxy::testing {

inline constexpr char kFleetLibrary[] = R"(#!js api_version=1.0 name=fleet
redis.registerFunction('take', function(client){
  var n = parseInt(client.call('get', 'stock'));
  if (n > 0) {
    client.call('set', 'stock', String(n - 1));
    client.call('incr', 'sold');
    return 1;
  }
  return 0;
});
redis.registerFunction('pair', function(client){
  client.call('incr', 'a');
  var spin = 0;
  for (var i = 0; i < 20000; i++) { spin += i; }
  client.call('incr', 'b');
  return spin > 0 ? 1 : 0;
});
redis.registerAsyncFunction('pair_block', async function(client){
  client.block(function(c){
    c.call('incr', 'a');
    c.call('incr', 'b');
  });
  return 1;
});
redis.registerFunction('slow_pair', function(client, ms){
  client.call('incr', 'a');
  var until = Date.now() + parseInt(ms);
  while (Date.now() < until) {}
  client.call('incr', 'b');
  return 1;
});)";

}  // namespace tfproxy::testing
