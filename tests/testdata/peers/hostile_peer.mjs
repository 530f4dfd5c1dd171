// A misbehaving implementation of the subprocess protocol, for the runner's tests.
// Usage: node hostile_peer.mjs MODE [FILE], MODE one of: crash, hang, garbage, shape, outoforder, version, flood,
// stderr, fork-hang, fork-crash, fork-silent.
// Case ids count across restarts (the runner numbers them), so "odd id" misbehaves once per two cases:
// the first case of a run goes wrong, the second must still be answered (as y = x, a plain mismatch).
// Modes fork-hang, fork-crash and fork-silent first start two children that append a dot to the file named by the
// second argument every 50 ms (a heartbeat: the runner's tests watch it stop); then fork-hang hangs on the first
// case, fork-crash exits 3 on it, and fork-silent never says hello.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const mode = process.argv[2];
if (mode.startsWith("fork-")) {
  const beat = `setInterval(() => require("node:fs").appendFileSync(${JSON.stringify(process.argv[3])}, "."), 50)`;
  for (let i = 0; i < 2; i++) spawn(process.execPath, ["-e", beat], { stdio: "ignore" });
  if (mode === "fork-silent") await new Promise(() => {});
}
const send = (m) => process.stdout.write(JSON.stringify(m) + "\n");
for await (const line of createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  if (msg.type === "hello") {
    send({
      type: "hello",
      protocol: "batchnorm-conformance",
      version: mode === "version" ? "2.0" : "1.0",
      name: `hostile ${mode}`,
    });
    continue;
  }
  if (msg.type === "bye") break;
  const bad = msg.id % 2 === 1;
  const echo = { type: "result", id: msg.id, steps: msg.steps.map((s) => ({ outputs: { y: s.x } })) };
  if (!bad) send(echo);
  else if (mode === "crash") {
    process.stderr.write("boom: simulated crash\n");
    process.exit(3);
  } else if (mode === "hang" || mode === "fork-hang") await new Promise(() => {});
  else if (mode === "fork-crash") process.exit(3);
  else if (mode === "garbage") process.stdout.write("this is not JSON\n");
  else if (mode === "shape") {
    send({ ...echo, steps: msg.steps.map(() => ({ outputs: { y: { dtype: "float32", shape: [1], data: [0] } } })) });
  } else if (mode === "outoforder") send({ ...echo, id: msg.id + 100 });
  else if (mode === "flood") process.stdout.write("x".repeat(3 * 1024 * 1024));
  else if (mode === "stderr") process.stderr.write("computing... (this implementation only talks to stderr)\n");
  else send(echo);
}
