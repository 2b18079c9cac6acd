"""The ledger's schema: one shared ``metadata`` that every ledger table is declared on."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False),
    Column("source", String(1024), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64)),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, default=1),
    Column("mapping_version", String(16)),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("lease_owner", String(255)),
    Column("lease_until", UtcDateTime),
    Column("next_attempt_at", UtcDateTime),
    Column("stage", String(16)),  # stage of the last failure
    Column("message", Text),  # last failure or outcome, in words
    Column("error_count", Integer),
    Column("path", Text),  # where the bytes are now: spool, quarantine or archive
    Column("outputs", Text),  # JSON list of delivered target URIs
    Column("parent_id", Integer, ForeignKey("files.id")),  # rejects split out of a file
    Column("token", String(64)),  # the source's change detector (a local inode and ctime)
    Column("raw_name", Text),  # hex of the name's bytes when they are not UTF-8
    # A file sent again with the same name, size and mtime but other content is the next
    # generation of that identity: a new file, never silently taken for the old one.
    Column("generation", Integer, nullable=False, default=0, server_default="0"),
    # Fencing token: every claim raises it; a step taken under an older one is refused.
    Column("fence", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("route", "source", "name", "size", "mtime_ns", "generation",
                     name="uq_files_identity"),
    Index("ix_files_state", "state", "route"),
    Index("ix_files_sha", "route", "sha256"),
)
# The console's file list (web/files.py), newest received first: each filter reads its rows
# in that order (and a route's last arrival is one index lookup); a sha256 prefix is a range
# over the hashes of every route.
Index("ix_files_received", files.c.received_at, files.c.id)
Index("ix_files_route_received", files.c.route, files.c.received_at, files.c.id)
Index("ix_files_state_received", files.c.state, files.c.received_at, files.c.id)
Index("ix_files_sha256", files.c.sha256)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("detail", Text),
    Column("fence", Integer),  # the fencing token the step was taken under
)

interchanges = Table(
    "interchanges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("control_ref", String(64), nullable=False),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),  # who holds the key
    Column("at", UtcDateTime, nullable=False),
    # One owner per interchange: inserting the key is the duplicate check (see dedup.py).
    UniqueConstraint("route", "sender", "recipient", "control_ref", name="uq_interchange_key"),
)

#: The content a route delivered (or is delivering), one owner per sha256: inserting the key
#: before delivering is the duplicate check, atomic across processes (see dedup.py).
content_keys = Table(
    "content_keys",
    metadata,
    Column("route", String(64), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

#: Steps after a delivery (or a quarantine) that must happen once it is recorded: the
#: split-out rejects, acknowledgements, the original's post-action. Written in the same
#: transaction as the state they follow, done in order, and redone by any worker after a
#: crash (each step is idempotent).
followups = Table(
    "followups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False, index=True),
    Column("step", String(16), nullable=False),  # split | ack | original | release
    Column("detail", Text, nullable=False),  # JSON: what the step needs
    Column("data", LargeBinary),  # bytes it writes (an acknowledgement, a reason file)
    Column("done_at", UtcDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_followups_open", "done_at", "file_id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False, index=True),
    Column("worker", String(255), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("delivered", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("pending", Integer, nullable=False, default=0),
    Column("error", Text),  # the source was unreachable, etc.
    # already delivered content seen again: not a problem to fix, so not "quarantined"
    Column("duplicates", Integer, nullable=False, default=0, server_default="0"),
)

#: The shape a route pinned (``drift: warn|reject``): the columns, keys or segments of the
#: first file it saw, and the last shape that differed, for ``tradelane drift accept``.
route_shapes = Table(
    "route_shapes",
    metadata,
    Column("route", String(64), primary_key=True),
    Column("format", String(16), nullable=False),
    Column("shape", Text, nullable=False),  # JSON: group -> names
    Column("pinned_at", UtcDateTime, nullable=False),
    Column("pinned_from", Integer),  # the file it was taken from
    Column("seen", Text),  # JSON: the last shape that drifted from it, until accepted
    Column("seen_from", Integer),
    Column("seen_at", UtcDateTime),
)

#: EDI interchanges tradelane sent (an EDIFACT target), one row per output interchange,
#: with the acknowledgement it is waiting for (``ledger.interchanges``).
sent_interchanges = Table(
    "sent_interchanges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),  # the delivered file
    Column("output", Text, nullable=False),  # URI of the file that carried it
    Column("standard", String(8), nullable=False),  # edifact | x12
    Column("sender", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("control_ref", String(64), nullable=False),  # UNB 0020 / ISA13
    Column("messages", Integer, nullable=False),
    Column("documents", Text),  # JSON: [[message ref, type, document number], ...]
    Column("sent_at", UtcDateTime, nullable=False),
    Column("ack_due_at", UtcDateTime),  # sent_at + the route's ack_within; None: not expected
    Column("ack_state", String(16), nullable=False),  # waiting | accepted | rejected | partly
    Column("ack_at", UtcDateTime),
    Column("ack_id", Integer),  # the received_acks row that answered it last
    UniqueConstraint("file_id", "output", "control_ref", name="uq_sent_interchange"),
    Index("ix_sent_waiting", "ack_state", "ack_due_at"),
    Index("ix_sent_ref", "control_ref"),
)

#: Acknowledgements received (CONTRL, APERAK, 997, 999) and the sent interchange each answers;
#: ``sent_id`` None is an acknowledgement of nothing tradelane sent (unmatched).
received_acks = Table(
    "received_acks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),  # the ack's file
    Column("seq", Integer, nullable=False),  # its position in that file
    Column("kind", String(8), nullable=False),  # CONTRL | APERAK | 997 | 999
    Column("sender", String(64), nullable=False),  # who acknowledges
    Column("recipient", String(64), nullable=False),
    Column("control_ref", String(64), nullable=False),  # the reference it acknowledges
    Column("verdict", String(16), nullable=False),  # accepted | rejected | partly | received
    Column("errors", Text),  # JSON list of sentences
    Column("sent_id", Integer, ForeignKey("sent_interchanges.id")),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("file_id", "seq", name="uq_received_ack"),
    Index("ix_received_sent", "sent_id"),
)

#: Control-number sequences: the next number written to a partner, per standard and kind
#: (interchange, group, message); ``cycle`` counts the rollovers to ``start``.
partner_sequences = Table(
    "partner_sequences",
    metadata,
    Column("partner", String(64), primary_key=True),
    Column("standard", String(8), primary_key=True),  # edifact | x12
    Column("kind", String(16), primary_key=True),  # interchange | group | message
    Column("next_value", BigInteger, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

#: The numbers handed to one output of one file: a retry of the same output writes them
#: again, so a number is never used for two interchanges (within a cycle).
control_numbers = Table(
    "control_numbers",
    metadata,
    Column("file_id", Integer, ForeignKey("files.id"), primary_key=True),
    Column("output", String(255), primary_key=True),  # the route writing the output
    Column("kind", String(16), primary_key=True),
    Column("partner", String(64), nullable=False),
    Column("standard", String(8), nullable=False),
    Column("first_value", BigInteger, nullable=False),
    Column("numbers", Text, nullable=False),  # JSON [[first, last], ...]: two on a rollover
    Column("count", Integer, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("allocated_at", UtcDateTime, nullable=False),
    UniqueConstraint("partner", "standard", "kind", "cycle", "first_value",
                     name="uq_control_number"),
)

#: AS2 messages sent and received (issue 17), by message id. ``mdn`` keeps the MDN we
#: answered (received) so a partner's resend of the same id gets the same MDN, or the MDN we
#: got (sent). ``state``: sent, awaiting-mdn, confirmed, failed (sent); stored (received).
as2_messages = Table(
    "as2_messages",
    metadata,
    Column("message_id", String(255), primary_key=True),
    Column("direction", String(8), primary_key=True),  # out | in
    Column("partner", String(128), nullable=False),  # the partner's AS2 name
    Column("route", String(255)),
    Column("file_id", Integer, ForeignKey("files.id")),
    Column("state", String(16), nullable=False),
    Column("mic", String(255)),
    Column("mdn_status", String(255)),
    Column("mdn", LargeBinary),
    Column("path", Text),  # received: where the payload was stored
    Column("sha256", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("mdn_at", UtcDateTime),
    Index("ix_as2_file", "file_id"),
)

#: Events about files' outcomes waiting to be published (issue 20): written in the transaction
#: that records the outcome, published by ``tradelane.events.publishing``, then marked sent.
#: ``target`` is the route's ``events:`` block (without secrets), so a row publishes alone.
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),  # Nats-Msg-Id, message_id
    Column("route", String(255), nullable=False),
    Column("file_id", Integer, ForeignKey("files.id")),
    Column("outcome", String(16), nullable=False),
    Column("target", Text, nullable=False),  # JSON of the events spec
    Column("subject", String(255), nullable=False),
    Column("body", Text, nullable=False),  # the event, JSON
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(500)),
    Column("next_try_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Index("ix_event_outbox_due", "sent_at", "route", "next_try_at"),
)


#: A table source's position (issue 20), one row per route and source: the watermark of the
#: rows delivered, the poll in flight (``snapshot``: its file's name, what its outcome moves
#: the watermark to, or the keys whose status it sets) and the lease of the worker polling.
#: The poll's outcome is the ledger's own record of that file, so the watermark moves with it.
source_marks = Table(
    "source_marks",
    metadata,
    Column("route", String(64), primary_key=True),
    Column("source", String(1024), primary_key=True),
    Column("watermark", Text),  # tagged JSON ({"type", "value"}) or null: every row
    Column("snapshot", String(255)),
    Column("next_watermark", Text),
    Column("keys", Text),  # JSON list of the snapshot's status keys
    Column("rows", Integer),
    Column("owner", String(255)),
    Column("lease_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)
