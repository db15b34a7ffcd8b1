#!/usr/bin/env python3
"""aspflow from Python: a walkthrough of the gRPC API that checks what it does.

It authenticates (development mode or a bearer token), opens a formal case with the historical
facts of Jordan 2017, executes two commands with request ids and retries one safely, meets a
refusal, reads the case as of a legal date, and follows the event log with EventLog.Subscribe,
storing its position in its own SQLite database and resuming after a disconnect.

Each step prints one line ``CHECK <name>: <details>`` when what it asserts holds, and the run
ends with ``ALL CHECKS PASSED``. When a check fails the script says why on stderr and exits 1.

    python3 examples/python/walkthrough.py --server 127.0.0.1:50051             # development
    python3 examples/python/walkthrough.py --server 127.0.0.1:50051 --token JWT # token mode
    ASPFLOW_TOKEN=JWT python3 examples/python/walkthrough.py --server ...       # same

In token mode the token must grant the roles court_liaison, bureau, president and observer
(``aspflow token mint --role court_liaison --role bureau --role president --role observer``):
each call names the role it acts in with the ``x-aspflow-role`` metadata, as the server
requires when a token grants several. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

# Optional: decodes the rich error details (google.rpc.ErrorInfo) the server attaches to a
# refusal. Without grpcio-status the walkthrough falls back to the status message.
try:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status
except ImportError:  # pragma: no cover - only without grpcio-status installed
    rpc_status = None
    error_details_pb2 = None

# generate.py lives beside this file; it compiles proto/aspflow/v1/*.proto at run time.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402

pb = generate.load_stubs()

# ----------------------------------------------------------------------------------------------
# Output: one CHECK line per step on stdout; failures and optional notes on stderr.

VERBOSE = False


def note(message: str) -> None:
    """Progress detail, shown with --verbose only (stdout carries only the CHECK lines)."""
    if VERBOSE:
        print(f"  . {message}", file=sys.stderr, flush=True)


def check(name: str, details: str) -> None:
    print(f"CHECK {name}: {details}", flush=True)


def fail(name: str, message: str) -> NoReturn:
    print(f"FAILED {name}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def expect(condition: bool, name: str, message: str) -> None:
    if not condition:
        fail(name, message)


# ----------------------------------------------------------------------------------------------
# Who is calling: development mode or a bearer token.


@dataclass
class Caller:
    """Builds the metadata of every call.

    Development mode (a server started without authentication, loopback only): the caller
    names itself, trusted as is: `x-aspflow-role` (required for writes) and `x-aspflow-subject`.

    Token mode: `authorization: Bearer <JWT>`. The server takes the subject from the token's
    `sub` and ignores `x-aspflow-subject`; when the token grants several roles, the caller
    names the one it acts in with `x-aspflow-role` (it must be one of the token's).
    """

    token: str | None
    subject: str

    @property
    def mode(self) -> str:
        return "token" if self.token else "development"

    def metadata(self, role: str) -> list[tuple[str, str]]:
        md = [("x-aspflow-role", role)]
        if self.token:
            md.append(("authorization", f"Bearer {self.token}"))
        else:
            md.append(("x-aspflow-subject", self.subject))
        return md


def token_subject(token: str) -> str:
    """The `sub` claim of a JWT, read without verifying it (the server verifies; this is only
    to know which subject the server will record as the actor)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return str(json.loads(base64.urlsafe_b64decode(payload))["sub"])
    except (IndexError, KeyError, ValueError) as e:
        raise SystemExit(f"the token is not a JWT with a `sub` claim: {e}") from e


# ----------------------------------------------------------------------------------------------
# Calls that are safe to retry.

# Codes after which the request may or may not have reached the server: retry it unchanged.
# Every other code is an answer (a refusal, a bad request...) and retrying would not help.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def call_with_retry(
    rpc: Callable[..., Any],
    request: Any,
    *,
    metadata: list[tuple[str, str]],
    timeout: float = 10.0,
    attempts: int = 5,
    first_backoff: float = 0.2,
    max_backoff: float = 5.0,
) -> Any:
    """Calls a unary RPC, retrying on UNAVAILABLE and DEADLINE_EXCEEDED with backoff.

    This is safe for writes *only because the request is sent again unchanged*, with the same
    `request_id`: if an earlier attempt was executed and only its answer was lost, the server
    does not execute the command twice, it returns the stored answer with `replayed = true`.
    Never make a new request_id for a retry (that would be a second command), and never reuse
    one for a different command (the server answers ALREADY_EXISTS).
    """
    for attempt in range(1, attempts + 1):
        try:
            return rpc(request, metadata=metadata, timeout=timeout)
        except grpc.RpcError as e:
            if e.code() not in RETRYABLE or attempt == attempts:
                raise
            # Exponential backoff with jitter, so that many clients do not retry in step.
            delay = min(max_backoff, first_backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1)
            note(f"attempt {attempt} failed with {e.code().name}; retrying in {delay:.2f}s")
            time.sleep(delay)
    raise AssertionError("unreachable")


