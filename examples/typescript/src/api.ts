// A small, typed aspflow client on @grpc/grpc-js: loads the .proto files at run time (no
// protoc, no generated code), sends the caller's credentials with every call and turns unary
// calls into promises.

import * as fs from "node:fs";
import * as path from "node:path";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

import type {
  CaseView,
  ExecuteRequest,
  ExecuteResponse,
  GetCaseRequest,
  GetHistoryRequest,
  GetHistoryResponse,
  GetServerInfoRequest,
  GetServerInfoResponse,
  OpenFormalCaseRequest,
  SubscribeRequest,
  SubscribeResponse,
} from "./types";

/** The repository's proto directory: examples/typescript/dist/ -> ../../../proto. */
export const DEFAULT_PROTO_DIR = path.resolve(__dirname, "..", "..", "..", "proto");

/**
 * Options for @grpc/proto-loader. They decide the JS shape of every message (see types.ts).
 *
 * - `longs: String`: uint64 positions and versions as exact decimal strings; `Number` would
 *   round values above 2^53 without an error (see `U64` in types.ts).
 * - `enums: String`, `defaults: true`, `oneofs: true`: enums by name, every scalar field
 *   present (so `replayed` is `false`, not `undefined`), and a virtual field naming the
 *   member set in each oneof (SubscribeResponse.message is "event" or "checkpoint").
 * - `keepCase: true`: field names as in the .proto files and the API docs (`request_id`).
 */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The roles of aspflow callers (docs/api.md, "Callers"). */
export type Role =
  | "court_liaison"
  | "president"
  | "bureau"
  | "focal_point"
  | "secretariat"
  | "auditor"
  | "observer";

/**
 * Who the client is.
 *
 * - development: the server trusts the metadata `x-aspflow-role` (and `x-aspflow-subject`).
 * - token: `authorization: Bearer <JWT>`; the server takes the subject from the token and
 *   ignores `x-aspflow-subject`. A token granting several roles needs `x-aspflow-role` on
 *   each call to say which one the call acts in (it must be one the token grants).
 */
export type Credentials =
  | { mode: "development"; subject: string }
  | { mode: "token"; token: string };

/** Every unary RPC the walkthrough calls: full method path, request and response types. */
interface UnaryRpcs {
  "aspflow.v1.Server/GetServerInfo": [GetServerInfoRequest, GetServerInfoResponse];
  "aspflow.v1.Cases/OpenFormalCase": [OpenFormalCaseRequest, ExecuteResponse];
  "aspflow.v1.Cases/Execute": [ExecuteRequest, ExecuteResponse];
  "aspflow.v1.Cases/GetCase": [GetCaseRequest, CaseView];
  "aspflow.v1.Cases/GetHistory": [GetHistoryRequest, GetHistoryResponse];
}
export type UnaryRpc = keyof UnaryRpcs;
export type RpcRequest<M extends UnaryRpc> = UnaryRpcs[M][0];
export type RpcResponse<M extends UnaryRpc> = UnaryRpcs[M][1];

/** Per-call options. */
export interface CallOptions {
  /** The role this call acts in (`x-aspflow-role`). */
  role: Role;
  /** Deadline of this attempt, in milliseconds from now (default 10 s). */
  timeoutMs?: number;
  /** Send no credentials at all (to show what the server answers then). */
  anonymous?: boolean;
}

export class AspflowClient {
  private readonly client: grpc.Client;
  private readonly methods: ReadonlyMap<string, protoLoader.MethodDefinition<object, object>>;

