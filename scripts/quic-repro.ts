// Smallest reproduction for issue 19: with ALPN "h3", bytes that a client writes on a
// bidirectional stream never reach the server's `onstream`; the same code with any other ALPN
// echoes them. Cause: node:quic picks its built-in HTTP/3 application (nghttp3) whenever the
// negotiated ALPN is "h3" or "h3-*" (SessionOptions.alpn in @types/node/quic.d.ts), and that
// application parses stream bytes as HTTP/3 frames and owns QPACK; raw stream access is only
// offered to other ALPNs. A real HTTP/3 client must negotiate "h3", so our own HTTP/3 framing and
// QPACK cannot sit on node:quic's streams. Run: bun scripts/quic-repro.ts  (exit 0 = reproduced)
import { connect, listen } from "node:quic";
import { readFileSync } from "node:fs";
import { createPrivateKey } from "node:crypto";

const cert = readFileSync(new URL("../tests/fixtures/tls/cert.pem", import.meta.url));
const key = createPrivateKey(readFileSync(new URL("../tests/fixtures/tls/key.pem", import.meta.url)));

async function echoOnce(alpn: string): Promise<string> {
  let serverStreams = 0;
  const endpoint = await listen((session) => {
    session.onstream = async (stream) => {
      serverStreams++;
      const parts: Uint8Array[] = [];
      for await (const batch of stream) parts.push(...batch);
      stream.setBody(Buffer.concat(parts));
    };
  }, { sni: { "*": { keys: [key], certs: [cert] } }, alpn: [alpn] });
  const client = await connect(`127.0.0.1:${endpoint.address!.port}`, { alpn, verifyPeer: "manual", reuseEndpoint: false });
  await client.opened;
  const stream = await client.createBidirectionalStream({ body: new TextEncoder().encode("ping") });
  const reply = (async () => {
    const parts: Uint8Array[] = [];
    for await (const batch of stream) parts.push(...batch);
    return `reply ${JSON.stringify(Buffer.concat(parts).toString())}`;
  })().catch((e) => `error ${e?.code ?? e}`);
  const outcome = await Promise.race([reply, new Promise<string>((r) => setTimeout(() => r("no reply within 3 s"), 3000))]);
  client.destroy();
  endpoint.destroy();
  return `ALPN ${JSON.stringify(alpn)}: ${outcome}; server onstream called ${serverStreams} time(s)`;
}

const raw = await echoOnce("dream-raw");
const h3 = await echoOnce("h3");
console.log(raw);
console.log(h3);
const reproduced = raw.includes('reply "ping"') && !h3.includes('reply "ping"');
console.log(reproduced ? "REPRODUCED: raw streams work, ALPN h3 streams do not reach the application" : "NOT reproduced");
process.exit(reproduced ? 0 : 1);
