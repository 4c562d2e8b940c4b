"""One PII scrub (issue 15, point 2): pgcanary_private.scrub_text on generated sentences that
hold a phone number in every spelling test_phone.py generates, and the same sentences written
through the RPCs and raw statements of each kind of column (functions/pii.sql, docs/pii.md)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_phone import spellings

WORDS = ["cliente", "ligou", "do", "pelo", "número", "pediu", "para", "não", "receber", "mensagens",
         "retorno", "vaga", "médico", "confirmou", "no", "WhatsApp", ":", "—", "(", ")", "tel", "obs."]
TO_ASCII = str.maketrans("０１２３４５６７８９٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹०१२३४५६७८९", "0123456789" * 4)
# Five digits in a row, with any phone punctuation between them: more than a prefix.
LONG_RUN = re.compile(r"\d(?:[ ().\-+\u00a0\u202f]*\d){4,}")


@st.composite
def sentences(draw):
    spelling, e164 = draw(spellings())
    before = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=5)))
    after = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=5)))
    return f"{before} {spelling} {after}".strip(), e164


def leaks(text: str) -> list[str]:
    # URL-encoded text in a wa.me link ("Ol%C3%A1") holds single digits: not a run.
    return LONG_RUN.findall(text.translate(TO_ASCII))


@pytest.fixture(scope="module")
def conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=sentences())
def test_no_number_survives_scrub_text(conn, case):
    sentence, e164 = case
    got = conn.execute("select pgcanary_private.scrub_text(%s)", (sentence,)).fetchone()[0]
    assert leaks(got) == [], (sentence, got)
    assert e164[:4] + "…" in got, (sentence, got)  # the region stays readable
    assert conn.execute("select pgcanary_private.scrub_text(%s)", (got,)).fetchone()[0] == got, "idempotent"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ddd=st.integers(11, 99), mobile=st.integers(0, 99_999_999), sep=st.sampled_from(["-", " ", ".", ""]),
       landline=st.integers(2000, 5999))
def test_the_halves_of_a_number_split_across_fields_are_scrubbed(conn, ddd, mobile, sep, landline):
    m = f"9{mobile:08d}"
    for text in (f"ddd {ddd} numero {m[:5]}{sep}{m[5:]}", f"ddd {ddd} fixo {landline}-{mobile % 10000:04d}"):
        got = conn.execute("select pgcanary_private.scrub_text(%s)", (text,)).fetchone()[0]
        assert leaks(got) == [], (text, got)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(u=st.uuids(), md5=st.binary(min_size=16, max_size=16), sha=st.binary(min_size=32, max_size=32),
       at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_ids_and_dates_survive(conn, u, md5, sha, at):
    at = at.replace(tzinfo=timezone.utc)
    for text in (f"cliente {u}", f"chave {md5.hex()}", f"sha {sha.hex()}", f"rollback em {at.isoformat(sep=' ')}",
                 f"em {at:%d/%m/%Y %H:%M}", f"às {at:%Y-%m-%dT%H:%M:%S}Z", "pedido 1234567"):
        if re.search(r"[0-9a-f]{32,}", text) and len(re.sub(r"[^a-f]", "", text.split()[-1])) < 4:
            continue  # a hash with fewer than 4 letters is read as digits (documented)
        assert conn.execute("select pgcanary_private.scrub_text(%s)", (text,)).fetchone()[0] == text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=sentences())
def test_every_kind_of_column_keeps_no_number(database_url, case):
    """The same sentence through an RPC of each kind, as service_role the PostgREST way, and a
    raw UPDATE as the owner; nothing stored holds more than a prefix. Rolled back."""
    sentence, _ = case
    client = uuid.uuid4()
    with psycopg.connect(database_url) as c:
        c.execute("set local role service_role")
        c.execute("""select set_config('request.jwt.claims', '{"role": "service_role"}', true)""")
        c.execute("select public.opt_out(cliente_id => %s, source => %s)", (client, sentence))
        inc = c.execute("select (public.open_incident(severity => 'P3', title => %s, details => jsonb_build_object('nota', %s::text)) "
                        "->> 'incident_id')::bigint", (sentence[:200], sentence)).fetchone()[0]
        ev = c.execute("select public.emit_event(event_type => 'guard_action', event_props => jsonb_build_object('nota', %s::text, %s::text, 1))",
                       (sentence, sentence)).fetchone()[0]
        c.execute("reset role")
        c.execute("update public.incidents set resolution = %s, resolved_at = now(), resolved_by = 'ops' where incident_id = %s",
                  (sentence, inc))
        stored = c.execute(
            """select array[o.source, a.source, i.title, i.details::text, i.resolution, e.event_props::text]
                 from public.opt_outs o, public.opt_out_audit a, public.incidents i, public.business_events e
                where o.cliente_id = %s and a.cliente_id = %s and i.incident_id = %s and e.event_id = %s""",
            (client, client, inc, ev)).fetchone()[0]
        c.rollback()
    for value in stored:
        assert leaks(value) == [], (sentence, value)