def new_request_id(label: str) -> str:
    """A fresh idempotency key for one command (at most 200 bytes). Made once per command and
    kept for all its retries."""
    return f"py-{label}-{uuid.uuid4()}"


def rejection(err: grpc.RpcError) -> tuple[str, dict[str, str]]:
    """The rejection code and its fields of a refused call ("" and {} when it has none).

    The server attaches a `google.rpc.Status` in the `grpc-status-details-bin` trailer whose
    details hold a `google.rpc.ErrorInfo` (reason = the rejection code, e.g.
    "LetterAlreadySent", metadata = its fields). grpcio-status decodes it.
    """
    if rpc_status is not None:
        try:
            status = rpc_status.from_call(err)
        except ValueError:  # details that contradict the call's own code or message
            status = None
        if status is not None:
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason, dict(info.metadata)
    return "", {}


def timestamp(iso: str) -> Timestamp:
    """A google.protobuf.Timestamp from an ISO 8601 UTC time such as 2018-01-10T10:00:00Z."""
    ts = Timestamp()
    ts.FromJsonString(iso)
    return ts


# ----------------------------------------------------------------------------------------------
# The historical facts (README.md, "Open a case and advance it"): the Court's finding of
# non-compliance against Jordan over the visit of Omar Al Bashir (ICC-02/05-01/09-309).

OPENED_AT = "2017-12-12T10:00:00Z"
SEIZED_AT = "2018-01-10T10:00:00Z"  # the Bureau is seized
LETTER_AT = "2018-01-12T10:00:00Z"  # the President sends the open letter
BETWEEN_ACTS = "2018-01-11T12:00:00Z"  # a legal time after the first act, before the second


def jordan_referral(run: str) -> Any:
    c = pb.cases_pb2
    # The server refuses a second formal case on the same State and Court decision
    # (DuplicateReferral). So that the walkthrough can run again against the same server, each
    # run refers a decision symbol of its own: the historical one with a run suffix.
    decision_symbol = f"ICC-02/05-01/09-309/EX-{run}"
    return c.OpenFormalCaseRequest(
        request_id=new_request_id("open"),
        act=c.Act(
            occurred_at=timestamp(OPENED_AT),
            documents=[c.DocumentRef(symbol="ICC-02/05-01/09-309")],
        ),
        facts=c.CaseFacts(
            requested_state=c.RequestedState(
                iso_code="JO", name="Jordan", status="state_party", region="asia_pacific"
            ),
            person_sought=c.PersonSought(
                name="Omar Hassan Ahmad Al Bashir", case_number="ICC-02/05-01/09"
            ),
            situation=c.Situation(name="Darfur, Sudan", trigger_mechanism="unsc_referral"),
            request=c.CooperationRequest(
                kind="arrest_and_surrender", transmitted_on="2009-03-06", outstanding=True
            ),
        ),
        referral=c.Referral(
            legal_basis="art_87_7",
            chamber="Pre-Trial Chamber II",
            decision_symbol=decision_symbol,
            decision_date="2017-12-11",
            transmitted_on="2017-12-12",
            targets=["asp", "unsc"],
        ),
    )


def open_letter_request(case_id: str, request_id: str) -> Any:
    c = pb.cases_pb2
    return c.ExecuteRequest(
        case_id=case_id,
        request_id=request_id,
        act=c.Act(occurred_at=timestamp(LETTER_AT)),
        send_open_letter=c.SendOpenLetter(
            letter_ref="ASP/2018/L1",
            signatory="O-Gon Kwon",
            addressee="Minister for Foreign Affairs",
        ),
    )


# ----------------------------------------------------------------------------------------------
# The steps. Each asserts what it claims and prints one CHECK line.


