"""Fuzz over every public RPC (issue 15, point 4), called as PostgREST calls it: as
`service_role`, named arguments, each value cast to the parameter's type.

Values are drawn per type, mixed with the values each parameter expects (flag keys, methods,
ids of real rows) so that calls reach past the first check, and with the garbage of issue 15:
whole phone numbers in many spellings, alone and inside sentences, control characters, huge
and deeply nested values, extreme integers and timestamps, NULLs.

Each call must either succeed or fail with:
  - our own SQLSTATE (class PC), whose message, detail and hint are short and hold no phone;
  - one of the binding-level codes of docs/errors.md ("Raised before our code runs"), raised
    while the arguments are cast, before the function is entered (no function in the context).
After a call that succeeded, no stored text holds one of the generated phone numbers
(DESIGN.md invariant 6) outside the two documented places (docs/pii.md): the outbox payload of
a message not yet final, and the provider's message id. Every call runs in a transaction that
is rolled back, on a database of its own.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb

from pgcanary.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]

# The public RPCs, read from the sources: a function added there is fuzzed without editing this
# file, and test_every_rpc_is_fuzzed fails if the catalog has one the sources do not declare.
RPCS = sorted(set(re.findall(r"CREATE (?:OR REPLACE )?FUNCTION public\.(\w+)\s*\(",
                             "\n".join(p.read_text() for p in (ROOT / "functions").glob("*.sql")))))

BINDING_LEVEL = {"22P02", "22007", "22008", "22003", "22015"}

# Canonical numbers the generator spells; a stored text holding the last 8 digits of one of
# them (after removing phone punctuation) holds the phone.
PHONES = ["5511987654321", "5521998765432", "551133334444", "14155552671", "447911123456"]
TAILS = [p[-8:] for p in PHONES]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def spell(phone: str, how: int) -> str:
    cc, rest = (phone[:2], phone[2:]) if phone.startswith(("55", "44")) else (phone[:1], phone[1:])
    area, local = rest[:2], rest[2:]
    mid = len(local) - 4
    return [
        phone,
        "+" + phone,
        f"+{cc} ({area}) {local[:mid]}-{local[mid:]}",
        f"{area} {local[:mid]}-{local[mid:]}" if cc == "55" else "+" + phone,
        f"00{phone}",
        f"tel:+{phone}",
        f"https://wa.me/{phone}",
        f"{phone}@s.whatsapp.net",
        phone.translate(FULLWIDTH),
        ("+" + phone).translate(ARABIC),
        f"+{cc}\u00a0{area}\u00a0{local}",
        f"{cc}.{area}.{local[:mid]}.{local[mid:]}",
    ][how]


phones = st.builds(spell, st.sampled_from(PHONES), st.integers(0, 11))
words = st.text(alphabet=st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="\x00"),
                max_size=20)
sentences = st.builds(lambda a, p, b: f"{a} {p} {b}", words, phones, words)
garbage = st.sampled_from(["", " ", "\t\n", "\x01\x1b[31m", "x" * 100_000, "ação ✓ 😀", "null", "' or 1=1 --"])


def texts(expected: list[str]) -> st.SearchStrategy:
    options = [words, phones, sentences, garbage]
    if expected:  # weighted, so that calls with several arguments reach past the checks
        options = [st.sampled_from(expected)] * 4 + options
    return st.one_of(*options)


def json_values() -> st.SearchStrategy:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), words, phones, sentences,
                       st.sampled_from([int(p) for p in PHONES]), st.just("z" * 20_000))
    nested = st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(words, phones), inner, max_size=3)),
        max_leaves=12)
    deep = st.integers(30, 40).map(lambda n: _nest(n))
    payload = st.fixed_dictionaries({"number": phones, "text": st.one_of(words, sentences, st.just("m" * 5000))})
    return st.one_of(nested, payload, st.dictionaries(st.one_of(words, phones, st.sampled_from(["telefone", "phone"])),
                                             nested, max_size=4), deep)


def _nest(depth: int):
    value: object = "5511987654321"
    for _ in range(depth):
        value = {"a": value}
    return value


EXPECTED_TEXT = {
    "method": ["reply", "followup", "campaign", "handoff"],
    "channel": ["whatsapp"],
    "acao": ["on", "off", "status"],
    "severity": ["P0", "P1", "P2", "P3"],
    "resolution": ["sent", "failed", "requeue"],
    "status": ["pending", "met", "failed"],
    "code": ["B1", "B2", "C1", "D1"],
    "scope": ["phone", "handoff_confirm_ip"],
    "kind": ["daily_report", "alert"],
    "category": ["outbound", "conversation"],
    "name": ["evolution_api", "slack"],
    "ip": ["203.0.113.7", "::1"],
    "salt": ["seed"],
    "reason": ["fuzz: a reason"], "title": ["fuzz: a title"], "evidence": ["fuzz: drill output"],
    "source": ["fuzz"], "description": ["fuzz: what it means"], "text": ["fuzz: an alert"],
    "error": ["fuzz: provider said no"], "telefone": ["5511987654321"],
}

TIMESTAMPS = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2300, 1, 1), timezones=st.just(timezone.utc)),
    st.sampled_from(["infinity", "-infinity", "294276-01-01", "epoch", "now", "yesterday", "2026-13-45"]),
)
INTERVALS = st.one_of(st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)),
                      st.sampled_from(["infinity", "1 century", "-1 second", "banana"]))


def value_for(name: str, type_: str, known: dict[str, list]) -> st.SearchStrategy:
    if type_ == "uuid":
        return st.one_of(st.uuids(), st.sampled_from(known.get(name) or [uuid.UUID(int=0)]))
    if type_ == "uuid[]":
        return st.lists(st.one_of(st.uuids(), st.sampled_from(known.get("message_id") or [uuid.UUID(int=0)])),
                        max_size=3)
    if type_ == "text[]":
        return st.lists(texts(known.get("flag_key", [])), max_size=4)
    if type_ == "text":
        return texts(known.get(name, []) + EXPECTED_TEXT.get(name, []))
    if type_ in ("integer", "bigint"):
        small = st.integers(-5, 120)
        big = st.sampled_from([-2**31, 2**31 - 1, 2**31, -2**63, 2**63 - 1, 10**30])
        ids = st.sampled_from(known.get(name) or [1])
        return st.one_of(small, ids, big)
    if type_ == "boolean":
        return st.booleans()
    if type_ == "jsonb":
        return json_values().map(Jsonb)
    if type_ == "timestamp with time zone":
        return TIMESTAMPS
    if type_ == "interval":
        return INTERVALS
    raise AssertionError(f"no strategy for {type_} ({name}): add one")


# One call per RPC with arguments that should succeed, made first, so that each RPC's happy
# path is among the calls checked (the random ones mostly meet the first check).
BASELINE = {
    "flag_key": "business_events_canary", "percentage": 10, "force": True, "success": True,
    "batch_size": 1, "lease_seconds": 60, "dedupe_minutes": 60, "max_rows": 5, "days_ahead": 7,
    "retain_days": 30, "failure_threshold": 5, "open_seconds": 60, "pct": 50, "rebuild": False,
    "retryable": False, "acao": "status", "scope": "phone", "subject": "5511987654321",
    "method": "followup", "template_ref": None, "resolution": "requeue", "event_type": "offer_made",
    "status": "pending", "code": "B1", "kind": "alert", "severity": "P3", "name": "evolution_api",
    "ip": "203.0.113.7", "category": "conversation", "older_than": timedelta(days=14),
    "payload": Jsonb({"number": PHONES[0], "text": "oi"}), "event_props": Jsonb({"nota": "oi"}),
    "details": Jsonb({}), "events": Jsonb([{"event_type": "offer_made", "event_props": {}}]),
}


BASELINE_FOR = {
    "set_prerequisite": {"flag_key": "guardrails_canary"},
    "outbox_resolve": {"message_id": "unknown_message_id"},  # a key of `known`
}


def baseline_value(function: str, name: str, type_: str, known: dict[str, list]):
    if name in BASELINE_FOR.get(function, {}):
        value = BASELINE_FOR[function][name]
        return known[value][0] if value in known else value
    if name in BASELINE:
        return BASELINE[name]
    if known.get(name):
        return known[name][0]
    if name in EXPECTED_TEXT:
        return EXPECTED_TEXT[name][0]
    if name == "flag_keys":
        return known["flag_key"][:2]
    return {"uuid": uuid.uuid4(), "uuid[]": known["message_id"][:1], "text": "fuzz", "integer": 1, "bigint": 1,
            "boolean": False, "jsonb": Jsonb({}), "timestamp with time zone": datetime.now(timezone.utc),
            "interval": timedelta(days=1)}[type_]


@pytest.fixture(scope="module")
def fuzz_db(pg_server):
    name = "fuzz_" + uuid.uuid4().hex[:8]
    admin = pg_server.url(database="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = pg_server.url(database=name)
    try:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            # A few real rows, so that calls that take an id or a key reach past "not found".
            for method in ("followup", "campaign", "reply"):
                conn.execute("select pode_enviar_com_dedupe(cliente_id => gen_random_uuid(), method => %s, "
                             "payload => %s)", (method, Jsonb({"number": PHONES[0], "text": "oi"})))
            sending = conn.execute("select id from outbox_claim(worker_id => 'w1', batch_size => 1, lease_seconds => 300)").fetchone()[0]
            unknown = conn.execute("select id, dedupe_key from outbox_claim(worker_id => 'w2', batch_size => 1, lease_seconds => 300)").fetchone()
            conn.execute("select outbox_mark_unknown(dedupe_key => %s, error => 'fuzz: timeout')", (unknown[1],))
            conn.execute("select toggle_ponte_externa(acao => 'on', pct => 100, reason => 'fuzz')")
            conn.execute("select open_handoff(vaga_id => gen_random_uuid(), cliente_id => gen_random_uuid())")
            conn.execute("select open_incident(severity => 'P3', title => 'fuzz', details => '{}')")
            conn.execute("select alert_enqueue(kind => 'alert', text => 'fuzz')")
            known = {
                "flag_key": [r[0] for r in conn.execute("select flag_key from feature_flags")],
                "event_type": [r[0] for r in conn.execute("select event_type from business_event_types")],
                "dedupe_key": [r[0] for r in conn.execute("select dedupe_key from outbound_messages")],
                "message_id": [sending] + [r[0] for r in conn.execute("select id from outbound_messages where id <> %s", (sending,))],
                "unknown_message_id": [unknown[0]],
                "handoff_id": [r[0] for r in conn.execute("select handoff_id from external_handoffs")],
                "incident_id": [r[0] for r in conn.execute("select incident_id from incidents")],
                "alert_id": [r[0] for r in conn.execute("select alert_id from alert_outbox")],
                "worker_id": ["w1"],
            }
            scan = stored_text_query(conn)
        yield url, known, scan
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database "{name}" with (force)')


# Where a phone is allowed to stay, and why (docs/pii.md).
ALLOWED_STORED = {
    ("public", "outbound_messages", "payload"): "the message to send; dropped when the message is final",
    ("public", "outbound_messages", "provider_message_id"): "the provider's own id, the proof of a send",
}


def stored_text_query(conn) -> sql.Composable:
    rows = conn.execute("""
        select c.table_schema, c.table_name, array_agg(c.column_name::text order by c.ordinal_position)
          from information_schema.columns as c
          join pg_class as k on k.oid = format('%I.%I', c.table_schema, c.table_name)::regclass
         where c.table_schema in ('public', 'pgcanary_private') and k.relkind in ('r', 'p')
           and not k.relispartition
           and c.data_type in ('text', 'jsonb', 'json', 'ARRAY', 'character varying')
         group by 1, 2""").fetchall()
    parts = []
    for schema, table, columns in rows:
        kept = [c for c in columns if (schema, table, c) not in ALLOWED_STORED]
        if kept:
            parts.append(sql.SQL("select {} || ': ' || concat_ws(' ', {}) from {}").format(
                sql.Literal(f"{schema}.{table}"),
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in kept),
                sql.Identifier(schema, table)))
    return sql.SQL(" union all ").join(parts)


def phone_in(text: str | None) -> str | None:
    if not text:
        return None
    digits = "".join(str(unicodedata.digit(ch)) if unicodedata.digit(ch, None) is not None else ch for ch in text)
    squeezed = re.sub(r"[\s().\-+\u00a0]", "", digits)
    return next((t for t in TAILS if t in squeezed), None)


def signature(conn, function: str) -> list[tuple[str, str, bool]]:
    """(name, type, has_default) of each argument, from the catalog."""
    row = conn.execute("""
        select p.proargnames, array(select format_type(t, null) from unnest(p.proargtypes) as t),
               p.pronargs - p.pronargdefaults
          from pg_proc as p where p.oid = %s::regproc""", (f"public.{function}",)).fetchone()
    names, types, required = row
    return [(n, t, i >= required) for i, (n, t) in enumerate(zip(names or [], types))]


def test_every_rpc_is_fuzzed(fuzz_db):
    url, _, _ = fuzz_db
    with psycopg.connect(url) as conn:
        callable_ = {r[0] for r in conn.execute("""
            select p.proname from pg_proc as p
             where p.pronamespace = 'public'::regnamespace and p.prorettype <> 'trigger'::regtype
               and has_function_privilege('service_role', p.oid, 'EXECUTE')
               and not exists (select from pg_depend as d where d.objid = p.oid and d.deptype = 'e')""")}
    assert callable_ <= set(RPCS), callable_ - set(RPCS)
    assert len(callable_) > 50


@pytest.mark.parametrize("function", RPCS)
def test_rpc_answers_garbage_with_our_codes_and_stores_no_phone(fuzz_db, function):
    url, known, scan = fuzz_db
    with psycopg.connect(url) as conn:
        args = signature(conn, function)
        executable = conn.execute("select has_function_privilege('service_role', %s::regproc, 'EXECUTE')",
                                  (f"public.{function}",)).fetchone()[0]
        conn.rollback()
        if not executable:  # not an RPC (a trigger or a helper): then no API role may call it
            assert not conn.execute(
                "select has_function_privilege('anon', %s::regproc, 'EXECUTE') or "
                "has_function_privilege('authenticated', %s::regproc, 'EXECUTE')",
                (f"public.{function}",) * 2).fetchone()[0]
            conn.rollback()
            return

        strategies = {}
        for name, type_, has_default in args:
            strategy = value_for(name, type_, known)
            strategies[name] = st.one_of(strategy, strategy, strategy, st.just(None),
                                         st.just(OMIT) if has_default else st.just(None))

        baseline = {name: baseline_value(function, name, type_, known) for name, type_, _ in args}

        @settings(max_examples=40, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(st.fixed_dictionaries(strategies))
        def check(values):
            present = {n: v for n, v in values.items() if v is not OMIT}
            types = {n: t for n, t, _ in args}
            call = sql.SQL("select * from public.{}({})").format(
                sql.Identifier(function),
                sql.SQL(", ").join(sql.SQL("{} => {}::{}").format(sql.Identifier(n), sql.Placeholder(n), sql.SQL(types[n]))
                                   for n in present))
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute("set local role service_role")
                    conn.execute("set local statement_timeout = '20s'")
                    try:
                        with conn.transaction():
                            conn.execute(call, present).fetchall()
                        SUCCEEDED[function] += 1
                    except psycopg.Error as exc:
                        FAILED_WITH.setdefault(function, Counter())[(exc.diag.message_primary or "")[:60]] += 1
                        check_error(function, exc)
                        return
                    conn.execute("reset role")
                    for (line,) in conn.execute(scan):
                        assert phone_in(line) is None, f"{function} stored a phone: {line[:300]!r}"
            finally:
                conn.rollback()

        example(baseline)(check)()
        # A fuzz that only ever meets the first check proves little: each RPC must have
        # succeeded on some generated arguments, unless it cannot here (NEVER_SUCCEEDS).
        assert SUCCEEDED[function] > 0 or function in NEVER_SUCCEEDS, f"no call of {function} succeeded: {FAILED_WITH.get(function, Counter()).most_common(4)}"


OMIT = object()
SUCCEEDED: Counter[str] = Counter()
FAILED_WITH: dict[str, Counter] = {}
NEVER_SUCCEEDS = {
    "pgcanary_schedule_jobs": "needs pg_cron, which this database does not have (tests/py/test_schedule_pg_cron.py)",
    "pgcanary_unschedule_jobs": "the same",
}


def check_error(function: str, exc: psycopg.Error) -> None:
    diag = exc.diag
    code = diag.sqlstate or ""
    message = diag.message_primary or ""
    if code.startswith("PC"):
        # The message and hint show at most an excerpt of an argument; a detail may carry a
        # computed report (a NO-GO gate's reasons), bounded by what we compute, not by input.
        for part, limit in ((message, 300), (diag.message_hint, 500), (diag.message_detail, 4000)):
            assert part is None or len(part) <= limit, (function, code, (part or "")[:200])
            assert phone_in(part) is None, (function, code, part)
        return
    in_our_code = "function public." in (diag.context or "") or "function pgcanary" in (diag.context or "")
    assert code in BINDING_LEVEL and not in_our_code, \
        f"{function}: raw {code} {message[:200]!r} context={(diag.context or '')[:300]!r}"


