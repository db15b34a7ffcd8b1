// aspflow walkthrough: a TypeScript client exercising the gRPC API end to end.
//
//   node dist/walkthrough.js --server HOST:PORT [--token JWT]     (or ASPFLOW_TOKEN=JWT)
//
// Without a token the server must be in development mode (no authentication), and each call
// names its role in the metadata `x-aspflow-role`. With a token, the token must grant the roles
// court_liaison, bureau and president (`aspflow token mint --role court_liaison --role bureau
// --role president ...`); each call still names the one role it acts in with `x-aspflow-role`.
//
// Each step prints one line `CHECK <name>: <details>` once its assertions hold, and the run
// ends with `ALL CHECKS PASSED`. On the first failure it prints `FAILED <name>: <why>` to
// stderr and exits with status 1 (2 for bad command-line arguments).

import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";

import {
  AspflowClient,
  type CallOptions,
  type Credentials,
  DEFAULT_PROTO_DIR,
  type Role,
  type RpcRequest,
  type RpcResponse,
  type UnaryRpc,
  isServiceError,
  statusName,
  timestamp,
} from "./api";
import { consumeOnce, follow, loadState } from "./consumer";
import { errorInfo } from "./errors";
import { withRetry } from "./retry";
import type { CaseView, ExecuteRequest, ExecuteResponse, OpenFormalCaseRequest, RecordedEvent } from "./types";

// ---------------------------------------------------------------------------------------------
// Command line

interface Options {
  server: string;
  token: string | undefined;
  subject: string;
  caCert: string | undefined;
  protoDir: string;
  stateFile: string | undefined;
}

const USAGE = `usage: node dist/walkthrough.js --server HOST:PORT [--token JWT] [--subject NAME]
       [--ca-cert ca.pem] [--proto-dir DIR] [--state-file FILE]

  --server      the aspflow server, e.g. 127.0.0.1:50051 (plaintext unless --ca-cert)
  --token       a bearer token (default: env ASPFLOW_TOKEN); none: development mode
  --subject     development mode: who you are (x-aspflow-subject; default example-typescript)
  --ca-cert     PEM of the CA of the server's certificate: connect over TLS
  --proto-dir   directory holding aspflow/v1/*.proto (default: the repository's proto/)
  --state-file  where the event-log consumer saves its position (default: a temporary
                file, removed after a passing run; an existing file is resumed from)`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: "string" },
      token: { type: "string" },
      subject: { type: "string", default: "example-typescript" },
      "ca-cert": { type: "string" },
      "proto-dir": { type: "string", default: DEFAULT_PROTO_DIR },
      "state-file": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.server) throw new UsageError("--server HOST:PORT is required");
  const token = values.token ?? process.env["ASPFLOW_TOKEN"];
  return {
    server: values.server,
    token: token && token.trim() !== "" ? token.trim() : undefined,
    subject: values.subject,
    caCert: values["ca-cert"],
    protoDir: values["proto-dir"],
    stateFile: values["state-file"],
  };
}

class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// Checks

/** A failed assertion of the walkthrough. */
class CheckFailed extends Error {}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

/** The step running now, named in the failure message. */
let currentStep = "setup";

function pass(name: string, details: string): void {
  console.log(`CHECK ${name}: ${details}`);
}

// ---------------------------------------------------------------------------------------------
// The scenario: Jordan 2017 (README.md), the Court's referral of Jordan's non-compliance in the
// Al Bashir case to the Assembly, then the Bureau seized and the President's open letter.

/** The roles the walkthrough acts in (a token must grant all three). */
const REQUIRED_ROLES: readonly Role[] = ["court_liaison", "bureau", "president"];

/** Reads act as the court liaison (any role may read; see docs/api.md). */
const READ: CallOptions = { role: "court_liaison" };