@dataclass
class Walkthrough:
    channel: grpc.Channel
    caller: Caller
    run: str
    consumer_db: Path
    # Filled in as the steps go.
    case_id: str = ""
    seized: Any = None  # ExecuteResponse of seize_bureau
    letter: Any = None  # ExecuteResponse of send_open_letter
    letter_request: Any = None  # the ExecuteRequest, kept to retry it unchanged

    def __post_init__(self) -> None:
        self.cases = pb.cases_pb2_grpc.CasesStub(self.channel)
        self.eventlog = pb.eventlog_pb2_grpc.EventLogStub(self.channel)
        self.server = pb.server_pb2_grpc.ServerStub(self.channel)

    def get_case(self, **as_of: Any) -> Any:
        request = pb.cases_pb2.GetCaseRequest(case_id=self.case_id, **as_of)
        return call_with_retry(
            self.cases.GetCase, request, metadata=self.caller.metadata("observer")
        )

    # -- auth ------------------------------------------------------------------------------------
    def auth(self) -> None:
        # Which mode is the server in? A read with no metadata at all is answered in
        # development mode (as an observer) and refused UNAUTHENTICATED in token mode.
        anonymous_read = pb.cases_pb2.ListCasesRequest(page_size=1)
        try:
            # (Retried on UNAVAILABLE like every call: the server may still be starting.)
            call_with_retry(self.cases.ListCases, anonymous_read, metadata=[])
            server_mode = "development"
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            server_mode = "token"
        expect(
            server_mode == self.caller.mode,
            "auth",
            f"the server is in {server_mode} mode but the walkthrough runs in "
            f"{self.caller.mode} mode: "
            + ("pass --token (or ASPFLOW_TOKEN)" if server_mode == "token" else "drop --token"),
        )
        # The same read with our credentials (in token mode: the token is verified and must
        # grant the role named in x-aspflow-role).
        call_with_retry(
            self.cases.ListCases, anonymous_read, metadata=self.caller.metadata("observer")
        )
        info = call_with_retry(
            self.server.GetServerInfo,
            pb.server_pb2.GetServerInfoRequest(),
            metadata=self.caller.metadata("observer"),
        )
        how = "metadata roles" if self.caller.mode == "development" else "bearer token"
        check(
            "auth",
            f"{self.caller.mode} ({how}), subject {self.caller.subject}; "
            f"server {info.version} on {info.backend}",
        )

    # -- open-case -------------------------------------------------------------------------------
    def open_case(self) -> None:
        request = jordan_referral(self.run)
        opened = call_with_retry(
            self.cases.OpenFormalCase, request, metadata=self.caller.metadata("court_liaison")
        )
        case = opened.case
        self.case_id = case.case_id
        expect(case.reference.startswith("NC-2017-"), "open-case", f"reference {case.reference}")
        expect(len(opened.recorded) >= 1, "open-case", "the opening recorded no event")
        # The server records who acted: the subject we named (development) or the token's sub.
        actor = opened.recorded[0].actor
        expect(
            actor == self.caller.subject,
            "open-case",
            f"the server recorded the actor {actor!r}, expected {self.caller.subject!r}",
        )
        check(
            "open-case",
            f"{case.reference} (Jordan, Al Bashir; decision "
            f"{request.referral.decision_symbol}), state {case.state}, version {case.version}, "
            f"recorded actor {actor}",
        )

    # -- execute ---------------------------------------------------------------------------------
    def execute(self) -> None:
        c = pb.cases_pb2
        # The Bureau is seized of the matter (role bureau).
        seize = c.ExecuteRequest(
            case_id=self.case_id,
            request_id=new_request_id("seize"),
            act=c.Act(occurred_at=timestamp(SEIZED_AT)),
            seize_bureau=c.SeizeBureau(meeting_no="B/2018/1"),
        )
        self.seized = call_with_retry(
            self.cases.Execute, seize, metadata=self.caller.metadata("bureau")
        )
        # The President sends the open letter (role president). The request is kept: the next
        # step sends it again, as a client would after a timeout.
        self.letter_request = open_letter_request(self.case_id, new_request_id("letter"))
        self.letter = call_with_retry(
            self.cases.Execute, self.letter_request, metadata=self.caller.metadata("president")
        )
        s, l = self.seized.case, self.letter.case
        expect(not self.seized.replayed and not self.letter.replayed, "execute", "replayed?")
        expect(l.version > s.version, "execute", f"versions {s.version} then {l.version}")
        expect(s.state != l.state, "execute", f"state stayed {s.state}")
        check(
            "execute",
            f"seize_bureau -> {s.state} (version {s.version}); "
            f"send_open_letter -> {l.state} (version {l.version})",
        )

    # -- retry-same-request-id -------------------------------------------------------------------
    def retry_same_request_id(self) -> None:
        name = "retry-same-request-id"
        md = self.caller.metadata("president")
        before = self.get_case().version
        # Exactly what a client does when it got no answer (timeout, lost connection): send the
        # very same request again, same request_id, same content.
        again = call_with_retry(self.cases.Execute, self.letter_request, metadata=md)
        after = self.get_case().version
        expect(again.replayed, name, "the retry was executed again (replayed = false)")
        # The replayed answer carries the events the first attempt recorded, byte for byte
        # (same positions, same hashes). Its `case` is the case as it is now.
        expect(
            list(again.recorded) == list(self.letter.recorded),
            name,
            "the retry's events differ from the first answer's",
        )
        # And the retry appended nothing. The server's own deadline scheduler may append an
        # event to the case at any moment (here: when the reply window lapses), so any new
        # version must be the scheduler's (role "system"), none ours.
        history = call_with_retry(
            self.cases.GetHistory,
            pb.cases_pb2.GetHistoryRequest(case_id=self.case_id, from_version=before + 1),
            metadata=self.caller.metadata("observer"),
        )
        added = [e for e in history.events if before < e.version <= after]
        ours = [e for e in added if e.role != "system"]
        expect(
            not ours and len(added) == after - before,
            name,
            f"the case went from version {before} to {after} with {len(ours)} event(s) not "
            "recorded by the server's scheduler",
        )
        # The same request_id with other content is refused: a key names one command only.
        other = open_letter_request(self.case_id, self.letter_request.request_id)
        other.send_open_letter.letter_ref = "ASP/2018/L2"
        try:
            self.cases.Execute(other, metadata=md, timeout=10)
            fail(name, "a reused request_id with other content was accepted")
        except grpc.RpcError as e:
            expect(
                e.code() == grpc.StatusCode.ALREADY_EXISTS,
                name,
                f"reused request_id with other content: {e.code().name} {e.details()}",
            )
        positions = [e.global_position for e in again.recorded]
        if after == before:
            version = f"case version {before} unchanged"
        else:
            version = (
                f"case version {before} -> {after} by the deadline scheduler only, unchanged "
                "by the retry"
            )
        check(
            name,
            f"replayed=true, same {len(positions)} event(s) at position(s) {positions}, "
            f"{version}; same request_id with other content: ALREADY_EXISTS",
        )

    # -- refusal ---------------------------------------------------------------------------------
    def refusal(self) -> None:
        # A second open letter on the same case (a new command, so a new request_id): the
        # domain refuses it, and nothing is written.
        twice = open_letter_request(self.case_id, new_request_id("letter-again"))
        try:
            call_with_retry(self.cases.Execute, twice, metadata=self.caller.metadata("president"))
            fail("refusal", "the second open letter was accepted")
        except grpc.RpcError as e:
            expect(
                e.code() == grpc.StatusCode.FAILED_PRECONDITION,
                "refusal",
                f"expected FAILED_PRECONDITION, got {e.code().name}: {e.details()}",
            )
            code, fields = rejection(e)
            message = e.details()
        # With grpcio-status installed the code is decoded and checked; without it, only the
        # status message is there to show.
        if rpc_status is not None:
            expect(code == "LetterAlreadySent", "refusal", f"rejection code {code!r}: {message}")
            shown = f"rejection code {code} {fields}"
        else:
            shown = "ErrorInfo not decoded (grpcio-status not installed)"
        check("refusal", f"FAILED_PRECONDITION, {shown}: {message}")

    # -- as-of-legal -----------------------------------------------------------------------------
    def as_of_legal(self) -> None:
        # The case as it stood at a legal time: only the acts that happened (occurred_at) up to
        # then count, whenever they were recorded.
        then = self.get_case(as_of_legal=timestamp(BETWEEN_ACTS))
        now = self.get_case()
        expect(
            then.state == self.seized.case.state and then.version == self.seized.case.version,
            "as-of-legal",
            f"as of {BETWEEN_ACTS}: {then.state} v{then.version}, expected "
            f"{self.seized.case.state} v{self.seized.case.version} (after seize_bureau)",
        )
        expect(then.state != now.state, "as-of-legal", f"same state {now.state} then and now")
        check(
            "as-of-legal",
            f"as of {BETWEEN_ACTS}: {then.state} (version {then.version}, after seize_bureau); "
            f"now: {now.state} (version {now.version})",
        )

    # -- subscribe-resume ------------------------------------------------------------------------
    def subscribe_resume(self) -> None:
        name = "subscribe-resume"
        md = self.caller.metadata("observer")
        consumer = Consumer(self.consumer_db)
        start = consumer.position()
        expect(start == 0, name, f"{self.consumer_db} is at position {start}: give a new file")
        head = call_with_retry(
            self.server.GetServerInfo, pb.server_pb2.GetServerInfoRequest(), metadata=md
        ).head_position
        expect(head >= 3, name, f"the log head is {head}; this run alone recorded 3 events")

        # 1. Read a few events from the start of the log, then drop the connection mid-stream.
        first = min(3, head - 1)
        got = follow(self.eventlog, md, consumer, stop=lambda c, n: n >= first)
        disconnected_at = consumer.position()
        expect(got.handled == first, name, f"read {got.handled} events, expected {first}")

        # 2. Resume from the saved position + 1 until the consumer has reached the head.
        resumed_from = disconnected_at + 1
        got = follow(self.eventlog, md, consumer, stop=lambda c, n: c.position() >= head)
        expect(got.skipped == 0, name, f"{got.skipped} duplicates after resuming from the position")

        # 3. At-least-once delivery: a consumer that resubscribes from too early (it crashed
        #    before saving, or saves its position only now and then) receives events again.
        #    They are skipped, because each one's position is <= the stored position.
        reached = consumer.position()
        redelivered = follow(
            self.eventlog, md, consumer, stop=lambda c, n: n >= 3, from_position=reached - 2
        )
        expect(
            redelivered.skipped == 3 and consumer.position() == reached,
            name,
            f"redelivery: {redelivered.skipped} skipped, position {consumer.position()}",
        )

        # What the consumer stored: every position once, consecutive from 1 to the head.
        positions = consumer.stored_positions()
        missing = sorted(set(range(1, reached + 1)) - set(positions))
        expect(
            positions == list(range(1, reached + 1)),
            name,
            f"{len(positions)} positions stored for 1..{reached}; missing {missing[:10]}",
        )
        expect(reached >= head, name, f"stopped at {reached}, before the head {head}")
        mine = consumer.count_case(self.case_id)
        expect(mine >= 3, name, f"only {mine} events of this run's case were stored")
        check(
            name,
            f"read {first} events, disconnected at position {disconnected_at}, resumed from "
            f"{resumed_from} to the head {head}: stored positions 1..{reached} consecutive, "
            f"no duplicates ({mine} of this case); 3 redelivered events skipped",
        )


