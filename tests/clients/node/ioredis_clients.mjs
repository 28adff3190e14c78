// ioredis scripting and pub/sub against a server at 127.0.0.1:PORT (argv[2]): a command
// defined with defineCommand (EVALSHA, falling back to EVAL after SCRIPT FLUSH), scripts in
// a pipeline and in MULTI, and subscribers on channels and patterns. Prints a JSON
// summary (compared with Redis's by tests/clients/test_node_clients.py); exits non-zero
// on a failure.
import Redis from 'ioredis';

const port = Number(process.argv[2]);
const prefix = `io${Date.now()}:`;
const redis = new Redis({ host: '127.0.0.1', port, keyPrefix: prefix });
const out = {};

redis.defineCommand('incrCapped', {
  numberOfKeys: 1,
  lua: `local v = redis.call('incrby', KEYS[1], ARGV[1])
        if v > tonumber(ARGV[2]) then redis.call('set', KEYS[1], ARGV[2]) return tonumber(ARGV[2]) end
        return v`,
});
out.first = await redis.incrCapped('c', 5, 12);
out.second = await redis.incrCapped('c', 5, 12);
out.third = await redis.incrCapped('c', 5, 12);
await redis.script('FLUSH');
out.afterFlush = await redis.incrCapped('c', 1, 100);  // NOSCRIPT, then EVAL
out.pipeline = await redis.pipeline().incrCapped('p', 2, 3).incrCapped('p', 2, 3).get('p').exec();
out.multi = await redis.multi().incrCapped('m', 1, 9).eval("return redis.call('get', KEYS[1])", 1, 'm').exec();
out.json = await redis.eval("return cjson.encode({n = tonumber(ARGV[1]), s = ARGV[2]})", 0, 7, 'x');
try {
  await redis.eval("return redis.call('incr', KEYS[1])", 1, 'notanumber-key-set-below');
  await redis.set('str', 'abc');
  await redis.eval("return redis.call('incr', KEYS[1])", 1, 'str');
  out.error = 'none';
} catch (e) {
  out.error = e.message.replace(/script: [0-9a-f]{40}/, 'script: <sha>');
}

// pub/sub
const sub = new Redis({ host: '127.0.0.1', port });
const psub = new Redis({ host: '127.0.0.1', port });
// ioredis writes SUBSCRIBE as soon as the socket connects (Redis flags it "loading"), but
// its ready check sends INFO later; a subscription made in between makes that check fail
// and the client reconnect, missing messages, against Redis as against cairn. Wait for
// ready first, as applications that subscribe at startup do.
const ready = (c) => (c.status === 'ready' ? Promise.resolve() : new Promise((r) => c.once('ready', r)));
await Promise.all([ready(sub), ready(psub)]);
const messages = [];
sub.on('message', (channel, message) => messages.push(['message', channel, message]));
psub.on('pmessage', (pattern, channel, message) => messages.push(['pmessage', pattern, channel, message]));
out.subscribed = await sub.subscribe(`${prefix}news`, `${prefix}sport`);
out.psubscribed = await psub.psubscribe(`${prefix}n*`);
const pub = new Redis({ host: '127.0.0.1', port });
await ready(pub);
out.receivers = [];
for (let i = 0; i < 20; i++) out.receivers.push(await pub.publish(`${prefix}news`, `m${i}`));
out.receivers.push(await pub.publish(`${prefix}sport`, 'goal'));
out.numsub = (await pub.pubsub('NUMSUB', `${prefix}news`)).map((x) => String(x).replace(prefix, ''));
const deadline = Date.now() + 5000;
while (messages.length < 41 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
messages.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
out.messages = messages.map((m) => m.map((s) => s.replace(prefix, '')));
await sub.unsubscribe();
out.afterUnsubscribe = await sub.ping();

console.log(JSON.stringify(out));
for (const c of [redis, sub, psub, pub]) c.disconnect();
if (messages.length !== 41) {
  console.error(`received ${messages.length} messages of 41`);
  process.exit(1);
}
process.exit(0);
