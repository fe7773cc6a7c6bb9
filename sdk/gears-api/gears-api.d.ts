// The JavaScript API of tfproxy's libraries -- RedisGears 2 "Triggers and Functions", as
// tfproxy runs it (docs/spec.md §4-§5). Use it from TypeScript or checked JavaScript:
//
//   import { redis } from '@redis/gears-api';
//   redis.registerFunction('hello', (client, key) => client.call('incr', key));
//
// or, without imports, through the global `redis` that every library sees.

/** A command argument: a string, bytes, or a number or BigInt (sent as its decimal text). */
export type RedisArg = string | String | ArrayBuffer | number | bigint;

/**
 * A reply as `call` decodes it (commands from JavaScript always speak RESP3): strings, BigInt
 * integers, numbers for doubles, booleans, null, arrays, Sets, plain objects for maps, and
 * String objects tagged with `__reply_type` for big numbers and verbatim strings. A Redis error
 * reply is thrown as its text.
 */
export type RedisReply =
  | string
  | bigint
  | number
  | boolean
  | null
  | TaggedString
  | RedisReply[]
  | Set<RedisReply>
  | { [field: string]: RedisReply };

/** The same, with strings as ArrayBuffers (`callRaw`, `callAsyncRaw`). */
export type RedisRawReply =
  | ArrayBuffer
  | bigint
  | number
  | boolean
  | null
  | TaggedString
  | RedisRawReply[]
  | Set<RedisRawReply>
  | { [field: string]: RedisRawReply };

/** A big number or verbatim string reply, or a value a function returns as a status reply. */
export interface TaggedString extends String {
  __reply_type?: 'status' | 'verbatim' | 'big_number';
  /** The verbatim string's three-letter format, e.g. "txt". */
  __format?: string;
}

/**
 * What a function may return: converted to the client's reply (RESP2 or RESP3). Any value is
 * accepted -- a plain object becomes a map, `undefined` its string form.
 */
export type FunctionResult = unknown;

/** A function's flags, the values of `redis.functionFlags`. */
export type FunctionFlag = 'no-writes' | 'allow-oom' | 'raw-arguments';

/** The client of synchronous code: functions, `block()` callbacks, sync trigger callbacks. */
export interface NativeClient {
  /** Runs a command now and returns its decoded reply; an error reply is thrown as a string. */
  call(command: string, ...args: RedisArg[]): RedisReply;
  /** The same, strings as ArrayBuffers. */
  callRaw(command: string, ...args: RedisArg[]): RedisRawReply;
  /** Runs a command that may block (`BLPOP k 0`); settles later, as a background job. */
  callAsync(command: string, ...args: RedisArg[]): Promise<RedisReply>;
  callAsyncRaw(command: string, ...args: RedisArg[]): Promise<RedisRawReply>;
  /** Whether this invocation may wait for a promise (TFCALLASYNC, triggers, `block()`). */
  isBlockAllowed(): boolean;
  /** Runs `fn` in the background with an async client; the promise settles with its result. */
  executeAsync<T>(fn: (client: NativeAsyncClient) => Promise<T>): Promise<T>;
  /** RedisAI is not available: every entry point throws "RedisAI is not initialize". */
  redisai: {
    open_model(name: string): never;
    open_script(name: string): never;
  };
}

/** The client of background code: coroutines, `executeAsync`, async triggers, cluster functions. */
export interface NativeAsyncClient {
  /**
   * Runs `fn` atomically: no other command reaches Redis through tfproxy meanwhile. Returns
   * what `fn` returns (a promise it returns releases the lock).
   */
  block<T>(fn: (client: NativeClient) => T): T;
  /** Runs the cluster function `remote` on the shard that holds `key`. */
  runOnKey<T = unknown>(key: string | ArrayBuffer, remote: string, ...args: unknown[]): Promise<T>;
  /** Runs the cluster function `remote` on every shard: `[results, errors]`. */
  runOnShards<T = unknown>(remote: string, ...args: unknown[]): Promise<[T[], string[]]>;
}

export interface FunctionOptions {
  description?: string;
  flags?: FunctionFlag[];
}

export interface KeySpaceTriggerOptions<Data extends object = {}> {
  description?: string;
  /** Runs first, synchronously and without writes; what it adds to `data` the callback sees. */
  onTriggerFired?: (client: NativeClient, data: NotificationsConsumerData & Data) => void;
}

export interface StreamTriggerOptions {
  description?: string;
  /** Entries handed over before the first is done, per stream (default 1). */
  window?: number;
  /** Trim each entry once it was processed (default false). */
  isStreamTrimmed?: boolean;
}

