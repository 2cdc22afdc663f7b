// Drives a running Seller Verify server from Node.js, loading protos/ directly (no
// generated code), the way another platform team would.
// Usage: node client.mjs <address> <token>   -> prints one JSON object on stdout.
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const [address, token] = process.argv.slice(2);
if (!address || !token) {
  console.error("usage: node client.mjs <address> <token>");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const protos = path.resolve(here, "../../protos");
// The standard health service definition ships with the grpc-health-check package.
const healthProtos = path.join(path.dirname(require.resolve("grpc-health-check/package.json")), "proto");

// google/protobuf/{descriptor,timestamp}.proto come with protobufjs, which proto-loader
// resolves on its own; only our own folders need listing.
const options = { includeDirs: [protos, healthProtos], keepCase: true, longs: String, enums: String, defaults: true };
const loaded = grpc.loadPackageDefinition(
  protoLoader.loadSync(["sellerverify/v1/identity.proto", "health/v1/health.proto"], options),
);
const creds = grpc.credentials.createInsecure();
const identity = new loaded.sellerverify.v1.IdentityService(address, creds);
const health = new loaded.grpc.health.v1.Health(address, creds);

// google.rpc.Status and the two detail types the server sends (field numbers from
// googleapis' google/rpc/status.proto and error_details.proto).
const rpc = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        rpc: {
          nested: {
            Status: { fields: { code: { type: "int32", id: 1 }, message: { type: "string", id: 2 }, details: { rule: "repeated", type: "Any", id: 3 } } },
            Any: { fields: { type_url: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } },
            ErrorInfo: { fields: { reason: { type: "string", id: 1 }, domain: { type: "string", id: 2 }, metadata: { keyType: "string", type: "string", id: 3 } } },
            FieldViolation: { fields: { field: { type: "string", id: 1 }, description: { type: "string", id: 2 } } },
            BadRequest: { fields: { field_violations: { rule: "repeated", type: "FieldViolation", id: 1 } } },
          },
        },
      },
    },
  },
});
const Status = rpc.lookupType("google.rpc.Status");
const detailTypes = {
  "type.googleapis.com/google.rpc.ErrorInfo": rpc.lookupType("google.rpc.ErrorInfo"),
  "type.googleapis.com/google.rpc.BadRequest": rpc.lookupType("google.rpc.BadRequest"),
};

// What a Node caller does with an error: the status code, then the reason code and any
// field violations from the google.rpc.Status in the grpc-status-details-bin trailer.
function describeError(err) {
  const raw = err.metadata?.get("grpc-status-details-bin")?.[0];
  const out = { ok: false, code: grpc.status[err.code], message: err.details, statusDetailsBase64: null, reason: null, domain: null, violations: [] };
  if (!raw) return out;
  out.statusDetailsBase64 = Buffer.from(raw).toString("base64");
  const status = Status.toObject(Status.decode(raw), { defaults: true });
  for (const any of status.details) {
    const type = detailTypes[any.type_url];
    if (!type) continue;
    const detail = type.toObject(type.decode(any.value), { defaults: true });
    if (any.type_url.endsWith("ErrorInfo")) Object.assign(out, { reason: detail.reason, domain: detail.domain });
    else out.violations.push(...detail.field_violations);
  }
  return out;
}

function call(client, method, request, metadata = new grpc.Metadata()) {
  return new Promise((resolve) => {
    client[method](request, metadata, { deadline: Date.now() + 15000 }, (err, response) => {
      resolve(err ? describeError(err) : { ok: true, response });
    });
  });
}

const authed = new grpc.Metadata();
authed.add("authorization", `Bearer ${token}`);
const stamp = `${process.pid}-${Date.now()}`;

const result = {
  health: {
    server: await call(health, "Check", { service: "" }),
    identity: await call(health, "Check", { service: "sellerverify.v1.IdentityService" }),
  },
};
result.created = await call(identity, "CreateSubject", { request_id: `node-${stamp}`, external_ref: `node-user-${stamp}`, kind: "SUBJECT_KIND_INDIVIDUAL" }, authed);
result.fetched = result.created.ok ? await call(identity, "GetSubject", { subject_id: result.created.response.subject.subject_id }, authed) : null;
result.anonymous = await call(identity, "GetSubject", { subject_id: "x" });
result.missingField = await call(identity, "CreateSubject", { request_id: `node-empty-${stamp}` }, authed);
console.log(JSON.stringify(result));
identity.close();
health.close();