function openJordanRequest(runId: string): OpenFormalCaseRequest {
  return {
    request_id: randomUUID(),
    act: {
      occurred_at: timestamp("2017-12-12T10:00:00Z"),
      documents: [{ symbol: "ICC-02/05-01/09-309" }],
    },
    facts: {
      requested_state: { iso_code: "JO", name: "Jordan", status: "state_party", region: "asia_pacific" },
      person_sought: { name: "Omar Hassan Ahmad Al Bashir", case_number: "ICC-02/05-01/09" },
      situation: { name: "Darfur, Sudan", trigger_mechanism: "unsc_referral" },
      request: { kind: "arrest_and_surrender", transmitted_on: "2009-03-06", outstanding: true },
    },
    referral: {
      legal_basis: "art_87_7",
      chamber: "Pre-Trial Chamber II",
      // The server refuses a second formal case on the same State and Court decision
      // (DuplicateReferral). The real decision is ICC-02/05-01/09-309; a suffix unique to this
      // run lets the walkthrough run any number of times against one server.
      decision_symbol: `ICC-02/05-01/09-309/RUN-${runId}`,
      decision_date: "2017-12-11",
      transmitted_on: "2017-12-12",
      targets: ["asp", "unsc"],
    },
  };
}

/** The Bureau is seized (A3), 10 January 2018. */
function seizeBureauRequest(caseId: string): ExecuteRequest {
  return {
    case_id: caseId,
    request_id: randomUUID(),
    act: { occurred_at: timestamp("2018-01-10T10:00:00Z") },
    seize_bureau: { meeting_no: "B/2018/1" },
  };
}

/** The President's open letter (A4), 12 January 2018: the reply window runs to 26 January. */
function openLetterRequest(caseId: string): ExecuteRequest {
  return {
    case_id: caseId,
    request_id: randomUUID(),
    act: { occurred_at: timestamp("2018-01-12T10:00:00Z") },
    send_open_letter: {
      letter_ref: "ASP/2018/L1",
      signatory: "O-Gon Kwon",
      addressee: "Minister for Foreign Affairs",
    },
  };
}

/** Between the two acts: after the Bureau was seized, before the letter. */
const BETWEEN_THE_ACTS = "2018-01-11T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Calls

/**
 * One unary call with the retry policy: the request object (and so its request_id) is built
 * by the caller once and resent unchanged on every attempt.
 */
function call<M extends UnaryRpc>(
  client: AspflowClient,
  rpc: M,
  request: RpcRequest<M>,
  opts: CallOptions,
): Promise<RpcResponse<M>> {
  return withRetry(rpc, () => client.unary(rpc, request, opts));
}

/** Every event of a case, following GetHistory's pages. */
async function history(client: AspflowClient, caseId: string): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let from = "1";
  for (;;) {
    const page = await call(client, "aspflow.v1.Cases/GetHistory", { case_id: caseId, from_version: from }, READ);
    events.push(...page.events);
    if (page.next_from_version === "0") return events;
    from = page.next_from_version;
  }
}

/** The request id as events record it: "<length of subject>:<subject>:<request id>". */
function recordedRequestIdMatches(event: RecordedEvent, requestId: string): boolean {
  return event.request_id.endsWith(`:${requestId}`);
}

function caseOf(response: ExecuteResponse, what: string): CaseView {
  check(response.case !== null, `${what}: the response carries no case`);
  return response.case;
}

function describeEvents(events: RecordedEvent[]): string {
  return events.map((e) => `${e.event_type}@${e.global_position}`).join(", ");
}

// ---------------------------------------------------------------------------------------------
// Steps

