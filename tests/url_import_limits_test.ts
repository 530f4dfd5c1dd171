/**
 * What README.md says importing mod.ts by URL needs, each claim tested: Deno 2 refuses an import from a host outside
 * its default list without `--allow-import=HOST`, and a server must send `.ts` with a type Deno reads as TypeScript
 * (application/typescript, or text/plain and other types it resolves by the extension), not as JavaScript and not as
 * what Debian's /etc/mime.types gives Python's http.server for `.ts` (text/vnd.trolltech.linguist).
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { runDeno } from "./_deno.ts";

const root = new URL("../", import.meta.url);

function serve(tsType: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.split("/").includes("..")) return new Response("forbidden", { status: 403 });
    try {
      const body = await Deno.readFile(new URL(`.${path}`, root));
      return new Response(body, { headers: { "content-type": path.endsWith(".ts") ? tsType : "application/json" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

async function importMod(tsType: string, allowImport: boolean) {
  const server = serve(tsType);
  try {
    const host = `127.0.0.1:${server.addr.port}`;
    const program =
      `import { tensor } from "http://${host}/mod.ts"; console.log(tensor("float32", [1, 1], [0.5]).data[0]);`;
    const args = [
      "run",
      "--no-config",
      "--no-lock",
      "--reload",
      ...(allowImport ? [`--allow-import=${host}`] : []),
      "-",
    ];
    return await runDeno(args, { stdin: program });
  } finally {
    await server.shutdown();
  }
}

Deno.test("importing mod.ts from a host outside Deno's default list needs --allow-import=HOST", async () => {
  const refused = await importMod("application/typescript", false);
  assertEquals(refused.code, 1);
  assertStringIncludes(refused.stderr, "--allow-import");
  const allowed = await importMod("application/typescript", true);
  assertEquals([allowed.code, allowed.stdout.trim()], [0, "0.5"], allowed.stderr);
});

Deno.test("the server must send .ts as TypeScript (or a type Deno resolves by extension), not JavaScript", async () => {
  for (const ok of ["application/typescript", "text/plain"]) {
    const r = await importMod(ok, true);
    assertEquals(r.code, 0, `${ok}: ${r.stderr}`);
  }
  const python = await importMod("text/vnd.trolltech.linguist", true); // Debian's mime.types, as http.server sends it
  assertEquals(python.code, 1);
  assertStringIncludes(python.stderr, "Expected a JavaScript or TypeScript module");
  const javascript = await importMod("application/javascript", true); // TypeScript syntax read as JavaScript
  assertEquals(javascript.code, 1);
});