# ----------------------------------------------------------------------------------------------
# An EventLog consumer that stores its position with what it does, in one transaction.


class Consumer:
    """Processes log events exactly once, with its position in its own SQLite database.

    Each event is handled in one transaction that both does the work (here: insert a row per
    event) and advances the stored position. A crash can therefore never leave the work done
    without the position saved, or the reverse: after a restart the consumer resubscribes from
    `position() + 1` and loses nothing. An event at or below the stored position was already
    handled and is skipped, so redelivery is harmless.
    """

    def __init__(self, path: Path) -> None:
        # isolation_level=None: no implicit transactions; `transaction()` opens them explicitly.
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS consumer_position (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                position INTEGER NOT NULL
            );
            INSERT OR IGNORE INTO consumer_position (id, position) VALUES (1, 0);
            CREATE TABLE IF NOT EXISTS seen_events (
                position INTEGER PRIMARY KEY,   -- a duplicate would violate this key
                case_id TEXT NOT NULL,
                event_type TEXT NOT NULL
            );
            """
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def position(self) -> int:
        return self.db.execute("SELECT position FROM consumer_position").fetchone()[0]

    def handle_event(self, event: Any) -> bool:
        """Handles one event; False when it was already handled (and is skipped)."""
        with self.transaction() as db:
            stored = db.execute("SELECT position FROM consumer_position").fetchone()[0]
            if event.global_position <= stored:
                return False
            # The work this consumer does with an event...
            db.execute(
                "INSERT INTO seen_events (position, case_id, event_type) VALUES (?, ?, ?)",
                (event.global_position, event.case_id, event.event_type),
            )
            # ...and its new position, committed together.
            db.execute("UPDATE consumer_position SET position = ?", (event.global_position,))
            return True

    def handle_checkpoint(self, position: int) -> None:
        """Everything up to `position` has been sent. With filters (event_types, case_ids,
        procedure) the events in between were not for us: saving the checkpoint saves
        resuming over them. Without filters it changes nothing."""
        with self.transaction() as db:
            db.execute(
                "UPDATE consumer_position SET position = MAX(position, ?)", (position,)
            )

    def stored_positions(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT position FROM seen_events ORDER BY position")]

    def count_case(self, case_id: str) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM seen_events WHERE case_id = ?", (case_id,)
        ).fetchone()[0]


@dataclass
class Followed:
    handled: int = 0  # events handled (new)
    skipped: int = 0  # events already handled before


def follow(
    eventlog: Any,
    metadata: list[tuple[str, str]],
    consumer: Consumer,
    stop: Callable[[Consumer, int], bool],
    from_position: int | None = None,
    timeout: float = 30.0,
) -> Followed:
    """Subscribes from the consumer's position + 1 (or `from_position`) and feeds it events
    until `stop(consumer, events received)` is true, then cancels the call: a disconnect.

    `timeout` bounds the whole stream, so that a stalled subscription fails instead of hanging
    (a real consumer would run without one and reconnect with backoff on errors).
    """
    start = from_position if from_position is not None else consumer.position() + 1
    note(f"subscribing from position {start}")
    call = eventlog.Subscribe(
        pb.eventlog_pb2.SubscribeRequest(from_position=start), metadata=metadata, timeout=timeout
    )
    result = Followed()
    received = 0
    try:
        for message in call:
            kind = message.WhichOneof("message")
            if kind == "event":
                received += 1
                if consumer.handle_event(message.event):
                    result.handled += 1
                else:
                    result.skipped += 1
                    note(f"skipped position {message.event.global_position}: already handled")
            elif kind == "checkpoint":
                consumer.handle_checkpoint(message.checkpoint.position)
            if stop(consumer, received):
                break
    finally:
        call.cancel()  # closes the stream on the server too
    note(f"disconnected at position {consumer.position()}")
    return result


# ----------------------------------------------------------------------------------------------


def main() -> None:
    global VERBOSE
    parser = argparse.ArgumentParser(description="aspflow gRPC walkthrough (Python)")
    parser.add_argument("--server", required=True, help="HOST:PORT of the aspflow server")
    parser.add_argument(
        "--token",
        default=os.environ.get("ASPFLOW_TOKEN") or None,
        help="bearer token (JWT) granting court_liaison, bureau, president and observer; "
        "default: $ASPFLOW_TOKEN; none: development mode",
    )
    parser.add_argument(
        "--subject",
        default="python-walkthrough",
        help="who you are in development mode (x-aspflow-subject); with a token, its `sub`",
    )
    parser.add_argument(
        "--ca-cert", type=Path, help="PEM CA certificate: connect over TLS and trust this CA"
    )
    parser.add_argument(
        "--consumer-db",
        type=Path,
        help="the event consumer's SQLite file (must be new); default: a temporary file",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="progress notes on stderr")
    args = parser.parse_args()
    VERBOSE = args.verbose

    server = args.server.removeprefix("http://").removeprefix("https://")
    if args.ca_cert:
        credentials = grpc.ssl_channel_credentials(root_certificates=args.ca_cert.read_bytes())
        channel = grpc.secure_channel(server, credentials)
    else:
        channel = grpc.insecure_channel(server)

    caller = Caller(
        token=args.token,
        subject=token_subject(args.token) if args.token else args.subject,
    )
    # A short suffix that makes this run's data its own (see jordan_referral).
    run = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]

    with tempfile.TemporaryDirectory(prefix="aspflow-consumer-") as tmp:
        walk = Walkthrough(
            channel=channel,
            caller=caller,
            run=run,
            consumer_db=args.consumer_db or Path(tmp) / "consumer.db",
        )
        steps = [
            ("auth", walk.auth),
            ("open-case", walk.open_case),
            ("execute", walk.execute),
            ("retry-same-request-id", walk.retry_same_request_id),
            ("refusal", walk.refusal),
            ("as-of-legal", walk.as_of_legal),
            ("subscribe-resume", walk.subscribe_resume),
        ]
        for name, step in steps:
            try:
                step()
            except grpc.RpcError as e:
                code, _ = rejection(e)
                extra = f" (rejection code {code})" if code else ""
                fail(name, f"{e.code().name}: {e.details()}{extra}")
    channel.close()
    print("ALL CHECKS PASSED", flush=True)


if __name__ == "__main__":
    main()
