// Libraries of the user guide (the seed document) that more than one test loads, verbatim.
#pragma once

namespace tfproxy::testing {

// "Blocking Redis commands": pops until the expected value comes (callAsync inside block()).
inline constexpr char kSeedMyBlpop[] = R"(#!js api_version=1.0 name=lib

redis.registerAsyncFunction('my_blpop', async function(client, key, expected_val) {
    var res = null
    do {
        res = await client.block((c) => {
            return c.callAsync('blpop', key, '0');
        })
    } while (res[1] != expected_val);
    return res;
});)";

}  // namespace tfproxy::testing
