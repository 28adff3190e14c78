// A BullMQ 5 job queue against a server at 127.0.0.1:PORT (argv[2]): hundreds of jobs
// taken by several workers, delayed jobs, jobs that fail and are retried, and QueueEvents
// reporting completions. Prints a JSON summary; exits non-zero on any mismatch. Run
// against cairn and against Redis by tests/clients/test_node_clients.py.
import { Queue, Worker, QueueEvents } from 'bullmq';

const port = Number(process.argv[2]);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
// One hash tag for every key, as BullMQ asks of Redis Cluster (cairn's cluster mode too).
const prefix = '{bull}';
const name = `q${Date.now()}`;
const JOBS = 300, DELAYED = 20, FLAKY = 20;

function fail(msg) {
  console.error(msg);
  process.exit(1);
}

const queue = new Queue(name, { connection, prefix });
const events = new QueueEvents(name, { connection, prefix });
await events.waitUntilReady();

const completedByEvents = new Set();
events.on('completed', ({ jobId }) => completedByEvents.add(jobId));

const processed = new Map();  // job name -> times processed
const attempts = new Map();
const workers = [];
for (let w = 0; w < 4; w++) {
  workers.push(new Worker(name, async (job) => {
    attempts.set(job.name, (attempts.get(job.name) || 0) + 1);
    if (job.name.startsWith('flaky') && job.attemptsMade === 0) throw new Error('first try fails');
    if (job.name.startsWith('delayed') && Date.now() - job.timestamp < job.opts.delay) {
      throw new Error('a delayed job ran early');
    }
    processed.set(job.name, (processed.get(job.name) || 0) + 1);
    return { doubled: job.data.n * 2 };
  }, { connection, prefix, concurrency: 5 }));
}

const added = [];
for (let i = 0; i < JOBS; i++) added.push(queue.add(`job${i}`, { n: i }));
for (let i = 0; i < DELAYED; i++) added.push(queue.add(`delayed${i}`, { n: i }, { delay: 300 + 10 * i }));
for (let i = 0; i < FLAKY; i++) {
  added.push(queue.add(`flaky${i}`, { n: i }, { attempts: 3, backoff: { type: 'fixed', delay: 100 } }));
}
const jobs = await Promise.all(added);
const total = JOBS + DELAYED + FLAKY;

const deadline = Date.now() + 60000;
while (Date.now() < deadline) {
  const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
  if (counts.completed === total && completedByEvents.size === total) break;
  await new Promise((r) => setTimeout(r, 100));
}
const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
const result = await jobs[7].waitUntilFinished(events, 10000).catch((e) => fail(`waitUntilFinished: ${e}`));
const summary = { counts, events: completedByEvents.size, result };
console.log(JSON.stringify(summary));
if (counts.completed !== total) fail(`completed ${counts.completed} of ${total}`);
if (completedByEvents.size !== total) fail(`QueueEvents saw ${completedByEvents.size} of ${total}`);
for (const [job, n] of processed) if (n !== 1) fail(`${job} completed ${n} times`);
for (let i = 0; i < FLAKY; i++) if (attempts.get(`flaky${i}`) !== 2) fail(`flaky${i} ran ${attempts.get(`flaky${i}`)} times`);
if (result.doubled !== 14) fail(`job7's result ${JSON.stringify(result)}`);

await Promise.all(workers.map((w) => w.close()));
await events.close();
await queue.obliterate({ force: true });
await queue.close();
process.exit(0);
