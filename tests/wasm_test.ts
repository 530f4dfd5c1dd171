/**
 * The WebAssembly kernels: the binary embedded in src/reference/_wasm_kernels.ts is exactly what
 * `deno task wasm` assembles from src/reference/_kernels.wat (so the shipped bytes are the reviewed source),
 * and it loads here. Their results are held bit for bit to the plain path by tests/fast_path_test.ts.
 */
import { assert, assertEquals } from "@std/assert";
import { assemble, moduleText, OUT, WAT } from "../scripts/generators/build_wasm.ts";
import { KERNELS_BASE64 } from "../src/reference/_wasm_kernels.ts";
import { wasmAvailable } from "../src/reference/_wasm.ts";

const root = new URL("../", import.meta.url);

Deno.test("the embedded WebAssembly is the committed .wat, assembled by the pinned wabt, byte for byte", async () => {
  const bytes = await assemble(await Deno.readTextFile(new URL(WAT, root)));
  const embedded = Uint8Array.from(atob(KERNELS_BASE64), (ch) => ch.charCodeAt(0));
  assertEquals(embedded, bytes, "run `deno task wasm`");
  assertEquals(await Deno.readTextFile(new URL(OUT, root)), moduleText(bytes), "run `deno task wasm`");
});

Deno.test("the kernels validate and load in this runtime (WebAssembly SIMD)", () => {
  const embedded = Uint8Array.from(atob(KERNELS_BASE64), (ch) => ch.charCodeAt(0));
  assert(WebAssembly.validate(embedded));
  assert(wasmAvailable());
});
