// TypeScript shapes of the aspflow.v1 messages this example uses, exactly as
// @grpc/proto-loader hands them over with the options in `api.ts`:
//
//   keepCase: true    field names as written in the .proto files (snake_case)
//   longs: String     uint64 / int64 arrive as decimal strings (see `U64` below)
//   enums: String     (the aspflow API has no proto enums: its enumerations are strings)
//   defaults: true    absent scalars arrive as their default ("" / 0 / "0" / false),
//                     absent message fields as null
//   oneofs: true      a oneof also arrives as a virtual field naming the member that is set
//
// They are written by hand (only what the walkthrough touches) and must follow the contract
// in proto/aspflow/v1/*.proto. `proto-loader-gen-types`, shipped with @grpc/proto-loader,
// can generate the complete set if you need more of the API.

/**
 * A protobuf uint64 / int64 as received: a decimal string.
 *
 * Why strings and not `longs: Number`: global positions and versions are uint64. A JS number
 * holds integers exactly only up to 2^53 - 1; past that, `longs: Number` would silently round,
 * and a consumer comparing positions could skip or repeat events. Strings are exact, print
 * and serialize to JSON as they are, and convert to `bigint` for arithmetic and comparison
 * (`BigInt(s)`). On the way out, proto-loader accepts a decimal string (or a number) for
 * these fields; this example always sends strings.
 */
export type U64 = string;

/** google.protobuf.Timestamp (seconds is an int64, hence a string). */
export interface Timestamp {
  seconds: U64;
  nanos: number;
}

// ---------------------------------------------------------------------------------------------
// Requests (what we send). Omitted fields take their proto3 default.

export interface DocumentRef {
  symbol: string;
  date?: string;
  language?: string;
  url?: string;
  content_sha256?: string;
}

export interface Act {
  /** Legal time of the act: when it happened, not when it is recorded. Required. */
  occurred_at: Timestamp;
  documents?: DocumentRef[];
  /** "public" (default) or "confidential". */
  confidentiality?: string;
  note?: string;
}

export interface RequestedState {
  iso_code: string;
  name: string;
  /** "state_party", "non_state_party_ad_hoc", "bound_by_unsc_resolution", "not_bound". */
  status: string;
  /** "african", "asia_pacific", "eastern_european", "latin_american_caribbean", "western_european_other". */
  region: string;
}

export interface CaseFacts {
  requested_state: RequestedState;
  person_sought: { name: string; case_number: string; warrant_dates?: string[] };
  situation: { name: string; trigger_mechanism: string; unsc_resolution?: string };
  request: { kind: string; transmitted_on: string; outstanding: boolean };
}

export interface Referral {
  /** "art_87_7" or "art_87_5b". */
  legal_basis: string;
  chamber: string;
  decision_symbol: string;
  decision_date: string;
  transmitted_on: string;
  /** "asp", "unsc". */
  targets: string[];
}

export interface OpenFormalCaseRequest {
  request_id: string;
  act: Act;
  facts: CaseFacts;
  referral: Referral;
}

export interface SeizeBureau {
  meeting_no: string;
  quorum_present?: boolean;
}

export interface SendOpenLetter {
  letter_ref: string;
  signatory: string;
  addressee: string;
  obligations_recalled?: string[];
}

/**
 * ExecuteRequest: one command on an open case. The `command` oneof is expressed by setting
 * exactly one of its member fields (here the two the walkthrough uses; cases.proto lists all).
 */
export interface ExecuteRequest {
  /** The case id or its reference ("NC-2017-0001"). */
  case_id: string;
  /** Set: the case must be at exactly this version, else ABORTED. */
  expected_version?: U64;
  request_id: string;
  act: Act;
  seize_bureau?: SeizeBureau;
  send_open_letter?: SendOpenLetter;
}

export interface GetCaseRequest {
  case_id: string;
  as_of_version?: U64;
  as_of_recorded?: Timestamp;
  /** The case after the events whose legal time is up to this time. */
  as_of_legal?: Timestamp;
}

export interface GetHistoryRequest {
  case_id: string;
  from_version?: U64;
  limit?: number;
}

export interface SubscribeRequest {
  /** First global position to send (1-based). To resume: last position received + 1. */
  from_position: U64;
  event_types?: string[];
  case_ids?: string[];
  procedure?: string;
}

/** GetServerInfoRequest has no fields. */
export type GetServerInfoRequest = Record<string, never>;

// ---------------------------------------------------------------------------------------------
// Responses (what we receive; with defaults: true every field is present).

export interface Deadline {
  kind: string;
  /** Last day on which the act is on time ("YYYY-MM-DD"). */
  due: string;
  fires: boolean;
}

export interface CaseView {
  case_id: string;
  reference: string;
  procedure: string;
  state: string;
  closed: boolean;
  version: U64;
  requested_state: RequestedState | null;
  person_sought: string;
  next_deadline: Deadline | null;
  deadlines: Deadline[];
  state_json: string;
  linked_case_id: string;
  last_occurred_at: Timestamp | null;
}

export interface RecordedEvent {
  global_position: U64;
  case_id: string;
  version: U64;
  event_type: string;
  schema_version: number;
  payload_json: string;
  occurred_at: Timestamp | null;
  recorded_at: Timestamp | null;
  /** Who acted: the token's subject (or x-aspflow-subject in development mode). */
  actor: string;
  role: string;
  /** Recorded as "<length of subject>:<subject>:<request id>". */
  request_id: string;
  correlation_id: string;
  prev_hash: string;
  hash: string;
  redacted: boolean;
}

export interface ActionAvailability {
  command: string;
  allowed: boolean;
  reason_code: string;
  reason: string;
}

export interface ExecuteResponse {
  case: CaseView | null;
  recorded: RecordedEvent[];
  available_actions: ActionAvailability[];
  opened_case_id: string;
  /** True when this is the stored answer to an earlier identical request. */
  replayed: boolean;
}

export interface GetHistoryResponse {
  events: RecordedEvent[];
  /** 0 when this page reaches the case's last event. */
  next_from_version: U64;
}

export interface GetServerInfoResponse {
  version: string;
  backend: string;
  /** Global position of the last event in the log; "0" when the log is empty. */
  head_position: U64;
}

/**
 * SubscribeResponse: `message` (the virtual oneof field) says which member is set; the other
 * member is absent (`defaults: true` does not fill in oneof members).
 */
export type SubscribeResponse =
  | { message: "event"; event: RecordedEvent; checkpoint?: undefined }
  | { message: "checkpoint"; checkpoint: { position: U64 }; event?: undefined };
