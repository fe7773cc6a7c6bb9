// Debugging a library through the DevTools protocol, as Chrome DevTools does: TFUNCTION LOAD
// DEBUG, the target listed at /json/list, a breakpoint in a function that TFCALL runs, its
// arguments and locals read while paused, a step, resuming, and a debugger that leaves while
// the function is paused (the call completes).
// Usage: node debugger_scenario.mjs PROXY_PORT DEBUG_PORT
import { createClient } from 'redis';
import { checks } from './checks.mjs';
import WebSocket from 'ws';

const [proxyPort, debugPort] = process.argv.slice(2);
const { failures, check, finish } = checks();
const withTimeout = (promise, what, ms = 10000) => Promise.race([promise, new Promise(
    (_, reject) => setTimeout(() => reject(new Error('timed out: ' + what)), ms))]);

const code = [
  '#!js api_version=1.0 name=dbg',
  "redis.registerFunction('add', function(client, a, b) {",
  '  var sum = parseInt(a) + parseInt(b);',
  '  var doubled = sum * 2;',
  '  return doubled;',
  '});',
].join('\n');

const redis = createClient({ socket: { port: Number(proxyPort), host: '127.0.0.1' } });
await redis.connect();
check('LOAD DEBUG:', await redis.sendCommand(['TFUNCTION', 'LOAD', 'DEBUG', 'REPLACE', code]) === 'OK');
const caller = redis.duplicate();
await caller.connect();

const targets = await (await fetch(`http://127.0.0.1:${debugPort}/json/list`)).json();
check('one target:', targets.length === 1 && targets[0].title === 'dbg', JSON.stringify(targets));

// A DevTools-protocol connection: commands answered by id, events waited for by method.
async function connect(url) {
  const ws = new WebSocket(url);
  await withTimeout(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }), 'open');
  let nextId = 1;
  const pending = new Map();
  const events = [];
  const waiters = [];
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.id !== undefined && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
      return;
    }
    events.push(message);
    for (const w of [...waiters]) {
      const at = events.findIndex((e) => e.method === w.method);
      if (at >= 0) { waiters.splice(waiters.indexOf(w), 1); w.resolve(events.splice(at, 1)[0]); }
    }
  });
  return {
    ws,
    send(method, params = {}) {
      const id = nextId++;
      ws.send(JSON.stringify({ id, method, params }));
      return withTimeout(new Promise((resolve) => pending.set(id, resolve)), method);
    },
    event(method) {
      const at = events.findIndex((e) => e.method === method);
      if (at >= 0) return Promise.resolve(events.splice(at, 1)[0]);
      return withTimeout(new Promise((resolve) => waiters.push({ method, resolve })), method);
    },
  };
}

const devtools = await connect(targets[0].webSocketDebuggerUrl);
await devtools.send('Runtime.enable');
await devtools.send('Debugger.enable');
const parsed = await devtools.event('Debugger.scriptParsed');
check('the library\'s script is known:', parsed.params.url === 'dbg', JSON.stringify(parsed.params));
const breakpoint = await devtools.send('Debugger.setBreakpointByUrl', { url: 'dbg', lineNumber: 2 });
check('the breakpoint resolves:', breakpoint.result?.locations?.length === 1, JSON.stringify(breakpoint));

// TFCALL pauses at the breakpoint; the arguments and locals are readable; a step moves on.
const call = caller.sendCommand(['TFCALL', 'dbg.add', '0', '20', '22']);
const paused = await devtools.event('Debugger.paused');
const frame = paused.params.callFrames[0];
check('paused on line 3:', frame.location.lineNumber === 2, JSON.stringify(frame.location));
const args = await devtools.send('Debugger.evaluateOnCallFrame',
                                 { callFrameId: frame.callFrameId, expression: 'a + "," + b' });
check('the arguments are readable:', args.result?.result?.value === '20,22', JSON.stringify(args));
await devtools.send('Debugger.stepOver');
await devtools.event('Debugger.resumed');
const stepped = await devtools.event('Debugger.paused');
const next = stepped.params.callFrames[0];
check('a step reaches line 4:', next.location.lineNumber === 3, JSON.stringify(next.location));
const sum = await devtools.send('Debugger.evaluateOnCallFrame',
                                { callFrameId: next.callFrameId, expression: 'sum' });
check('a local is readable:', sum.result?.result?.value === 42, JSON.stringify(sum));
await devtools.send('Debugger.resume');
check('the call answers once resumed:', await withTimeout(call, 'TFCALL') === 84);

// Without the breakpoint the function runs through.
await devtools.send('Debugger.removeBreakpoint', { breakpointId: breakpoint.result.breakpointId });
check('no pause without a breakpoint:',
      await withTimeout(caller.sendCommand(['TFCALL', 'dbg.add', '0', '1', '2']), 'TFCALL') === 6);

// The debugger leaves while the function is paused: the call completes.
await devtools.send('Debugger.setBreakpointByUrl', { url: 'dbg', lineNumber: 3 });
const left = caller.sendCommand(['TFCALL', 'dbg.add', '0', '5', '5']);
await devtools.event('Debugger.paused');
devtools.ws.close();
check('the call completes after the debugger left:', await withTimeout(left, 'TFCALL') === 20);
check('other clients were served:', await redis.sendCommand(['PING']) === 'PONG');

await caller.quit();
await redis.quit();
finish();
