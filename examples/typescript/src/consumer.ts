// A durable consumer of EventLog.Subscribe: exactly-once processing of the whole log across
// disconnects and restarts.
//
// The recipe:
//  1. Keep the position of the last event applied AND what you derived from the events in ONE
//     record, and replace that record atomically after applying an event (here a JSON file:
//     write a temporary file, fsync it, rename it over the old one, fsync the directory). The
//     two can then never disagree: after a crash you hold either the old record or the new
//     one, never an event applied but not counted as seen, or the reverse.
//  2. To (re)connect, read the record and subscribe from its position + 1.
//  3. Skip any event at or below the saved position (idempotent consumption: a duplicate can
//     do no harm), and treat a position that is not the saved one + 1 as an error: the log's
//     positions are gapless, so a gap would mean an event was lost.
//
// A real consumer would write its derived data to its own database in the same transaction as
// the position; the file here keeps the example self-contained.

import * as fs from "node:fs";
import * as path from "node:path";

import * as grpc from "@grpc/grpc-js";

import { type AspflowClient, type Role, isServiceError, statusName } from "./api";
import { DEFAULT_RETRY, sleep } from "./retry";
import type { RecordedEvent, SubscribeResponse, U64 } from "./types";

const FORMAT = "aspflow-example-consumer/1";

/** The consumer's durable record: its position and what it derived, saved together. */
export interface ConsumerState {
  format: typeof FORMAT;
  /** Global position of the last event applied; "0" before the first. */
  last_position: U64;
  /** Derived from the events: how many events of each type the log holds. */
  events_by_type: Record<string, number>;
  /** Derived from the events: each case's last version seen. */
  case_versions: Record<string, U64>;
  /**
   * Every position applied, in order. Kept only so that the walkthrough can show there is no
   * gap and no duplicate; a real consumer keeps last_position and its derived data.
   */
  positions: U64[];
}

export function emptyState(): ConsumerState {
  return { format: FORMAT, last_position: "0", events_by_type: {}, case_versions: {}, positions: [] };
}

/** The saved record, or an empty one when the file does not exist yet. */
export function loadState(file: string): ConsumerState {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return emptyState();
    throw e;
  }
  const state = JSON.parse(text) as ConsumerState;
  if (state.format !== FORMAT) throw new Error(`${file} is not a consumer state (${FORMAT})`);
  return state;
}

/** Replaces the saved record atomically and durably: temp file, fsync, rename, fsync dir. */
export function saveState(file: string, state: ConsumerState): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
    fs.fsyncSync(fd); // the bytes are on disk before the rename makes them the record
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file); // atomic on POSIX file systems: readers see old or new, whole
  fsyncDirectory(path.dirname(file)); // and the rename itself survives a power loss
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open or fsync a directory; there the rename is as durable as it gets.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Applies one event to the state (in memory). Returns false, changing nothing, for an event
 * already applied. Throws on a gap.
 */
export function apply(state: ConsumerState, event: RecordedEvent): boolean {
  const position = BigInt(event.global_position);
  const last = BigInt(state.last_position);
  if (position <= last) return false; // seen before: idempotent skip
  if (position !== last + 1n) {
    throw new Error(`gap in the event log: expected position ${last + 1n}, received ${position}`);
  }
  state.events_by_type[event.event_type] = (state.events_by_type[event.event_type] ?? 0) + 1;
  state.case_versions[event.case_id] = event.version;
  state.positions.push(event.global_position);
  state.last_position = event.global_position;
  return true;
}

/** How one subscription session ended. */
export interface Session {
  /** Position the session subscribed from. */
  from: bigint;
  /** Events applied in this session. */
  applied: number;
  /** Events received again and skipped. */
  skipped: number;
  /**
   * "disconnected": we cancelled after `stopAfter` events; "caught-up": reached `until`;
   * "ended": the server closed the stream.
   */
  outcome: "disconnected" | "caught-up" | "ended";
}

export interface SessionOptions {
  /** The role the subscription acts in. */
  role: Role;
  /** Stop once the log has been consumed up to this position. */
  until: bigint;
  /** Cancel the stream (disconnect) after this many events applied. */
  stopAfter?: number;
}

/**
 * One connection: loads the saved record, subscribes from its position + 1, applies and saves
 * each event, and cancels the stream when done. Stream errors are thrown (see `follow`).
 */
export function consumeOnce(client: AspflowClient, file: string, opts: SessionOptions): Promise<Session> {
  const state = loadState(file);
  const from = BigInt(state.last_position) + 1n;
  const session: Session = { from, applied: 0, skipped: 0, outcome: "caught-up" };

  return new Promise<Session>((resolve, reject) => {
    if (BigInt(state.last_position) >= opts.until) {
      resolve(session);
      return;
    }
    const call = client.subscribe({ from_position: String(from) }, { role: opts.role });
    let settled = false;
    const finish = (outcome: Session["outcome"]): void => {
      settled = true;
      session.outcome = outcome;
      call.cancel(); // closes the stream; messages already in flight are dropped
      resolve(session);
    };

    // 'data' handlers run one message at a time, in order; the synchronous file writes in
    // saveState() complete before the next message is looked at.
    call.on("data", (msg: SubscribeResponse) => {
      if (settled) return; // after our cancel: ignored, the next session will read them again
      try {
        if (msg.message === "event") {
          if (apply(state, msg.event)) {
            saveState(file, state);
            session.applied++;
          } else {
            session.skipped++;
          }
          if (BigInt(state.last_position) >= opts.until) finish("caught-up");
          else if (opts.stopAfter !== undefined && session.applied >= opts.stopAfter) finish("disconnected");
        } else if (BigInt(msg.checkpoint.position) >= opts.until) {
          // A checkpoint says everything up to its position has been sent (events a filter
          // left out included): nothing more up to `until` will come.
          finish("caught-up");
        }
      } catch (e) {
        settled = true;
        call.cancel();
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    call.on("error", (e: Error) => {
      // After our own cancel() the call ends with CANCELLED: expected, already settled.
      if (!settled) {
        settled = true;
        reject(e);
      }
    });
    call.on("end", () => {
      if (!settled) {
        settled = true;
        session.outcome = "ended";
        resolve(session);
      }
    });
  });
}

/**
 * Follows the log up to `until`, reconnecting from the saved position after a dropped
 * connection (UNAVAILABLE, or the server closing the stream) with backoff. Returns the sessions.
 */
export async function follow(client: AspflowClient, file: string, opts: SessionOptions): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let failures = 0; ; ) {
    const before = loadState(file).last_position;
    let reason: string;
    try {
      const session = await consumeOnce(client, file, opts);
      sessions.push(session);
      if (session.outcome !== "ended") return sessions;
      reason = "the server closed the stream";
    } catch (e) {
      if (!isServiceError(e) || e.code !== grpc.status.UNAVAILABLE) throw e;
      reason = `${statusName(e.code)} (${e.details})`;
    }
    // Count only failures in a row without progress; what was applied is saved either way.
    failures = loadState(file).last_position === before ? failures + 1 : 1;
    if (failures >= DEFAULT_RETRY.attempts) throw new Error(`subscribe: ${reason}, ${failures} times in a row`);
    const delay = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** failures);
    process.stderr.write(`subscribe: ${reason}; resubscribing from the saved position in ${delay} ms\n`);
    await sleep(delay);
  }
}
