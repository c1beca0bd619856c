// A Bulwark component in Node.js: autobahn-js over RawSocket on the one Unix socket the app container gets.
//
// Bulwark mounts the component's socket directory at /run/wamp and says where the socket is and which realm
// to join in the environment (BULWARK_WAMP_SOCKET, BULWARK_WAMP_REALM). The router gives the session its
// identity from the socket it came in on: authid = the app's name (`bulwark app add NAME`), authrole = the
// role given there (or the config's apps.role). The component needs no credentials and no network.
const autobahn = require('autobahn');

const socket = process.env.BULWARK_WAMP_SOCKET ?? '/run/wamp/router.sock';
const realm = process.env.BULWARK_WAMP_REALM ?? 'realm1';

const connection = new autobahn.Connection({
  transports: [{ type: 'rawsocket', path: socket }],
  realm,
  // Reconnect forever: a router restart costs one re-registration, nothing else.
  max_retries: -1,
  initial_retry_delay: 0.2,
  max_retry_delay: 1,
  retry_delay_growth: 1.5,
});

connection.onopen = async (session, details) => {
  // com.example.NAME.hello, NAME being the identity this component's socket gave it.
  const prefix = `com.example.${details.authid}`;
  await session.register(`${prefix}.hello`, ([name = 'world']) => `Hello, ${name}! (from ${details.authid}, Node.js ${process.version})`);
  await session.register(`${prefix}.add`, ([a, b]) => {
    if (typeof a !== 'number' || typeof b !== 'number') throw new autobahn.Error('com.example.error.invalid_argument', ['add takes two numbers']);
    return a + b;
  });
  console.log(`greeter: registered ${prefix}.hello and ${prefix}.add on ${realm} as ${details.authid}/${details.authrole}`);
};

connection.onclose = (reason, details) => {
  console.log(`greeter: connection ${reason}${details?.will_retry ? `, retrying in ${details.retry_delay?.toFixed(1)} s` : ''}`);
  return false; // false: let autobahn keep retrying
};

// As PID 1 of its container the process gets no default SIGTERM action: stop cleanly on it.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    console.log('greeter: stopping');
    connection.close();
    process.exit(0);
  });
}

console.log(`greeter: connecting to ${socket}`);
connection.open();
