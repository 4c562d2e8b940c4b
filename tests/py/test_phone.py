"""One phone identity (issue 15, point 1): pgcanary_private.phone_e164 against the phonenumbers
library (Google's libphonenumber) on generated spellings, and the paths that key on it."""

from __future__ import annotations

import random
import threading
import time
import uuid

import phonenumbers
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat as Fmt

from pgcanary.migrate import migrate

# Brazilian area codes (DDD) in use, and a few other regions a WhatsApp assistant meets.
DDDS = [11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44,
        45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81,
        82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99]
OTHER_REGIONS = ["PT", "US", "AR", "DE", "GB", "IN", "AE", "ES", "MX"]

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EASTERN_ARABIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@st.composite
def valid_numbers(draw):
    """A number libphonenumber calls valid: Brazilian mobile or landline, or another region's."""
    if draw(st.booleans()):
        ddd = draw(st.sampled_from(DDDS))
        if draw(st.booleans()):
            national = f"{ddd}9{draw(st.integers(6, 9))}{draw(st.integers(0, 9_999_999)):07d}"
        else:
            national = f"{ddd}{draw(st.integers(2, 5))}{draw(st.integers(0, 9_999_999)):07d}"
        number = phonenumbers.parse(national, "BR")
    else:
        region = draw(st.sampled_from(OTHER_REGIONS))
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        digits = str(example.national_number)
        tail = draw(st.integers(0, 10 ** 3 - 1))
        number = phonenumbers.parse(f"+{example.country_code}{digits[:-3]}{tail:03d}", None)
    if not phonenumbers.is_valid_number(number):
        number = phonenumbers.parse("+5511987654321", None)
    return number


@st.composite
def spellings(draw):
    number = draw(valid_numbers())
    e164 = phonenumbers.format_number(number, Fmt.E164)
    forms = [e164, e164[1:], "00" + e164[1:], phonenumbers.format_number(number, Fmt.INTERNATIONAL),
             phonenumbers.format_number(number, Fmt.RFC3966), "wa.me/" + e164[1:],
             f"https://wa.me/{e164[1:]}?text=Ol%C3%A1", f"https://api.whatsapp.com/send?phone={e164[1:]}&text=oi",
             f"{e164[1:]}@s.whatsapp.net", f"{e164[1:]}:{draw(st.integers(1, 40))}@s.whatsapp.net"]
    if number.country_code == 55:
        national = phonenumbers.format_number(number, Fmt.NATIONAL)  # "(11) 98765-4321"
        forms += [national, "0" + str(number.national_number), str(number.national_number)]
    spelling = draw(st.sampled_from(forms))
    digits = draw(st.sampled_from([None, FULLWIDTH, ARABIC_INDIC, EASTERN_ARABIC]))
    if digits is not None:
        spelling = spelling.translate(digits)
    pad = draw(st.sampled_from(["", " ", "\u00a0"]))
    return pad + spelling + pad, e164[1:]


@pytest.fixture(scope="module")
def conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=spellings())
def test_every_spelling_of_a_valid_number_is_its_e164(conn, case):
    spelling, expected = case
    got = conn.execute("select pgcanary_private.phone_e164(%s)", (spelling,)).fetchone()[0]
    assert got == expected, spelling


@pytest.mark.parametrize("spelling, expected", [
    ("551187654321@s.whatsapp.net", "5511987654321"),   # an old JID without the 9th digit
    ("+55 11 8765-4321", "5511987654321"),
    ("(11) 8765-4321", "5511987654321"),
    ("+55 11 3333-4444", "551133334444"),               # landline: 8 digits stay 8
    ("+1 415 555 0123", "14155550123"),
    ("14155550123", "14155550123"),                     # NANP without "+": not read as Brazilian
])
def test_brazilian_forms_and_the_ninth_digit(conn, spelling, expected):
    assert conn.execute("select pgcanary_private.phone_e164(%s)", (spelling,)).fetchone()[0] == expected


@pytest.mark.parametrize("garbage", [
    "", "   ", "123", "cliente ligou do 11 98765-4321", "11 98765-4321 / 11 3333-4444", "+55 11 98765-4321 ramal 2",
    "5511987654321234567", "0000000000", "x" * 300, "+55 11 98765\n4321", "tel:", "wa.me/",
])
def test_what_is_not_one_phone_number_is_null(conn, garbage):
    assert conn.execute("select pgcanary_private.phone_e164(%s)", (garbage,)).fetchone()[0] is None