/** What a key space trigger receives. */
export interface NotificationsConsumerData {
  /** The event: "set", "del", "hset", "expired", "evicted"... */
  event: string;
  /** The key, or null when it is not valid UTF-8. */
  key: string | null;
  key_raw: ArrayBuffer;
}

/** What a stream trigger receives: one entry. */
export interface StreamConsumerData {
  /** The entry's ID, [milliseconds, sequence]. */
  id: [bigint, bigint];
  stream_name: string | null;
  stream_name_raw: ArrayBuffer;
  /** Field-value pairs in entry order (a pair's element null when not valid UTF-8). */
  record: [string | null, string | null][];
  record_raw: [ArrayBuffer, ArrayBuffer][];
}

// Callbacks come in two kinds, told apart at run time by the `async` keyword: an `async
// function` is a coroutine and gets the background client (NativeAsyncClient), a normal
// function the sync client (NativeClient). Types cannot see the keyword, so each registration
// takes its usual kind by default -- registerAsyncFunction a coroutine, the others a normal
// function -- and the other kind when the callback names its client's type:
//   redis.registerAsyncFunction('f', function(client: NativeClient, name: string) {...});
//   redis.registerKeySpaceTrigger('t', 'k:', async (client: NativeAsyncClient, data) => {...});
export interface Redis {
  /** A function for TFCALL (and TFCALLASYNC). */
  registerFunction(
    name: string,
    callback: (client: NativeClient, ...args: any[]) => FunctionResult,
    options?: FunctionOptions,
  ): void;
  /** An `async function` registered with registerFunction runs as a coroutine. */
  registerFunction(
    name: string,
    callback: (client: NativeAsyncClient, ...args: any[]) => Promise<FunctionResult>,
    options?: FunctionOptions,
  ): void;
  /** A function that may finish in the background: callable with TFCALLASYNC only. */
  registerAsyncFunction(
    name: string,
    callback: (client: NativeAsyncClient, ...args: any[]) => Promise<FunctionResult>,
    options?: FunctionOptions,
  ): void;
  /** A normal function registered with registerAsyncFunction starts synchronously. */
  registerAsyncFunction(
    name: string,
    callback: (client: NativeClient, ...args: any[]) => FunctionResult,
    options?: FunctionOptions,
  ): void;
  /** Runs on each key space event of a key that starts with `prefix`. */
  registerKeySpaceTrigger<Data extends object = {}>(
    name: string,
    prefix: string | ArrayBuffer,
    callback: (client: NativeClient, data: NotificationsConsumerData & Data) => unknown,
    options?: KeySpaceTriggerOptions<Data>,
  ): void;
  registerKeySpaceTrigger<Data extends object = {}>(
    name: string,
    prefix: string | ArrayBuffer,
    callback: (client: NativeAsyncClient, data: NotificationsConsumerData & Data) => Promise<unknown>,
    options?: KeySpaceTriggerOptions<Data>,
  ): void;
  /** Runs on each entry added to a stream whose key starts with `prefix`. */
  registerStreamTrigger(
    name: string,
    prefix: string | ArrayBuffer,
    callback: (client: NativeClient, data: StreamConsumerData) => unknown,
    options?: StreamTriggerOptions,
  ): void;
  registerStreamTrigger(
    name: string,
    prefix: string | ArrayBuffer,
    callback: (client: NativeAsyncClient, data: StreamConsumerData) => Promise<unknown>,
    options?: StreamTriggerOptions,
  ): void;
  /** A function `runOnKey`/`runOnShards` run; arguments and results cross as JSON or bytes. */
  registerClusterFunction(
    name: string,
    callback: (client: NativeAsyncClient, ...args: any[]) => Promise<unknown>,
  ): void;
  /** The library's configuration (TFUNCTION LOAD CONFIG <json>), `{}` without one. */
  readonly config: { [name: string]: any };
  readonly functionFlags: {
    readonly NO_WRITES: 'no-writes';
    readonly ALLOW_OOM: 'allow-oom';
    readonly RAW_ARGUMENTS: 'raw-arguments';
  };
  /** Writes to tfproxy's log, naming the library and the function or trigger. */
  log(message: string): void;
  v8Version(): string;
  apiVersion(): string;
  redisai: { create_tensor(...args: unknown[]): never };
}

export declare const redis: Redis;

declare global {
  /** The API every library sees as a global. */
  const redis: Redis;
}