/** auth (first half): the server accepts our credentials; the actor is checked on open-case. */
async function authenticate(client: AspflowClient): Promise<{ subject: string; how: string }> {
  const creds = client.credentials;
  try {
    await call(client, "aspflow.v1.Server/GetServerInfo", {}, READ);
  } catch (e) {
    if (isServiceError(e) && e.code === grpc.status.UNAUTHENTICATED) {
      throw new CheckFailed(
        creds.mode === "development"
          ? `the server requires a token (${e.details}): pass --token or set ASPFLOW_TOKEN`
          : `the server refused the token: ${e.details}`,
      );
    }
    throw e;
  }
  if (creds.mode === "development") {
    return { subject: creds.subject, how: "x-aspflow-role and x-aspflow-subject metadata" };
  }

  // Token mode. The token's claims, read here only to say early and clearly what is missing;
  // the server alone verifies the token.
  const claims = jwtClaims(creds.token);
  const granted = [...(claims.role !== undefined ? [claims.role] : []), ...(claims.roles ?? [])];
  const missing = REQUIRED_ROLES.filter((r) => !granted.includes(r));
  check(
    missing.length === 0,
    `the token grants ${granted.join(", ") || "no role"}; the walkthrough also needs ${missing.join(", ")} ` +
      `(mint it with --role court_liaison --role bureau --role president)`,
  );
  check(typeof claims.sub === "string", "the token has no subject (sub)");

  // Without the token the same call is refused: authentication is really on.
  try {
    await client.unary("aspflow.v1.Server/GetServerInfo", {}, { ...READ, anonymous: true });
    throw new CheckFailed("the server answered a call without a token: it is not in token mode");
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    check(
      isServiceError(e) && e.code === grpc.status.UNAUTHENTICATED,
      `a call without a token should be UNAUTHENTICATED, got ${String(e)}`,
    );
  }
  return {
    subject: claims.sub,
    how: `bearer token granting ${granted.join(", ")}, x-aspflow-role per call; without it UNAUTHENTICATED`,
  };
}

interface JwtClaims {
  sub?: string;
  role?: string;
  roles?: string[];
}

/** The (unverified) payload of a JWT. */
function jwtClaims(token: string): JwtClaims {
  const payload = token.split(".")[1];
  try {
    return JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8")) as JwtClaims;
  } catch {
    throw new CheckFailed("the token is not a JWT (header.payload.signature, base64url JSON)");
  }
}