def test_one_phone_in_many_spellings_shares_one_rate_limit(fresh_database):
    """The review's case: one phone in 5 spellings got 80 sends where the limit is 20."""
    spellings = ["+55 11 98765-4321", "5511987654321", "(11) 98765-4321", "5511987654321@s.whatsapp.net",
                 "tel:+55-11-98765-4321", "+５５ １１ ９８７６５-４３２１", "551187654321@s.whatsapp.net"]
    migrate(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as c:
        limits = c.execute("select min(max_hits) from rate_limit_rules where scope = 'phone'").fetchone()[0]
        allowed = 0
        for i in range(limits + 10):
            answer = c.execute(
                "select check_outbound_guardrails(cliente_id => %s, telefone => %s, method => 'followup')",
                (str(uuid.uuid4()), random.choice(spellings))).fetchone()[0]
            allowed += answer["allowed"]
        assert allowed == limits
        prefixes = c.execute("select array_agg(distinct event_props ->> 'telefone_prefix') from business_events"
                             " where event_type = 'outbound_blocked'").fetchone()[0]
        assert prefixes == ["5511"]


def test_a_phone_opt_out_holds_for_every_client_and_spelling(database_url):
    phone = f"+55 11 9{random.randint(6000, 9999)}-{random.randint(1000, 9999)}"
    asker, other = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as c:
        assert c.execute("select opt_out(cliente_id => %s, source => 'whatsapp_keyword', telefone => %s)",
                         (asker, phone)).fetchone()[0] is True
        digits = "55" + "".join(ch for ch in phone if ch.isdigit())[2:]
        for spelling in (phone, digits, f"{digits}@s.whatsapp.net", "(11) " + phone[7:]):
            answer = c.execute("select check_outbound_guardrails(cliente_id => %s, telefone => %s, method => 'followup')",
                               (other, spelling)).fetchone()[0]
            assert (answer["allowed"], answer["block_reason"], answer["disposition"]) == (False, "opted_out", "cancel"), spelling
        # A bypass does not reach past it; the number is nowhere in the table.
        answer = c.execute("select check_outbound_guardrails(cliente_id => %s, telefone => %s, method => 'followup', "
                           "bypass_reason => 'medico pediu')", (other, phone)).fetchone()[0]
        assert answer["block_reason"] == "opted_out"
        stored = c.execute("select row_to_json(p)::text from phone_opt_outs p where cliente_id = %s", (asker,)).fetchone()[0]
        assert digits[4:] not in stored
        # opt_in of the client alone keeps the phone out; naming the phone lets it back in.
        c.execute("select opt_in(cliente_id => %s, source => 'slack')", (asker,))
        assert c.execute("select check_outbound_guardrails(cliente_id => %s, telefone => %s, method => 'followup')",
                         (other, phone)).fetchone()[0]["block_reason"] == "opted_out"
        assert c.execute("select opt_in(cliente_id => %s, source => 'slack', telefone => %s)", (asker, digits)).fetchone()[0] is True
        assert c.execute("select check_outbound_guardrails(cliente_id => %s, telefone => %s, method => 'followup')",
                         (other, phone)).fetchone()[0]["allowed"] is True


def _wait_for_advisory_lock(watcher, pid):
    for _ in range(500):
        if watcher.execute("select wait_event from pg_stat_activity where pid = %s", (pid,)).fetchone()[0] == "advisory":
            return
        time.sleep(0.01)
    raise AssertionError("the send never waited on the phone's lock")


@pytest.mark.parametrize("by_phone", [False, True], ids=["client_opt_out", "phone_opt_out"])
def test_a_send_waiting_on_the_phone_lock_sees_an_opt_out_made_meanwhile(database_url, by_phone):
    """The review's race: the send read the opt-out before it waited on the phone's lock."""
    phone = f"55119{random.randint(60000000, 99999999)}"
    first_client, waiting_client = uuid.uuid4(), uuid.uuid4()
    check = "select check_outbound_guardrails(cliente_id => %s, telefone => %s, method => 'followup')"
    with psycopg.connect(database_url, autocommit=True) as watcher, psycopg.connect(database_url) as first, \
            psycopg.connect(database_url) as waiting, psycopg.connect(database_url, autocommit=True) as operator:
        assert first.execute(check, (first_client, phone)).fetchone()[0]["allowed"] is True  # holds the phone's lock
        answer = {}
        racer = threading.Thread(target=lambda: answer.setdefault("r", waiting.execute(check, (waiting_client, phone)).fetchone()[0]))
        racer.start()
        _wait_for_advisory_lock(watcher, waiting.info.backend_pid)
        if by_phone:
            # opt_out with the phone queues on the same lock; it is done once `first` commits.
            done = threading.Thread(target=lambda: operator.execute(
                "select opt_out(cliente_id => %s, source => 'whatsapp_keyword', telefone => %s)", (uuid.uuid4(), phone)))
            done.start()
            time.sleep(0.3)
            first.commit()
            racer.join(10)
            waiting.commit()
            done.join(10)
            # The waiting send was first in the lock's queue, so it went before the opt-out;
            # the next one after the opt-out is refused.
            late = operator.execute(check, (waiting_client, phone)).fetchone()[0]
            assert late["block_reason"] == "opted_out"
        else:
            operator.execute("select opt_out(cliente_id => %s, source => 'whatsapp_keyword')", (waiting_client,))
            first.commit()
            racer.join(10)
            waiting.commit()
            assert answer["r"]["allowed"] is False and answer["r"]["block_reason"] == "opted_out", answer["r"]
