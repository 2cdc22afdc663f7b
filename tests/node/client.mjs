// Drives a running Seller Verify server from Node.js, loading protos/ directly.
// Usage: node client.mjs <address> <token> <extra-include-dir>; prints one JSON object.
import path from "node:path";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const [address, token, wellKnown] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const protos = path.resolve(here, "../../protos");

const definition = protoLoader.loadSync(
  ["sellerverify/v1/identity.proto"],
  { includeDirs: [protos, wellKnown], keepCase: true, longs: String, enums: String, defaults: true },
);
const loaded = grpc.loadPackageDefinition(definition);
const Identity = loaded.sellerverify.v1.IdentityService;

const creds = grpc.credentials.createInsecure();
const client = new Identity(address, creds);
const authed = new grpc.Metadata();
authed.add("authorization", `Bearer ${token}`);

function call(method, request, metadata) {
  return new Promise((resolve) => {
    client[method](request, metadata, { deadline: Date.now() + 15000 }, (err, response) => {
      if (err) {
        const details = err.metadata?.get("grpc-status-details-bin")?.[0];
        resolve({ ok: false, code: grpc.status[err.code], message: err.details, statusDetailsBase64: details ? Buffer.from(details).toString("base64") : null });
      } else {
        resolve({ ok: true, response });
      }
    });
  });
}

const created = await call("CreateSubject", { request_id: `node-${Date.now()}`, external_ref: `node-user-${Date.now()}`, kind: "SUBJECT_KIND_INDIVIDUAL" }, authed);
const fetched = created.ok ? await call("GetSubject", { subject_id: created.response.subject.subject_id }, authed) : null;
const anonymous = await call("GetSubject", { subject_id: "x" }, new grpc.Metadata());
console.log(JSON.stringify({ created, fetched, anonymous }));
client.close();
