// At run time the `redis` object is a global of each library's context; importing it from
// '@redis/gears-api' hands out that global, so that a bundle made with rollup or esbuild runs
// as a library unchanged.
const api = globalThis.redis;
export { api as redis };