  /**
   * @param address `HOST:PORT`
   * @param credentials who the client is (see `Credentials`)
   * @param protoDir the directory holding `aspflow/v1/*.proto`
   * @param caCertPem PEM of the CA that signed the server's certificate: TLS when given,
   *   plaintext (a development server on loopback) when not
   */
  constructor(
    address: string,
    readonly credentials: Credentials,
    protoDir: string = DEFAULT_PROTO_DIR,
    caCertPem?: Buffer,
  ) {
    // Load every aspflow/v1 file; the google/protobuf/*.proto imports are built into
    // proto-loader.
    const files = fs
      .readdirSync(path.join(protoDir, "aspflow", "v1"))
      .filter((f) => f.endsWith(".proto"))
      .map((f) => `aspflow/v1/${f}`);
    const definition = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [protoDir] });

    // Collect each method's path and (de)serializers, keyed "aspflow.v1.Service/Method".
    const methods = new Map<string, protoLoader.MethodDefinition<object, object>>();
    for (const [name, entry] of Object.entries(definition)) {
      if (!name.startsWith("aspflow.v1.") || !isServiceDefinition(entry)) continue;
      for (const [method, def] of Object.entries(entry)) methods.set(`${name}/${method}`, def);
    }
    this.methods = methods;

    const channel = caCertPem ? grpc.credentials.createSsl(caCertPem) : grpc.credentials.createInsecure();
    this.client = new grpc.Client(address, channel);
  }

  /**
   * The metadata of one call. The bearer token is plain request metadata, so it is also sent
   * on a plaintext channel; use TLS (`--ca-cert`) anywhere but on your own machine.
   */
  metadata(opts: CallOptions): grpc.Metadata {
    const md = new grpc.Metadata();
    if (opts.anonymous) return md;
    md.set("x-aspflow-role", opts.role);
    if (this.credentials.mode === "token") {
      md.set("authorization", `Bearer ${this.credentials.token}`);
    } else {
      md.set("x-aspflow-subject", this.credentials.subject);
    }
    return md;
  }

  /** One unary call, one attempt (wrap it in `withRetry` for retries). */
  unary<M extends UnaryRpc>(rpc: M, request: RpcRequest<M>, opts: CallOptions): Promise<RpcResponse<M>> {
    const def = this.method<RpcRequest<M>, RpcResponse<M>>(rpc);
    const deadline = new Date(Date.now() + (opts.timeoutMs ?? 10_000));
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        this.metadata(opts),
        { deadline },
        (err, response) => {
          if (err) reject(err);
          else if (response === undefined) reject(new Error(`${rpc}: empty response`));
          else resolve(response);
        },
      );
    });
  }

  /**
   * EventLog.Subscribe: a server stream (a Node.js Readable of SubscribeResponse). No
   * deadline: the stream stays open, live, until the caller cancels it (`call.cancel()`).
   */
  subscribe(request: SubscribeRequest, opts: CallOptions): grpc.ClientReadableStream<SubscribeResponse> {
    const def = this.method<SubscribeRequest, SubscribeResponse>("aspflow.v1.EventLog/Subscribe");
    return this.client.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      this.metadata(opts),
    );
  }

  close(): void {
    this.client.close();
  }

  private method<Req, Res>(rpc: string): grpc.MethodDefinition<Req, Res> {
    const def = this.methods.get(rpc);
    if (!def) throw new Error(`${rpc} is not in the loaded .proto files`);
    // The loaded definition is untyped; the UnaryRpcs table above is what ties each method to
    // its message types, and it must follow the .proto files.
    return def as unknown as grpc.MethodDefinition<Req, Res>;
  }
}

function isServiceDefinition(
  entry: protoLoader.PackageDefinition[string],
): entry is protoLoader.ServiceDefinition {
  // Message and enum entries carry a `format` field; service entries are maps of methods.
  return !("format" in entry);
}

/** A google.protobuf.Timestamp from an ISO 8601 time ("2018-01-10T09:00:00Z"). */
export function timestamp(iso: string): { seconds: string; nanos: number } {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not a time: ${iso}`);
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** Narrows an unknown error to a gRPC status error. */
export function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === "number";
}

/** "FAILED_PRECONDITION" for grpc.status.FAILED_PRECONDITION, etc. */
export function statusName(code: grpc.status): string {
  return grpc.status[code] ?? `code ${code}`;
}
