// Retrying a call safely.
//
// A write that timed out (DEADLINE_EXCEEDED) or lost its connection (UNAVAILABLE) may or may
// not have been executed by the server: the client cannot know. aspflow makes the retry safe
// through the request's `request_id` (its idempotency key): sending the SAME request again, with
// the SAME request_id, returns the stored outcome of the first execution (`replayed: true`)
// instead of executing the command a second time. So the rule is:
//
//   build the request (and its request_id) ONCE, outside the retry loop, and resend that very
//   object on every attempt. A fresh request_id per attempt would turn a retry into a second,
//   different command.
//
// Reads have no request_id and are safe to repeat as they are.

import * as grpc from "@grpc/grpc-js";

import { isServiceError, statusName } from "./api";

/** Status codes after which the same request may simply be sent again. */
const RETRYABLE = new Set<grpc.status>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the first retry; doubled after each attempt, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 5_000 };

/**
 * Runs `attempt` until it succeeds, retrying on UNAVAILABLE and DEADLINE_EXCEEDED with
 * exponential backoff and full jitter; any other error (a refusal, a bad request...) is final
 * and thrown at once. `attempt` must resend the same request (same request_id) each time.
 */
export async function withRetry<T>(
  what: string,
  attempt: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (!isServiceError(e) || !RETRYABLE.has(e.code) || n >= policy.attempts) throw e;
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      const delay = Math.round(Math.random() * cap);
      // Progress goes to stderr: stdout carries only the CHECK lines the CI asserts.
      process.stderr.write(
        `retry: ${what}: ${statusName(e.code)} (${e.details}); ` +
          `attempt ${n + 1}/${policy.attempts} in ${delay} ms, same request\n`,
      );
      await sleep(delay);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