async function run(client: AspflowClient, opts: Options): Promise<void> {
  // One id per run, in the referral's decision symbol; every request_id is a fresh UUID.
  const runId = randomUUID().slice(0, 8).toUpperCase();

  // --- auth and open-case ----------------------------------------------------------------------
  currentStep = "auth";
  const auth = await authenticate(client);

  currentStep = "open-case";
  const openRequest = openJordanRequest(runId);
  const opened = await call(client, "aspflow.v1.Cases/OpenFormalCase", openRequest, { role: "court_liaison" });
  const referred = caseOf(opened, "OpenFormalCase");

  // Who the server says we are: the actor it recorded on the opening event. In token mode that
  // is the token's subject, whatever x-aspflow-subject says.
  currentStep = "auth";
  const [opening] = opened.recorded;
  check(opening !== undefined, "OpenFormalCase recorded no event");
  check(
    opening.actor === auth.subject,
    `the server recorded the actor ${opening.actor}, expected ${auth.subject}` +
      (client.credentials.mode === "token" ? " (is the server in development mode, ignoring the token?)" : ""),
  );
  pass("auth", `${client.credentials.mode}, actor recorded by the server: ${opening.actor} (${auth.how})`);

  currentStep = "open-case";
  check(/^NC-2017-\d{4,}$/.test(referred.reference), `unexpected reference ${referred.reference}`);
  check(referred.state === "Referred", `state ${referred.state}, expected Referred`);
  check(referred.version === "1", `version ${referred.version}, expected 1`);
  check(opening.role === "court_liaison", `the opening was recorded in the role ${opening.role}`);
  pass(
    "open-case",
    `${referred.reference} (case ${referred.case_id}), state ${referred.state}, version ${referred.version}, ` +
      `decision ${openRequest.referral.decision_symbol}`,
  );
  const caseId = referred.case_id;

  // --- execute -----------------------------------------------------------------------------------
  currentStep = "execute";
  const seized = await call(client, "aspflow.v1.Cases/Execute", seizeBureauRequest(caseId), { role: "bureau" });
  const afterSeize = caseOf(seized, "seize_bureau");
  check(afterSeize.state === "UnderBureauConsideration", `after seize_bureau: state ${afterSeize.state}`);
  check(afterSeize.version === "2", `after seize_bureau: version ${afterSeize.version}, expected 2`);

  const letterRequest = openLetterRequest(caseId);
  const letter = await call(client, "aspflow.v1.Cases/Execute", letterRequest, { role: "president" });
  const afterLetter = caseOf(letter, "send_open_letter");
  check(afterLetter.state === "AwaitingViews", `after send_open_letter: state ${afterLetter.state}`);
  check(afterLetter.version === "3", `after send_open_letter: version ${afterLetter.version}, expected 3`);
  check(!seized.replayed && !letter.replayed, "a first execution came back as replayed");
  const replyWindow = afterLetter.deadlines.find((d) => d.kind === "reply_window");
  check(replyWindow?.due === "2018-01-26", `reply window due ${replyWindow?.due}, expected 2018-01-26`);
  pass(
    "execute",
    `seize_bureau -> ${afterSeize.state} v${afterSeize.version}; send_open_letter -> ${afterLetter.state} ` +
      `v${afterLetter.version}, reply window due ${replyWindow.due}`,
  );

  // --- retry-same-request-id ---------------------------------------------------------------------
  // As after a timeout: the client cannot tell whether the letter was recorded, so it sends the
  // very same request (same request_id) again. The server answers with the stored outcome.
  currentStep = "retry-same-request-id";
  const again = await call(client, "aspflow.v1.Cases/Execute", letterRequest, { role: "president" });
  check(again.replayed, "the retried request was not replayed: it may have executed twice");
  check(
    describeEvents(again.recorded) === describeEvents(letter.recorded) &&
      again.recorded.every((e, i) => e.hash === letter.recorded[i]?.hash),
    `the replay returned other events: ${describeEvents(again.recorded)} vs ${describeEvents(letter.recorded)}`,
  );
  const replayedCase = caseOf(again, "replay");
  check(replayedCase.version === afterLetter.version, `version ${replayedCase.version} after the replay`);
  const events = await history(client, caseId);
  const letterEvents = events.filter((e) => recordedRequestIdMatches(e, letterRequest.request_id));
  check(
    letterEvents.length === letter.recorded.length,
    `the case history holds ${letterEvents.length} events of the letter's request, expected ${letter.recorded.length}`,
  );
  pass(
    "retry-same-request-id",
    `replayed=${again.replayed}, same events (${describeEvents(again.recorded)}), version still ` +
      `${replayedCase.version}; the history holds them once`,
  );

  // --- refusal -----------------------------------------------------------------------------------
  // A second open letter, as a new request (new request_id): the domain refuses it.
  currentStep = "refusal";
  const secondLetter = openLetterRequest(caseId);
  let refusal: grpc.ServiceError | undefined;
  try {
    await call(client, "aspflow.v1.Cases/Execute", secondLetter, { role: "president" });
  } catch (e) {
    if (!isServiceError(e)) throw e;
    refusal = e;
  }
  check(refusal !== undefined, "a second open letter was accepted");
  check(
    refusal.code === grpc.status.FAILED_PRECONDITION,
    `expected FAILED_PRECONDITION, got ${statusName(refusal.code)}: ${refusal.details}`,
  );
  const info = errorInfo(refusal);
  check(info !== null, "the refusal carries no google.rpc.ErrorInfo");
  check(info.reason === "LetterAlreadySent", `ErrorInfo reason ${info.reason}, expected LetterAlreadySent`);
  const written = (await history(client, caseId)).filter((e) => recordedRequestIdMatches(e, secondLetter.request_id));
  check(written.length === 0, "the refused request recorded events");
  pass(
    "refusal",
    `${statusName(refusal.code)} "${refusal.details}" (ErrorInfo reason ${info.reason}, domain ${info.domain}); ` +
      `nothing recorded`,
  );

  // --- as-of-legal -------------------------------------------------------------------------------
  // The case as it stood in law on 11 January 2018, whatever was recorded later.
  currentStep = "as-of-legal";
  const then = await call(
    client,
    "aspflow.v1.Cases/GetCase",
    { case_id: referred.reference, as_of_legal: timestamp(BETWEEN_THE_ACTS) },
    READ,
  );
  const now = await call(client, "aspflow.v1.Cases/GetCase", { case_id: referred.reference }, READ);
  check(
    then.state === afterSeize.state && then.version === afterSeize.version,
    `as of ${BETWEEN_THE_ACTS}: ${then.state} v${then.version}, expected ${afterSeize.state} v${afterSeize.version}`,
  );
  check(now.state !== then.state, `the case is still ${now.state}`);
  // Now is AwaitingViews, or NoResponse once the server's scheduler has recorded that the reply
  // window (to 2018-01-26) elapsed: with historical dates that happens within a second.
  pass(
    "as-of-legal",
    `as of ${BETWEEN_THE_ACTS}: ${then.state} v${then.version}; now: ${now.state} v${now.version}`,
  );

  // --- subscribe-resume --------------------------------------------------------------------------
  currentStep = "subscribe-resume";
  await subscribeResume(client, opts);
}

