/**
 * The ONNX model builder (onnx_model.ts) as a line server, for peers written in
 * other languages (scripts/peers/opencv_peer.py): each stdin line is an
 * OnnxBatchNormSpec as JSON, each stdout line the serialized model in base64,
 * or `{"error": "..."}` for a spec it cannot build. Non-finite values are
 * written as in fixtures: the strings "NaN", "Infinity", "-Infinity". Exits at the end of stdin.
 * Needs --allow-read (onnx-proto from node_modules).
 *
 * @module
 */

import { encodeBase64 } from "./_base64.ts";
import { buildBatchNormModel, type OnnxBatchNormSpec } from "./onnx_model.ts";

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
const special = (_key: string, v: unknown) => (typeof v === "string" && v in SPECIAL ? SPECIAL[v] : v);
const encoder = new TextEncoder();
let pending = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (!line.trim()) continue;
    let reply: string;
    try {
      reply = encodeBase64(buildBatchNormModel(JSON.parse(line, special) as OnnxBatchNormSpec));
    } catch (e) {
      reply = JSON.stringify({ error: (e as Error).message });
    }
    await Deno.stdout.write(encoder.encode(reply + "\n"));
  }
}
