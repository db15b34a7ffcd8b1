// Reading the structured details of a gRPC error.
//
// Besides its code and message, an aspflow error carries a google.rpc.Status, serialized in the
// binary trailer `grpc-status-details-bin`, whose `details` hold typed messages: for a domain
// refusal (FAILED_PRECONDITION) a google.rpc.ErrorInfo whose `reason` is the rejection code
// (e.g. "LetterAlreadySent") and whose `metadata` are its fields. Match on `reason` in code,
// never on the English message.
//
// The two google/rpc files are vendored (trimmed) under ../proto and decoded with protobufjs,
// the library @grpc/proto-loader itself is built on.

import * as path from "node:path";

import type * as grpc from "@grpc/grpc-js";
import * as protobuf from "protobufjs";

/** The vendored google/rpc protos: examples/typescript/dist/ -> ../proto. */
const RPC_PROTO_DIR = path.resolve(__dirname, "..", "proto", "google", "rpc");

// keepCase: field names as in the .proto files (type_url), as in the rest of this example.
const root = new protobuf.Root().loadSync(
  [path.join(RPC_PROTO_DIR, "status.proto"), path.join(RPC_PROTO_DIR, "error_details.proto")],
  { keepCase: true },
);
const StatusType = root.lookupType("google.rpc.Status");
const ErrorInfoType = root.lookupType("google.rpc.ErrorInfo");

export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/** google.protobuf.Any as protobufjs decodes it. */
interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/**
 * The google.rpc.ErrorInfo of a gRPC error, or null when the error has none (no
 * `grpc-status-details-bin` trailer, or no ErrorInfo in it).
 */
export function errorInfo(err: grpc.ServiceError): ErrorInfo | null {
  const [raw] = err.metadata?.get("grpc-status-details-bin") ?? [];
  if (!(raw instanceof Buffer)) return null;
  const status = StatusType.toObject(StatusType.decode(raw), { defaults: true }) as {
    details: AnyMessage[];
  };
  for (const any of status.details) {
    if (any.type_url === "type.googleapis.com/google.rpc.ErrorInfo") {
      return ErrorInfoType.toObject(ErrorInfoType.decode(any.value), { defaults: true }) as ErrorInfo;
    }
  }
  return null;
}