/**
 * A durable consumer of the whole event log (see consumer.ts): reads a few events from
 * position 1, disconnects mid-stream, then resumes from its saved position + 1 up to the head.
 */
async function subscribeResume(client: AspflowClient, opts: Options): Promise<void> {
  // Without --state-file: a file in a new temporary directory, removed after a passing run.
  const tempDir = opts.stateFile === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), "aspflow-ts-")) : undefined;
  const stateFile = opts.stateFile ?? path.join(tempDir ?? "", "consumer.json");
  const start = BigInt(loadState(stateFile).last_position);

  // Session 1: a few events, then cancel the stream as if the connection dropped.
  const head1 = BigInt((await call(client, "aspflow.v1.Server/GetServerInfo", {}, READ)).head_position);
  check(head1 > start + 1n, `the log's head is ${head1}: too short to disconnect mid-stream`);
  const few = Number(head1 - start - 1n < 3n ? head1 - start - 1n : 3n);
  const first = await consumeOnce(client, stateFile, { ...READ, until: head1, stopAfter: few });
  check(first.outcome === "disconnected", `the first session ended ${first.outcome}`);
  const saved = BigInt(loadState(stateFile).last_position); // read back from the file
  check(saved === start + BigInt(few) && saved < head1, `saved position ${saved} after ${few} events`);

  // Session 2 (and more if the connection drops): from the durable record, to the head.
  const head2 = BigInt((await call(client, "aspflow.v1.Server/GetServerInfo", {}, READ)).head_position);
  const sessions = await follow(client, stateFile, { ...READ, until: head2 });
  const resumedFrom = sessions[0]?.from;
  check(resumedFrom === saved + 1n, `resumed from ${resumedFrom}, expected ${saved + 1n}`);

  // The record covers 1..head exactly once, in order, and its derived counts agree.
  const state = loadState(stateFile);
  const positions = state.positions.map((p) => BigInt(p));
  const last = BigInt(state.last_position);
  check(last >= head2, `consumed up to ${last}, the head was ${head2}`);
  check(
    positions.length === Number(last) && positions.every((p, i) => p === BigInt(i + 1)),
    `positions stored are not exactly 1..${last} (${positions.length} stored)`,
  );
  const counted = Object.values(state.events_by_type).reduce((a, b) => a + b, 0);
  check(counted === positions.length, `derived counts (${counted}) disagree with the positions (${positions.length})`);
  const skipped = sessions.reduce((n, s) => n + s.skipped, first.skipped);
  pass(
    "subscribe-resume",
    `read ${first.applied} events from ${first.from}, disconnected at ${saved}, resumed from ${resumedFrom} ` +
      `to the head ${head2} in ${sessions.length} session(s): positions 1..${last} consecutive, ` +
      `no duplicates (${skipped} skipped), ${Object.keys(state.case_versions).length} cases; ` +
      (tempDir === undefined ? `state in ${stateFile}` : "state in a temporary file, removed"),
  );
  if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const credentials: Credentials = opts.token
    ? { mode: "token", token: opts.token }
    : { mode: "development", subject: opts.subject };
  const ca = opts.caCert ? fs.readFileSync(opts.caCert) : undefined;
  const client = new AspflowClient(opts.server, credentials, opts.protoDir, ca);
  try {
    await run(client, opts);
    console.log("ALL CHECKS PASSED");
    return 0;
  } catch (e) {
    const why = isServiceError(e)
      ? `gRPC ${statusName(e.code)}: ${e.details}`
      : e instanceof Error
        ? e.message
        : String(e);
    console.error(`FAILED ${currentStep}: ${why}`);
    return 1;
  } finally {
    client.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
