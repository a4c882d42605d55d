// Starts fauxqs, an SQS (and SNS) server, on loopback for Trawl's Go tests
// (internal/testutil/sqsserver starts it).
//
//   node server.mjs [PORT]      (or FAUXQS_PORT=PORT; 0 or none: any free port)
//
// Binds 127.0.0.1 only (fauxqs's own CLI binds 0.0.0.0), prints one line
// "listening <port>" once it accepts connections, and exits when its stdin
// closes (the test that started it died, however it died) or on SIGTERM,
// SIGINT or SIGHUP. Started with stdin at /dev/null it exits at once: give it
// a pipe or a terminal. FAUXQS_LOGGER=true logs every request to stdout.
import { buildApp } from "fauxqs";

const arg = process.argv[2] ?? process.env.FAUXQS_PORT ?? "0";
const port = Number(arg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.mjs: bad port ${JSON.stringify(arg)}`);
  process.exit(2);
}

const app = buildApp({ logger: process.env.FAUXQS_LOGGER === "true", defaultRegion: "us-east-1" });

// The state is in memory and nobody else uses it: nothing to close first.
const stop = () => process.exit(0);
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, stop);
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.on("error", stop);
process.stdin.resume();

try {
  await app.listen({ host: "127.0.0.1", port });
} catch (err) {
  console.error(`server.mjs: listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
}
process.stdout.write(`listening ${app.server.address().port}\n`);
