// Two unchanged faye clients talking through Bayou: Alice subscribes, Bob publishes.
//
//   node demo/two-clients.mjs [URL] [websocket|long-polling]
//
// Start Bayou with --anonymous, or set BAYOU_TOKEN to an access token.
//
// URL defaults to http://127.0.0.1:8080/cometd/66.0 and the transport to websocket.
import faye from 'faye';

const url = process.argv[2] ?? 'http://127.0.0.1:8080/cometd/66.0';
const transport = process.argv[3] ?? 'websocket';
if (!['websocket', 'long-polling'].includes(transport)) {
  console.error(`unknown transport ${transport}: use websocket or long-polling`);
  process.exit(2);
}

function client(name) {
  const c = new faye.Client(url, { timeout: 120, retry: 1 });
  // Against a Bayou that requires a login: BAYOU_TOKEN=<access_token>.
  if (process.env.BAYOU_TOKEN) c.setHeader('Authorization', `Bearer ${process.env.BAYOU_TOKEN}`);
  if (transport === 'long-polling') c.disable('websocket');
  c.on('transport:down', () => { if (!closing) console.log(`${name}: connection down, retrying`); });
  c.on('transport:up', () => console.log(`${name}: connected`));
  return c;
}

const alice = client('alice');
const bob = client('bob');
const total = 5;
let received = 0;
let closing = false;

await alice.subscribe('/chat/demo', (message) => {
  received += 1;
  console.log(`alice received over ${transport}:`, JSON.stringify(message));
  if (received === total) {
    console.log(`done: ${total} messages exchanged`);
    closing = true;
    alice.disconnect();
    bob.disconnect();
    setTimeout(() => process.exit(0), 100);
  }
});

for (let i = 1; i <= total; i += 1) {
  await bob.publish('/chat/demo', { from: 'bob', text: `hello #${i}`, sentAt: new Date().toISOString() });
  console.log(`bob published hello #${i}`);
  await new Promise((resolve) => setTimeout(resolve, 300));
}

setTimeout(() => {
  console.error(`only ${received} of ${total} messages arrived`);
  process.exit(1);
}, 10_000).unref();
