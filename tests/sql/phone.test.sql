-- One phone identity (functions/phone.sql): every spelling of a number is one canonical
-- E.164 form; what is not one number is NULL and the RPCs refuse it with PC020. The
-- comparison with the phonenumbers library on generated spellings is tests/py/test_phone.py.
begin;
select plan(14);

select is(array(select pgcanary_private.phone_e164(p) from unnest(array[
              '+55 (11) 98765-4321', '5511987654321', '(11) 98765-4321', '011 98765-4321', '00 55 11 98765 4321',
              'tel:+55-11-98765-4321', 'https://wa.me/5511987654321?text=oi', 'api.whatsapp.com/send?phone=5511987654321&text=x',
              '5511987654321@s.whatsapp.net', '5511987654321:7@s.whatsapp.net', '5511987654321@c.us',
              '551187654321@s.whatsapp.net', '+５５ １１ ９８７６５-４３２１', '٥٥١١٩٨٧٦٥٤٣٢١', '۵۵۱۱۹۸۷۶۵۴۳۲۱']) as p),
          array_fill('5511987654321'::text, array[15]), 'fifteen spellings of one Brazilian mobile are one identity');
select is(pgcanary_private.phone_e164('+55 11 3333-4444'), '551133334444', 'a landline keeps its 8 digits');
select is(pgcanary_private.phone_e164('11 3333-4444'), '551133334444', 'a national landline gets the country code');
select is(pgcanary_private.phone_e164('+1 (415) 555-0123'), '14155550123', 'a US number');
select is(pgcanary_private.phone_e164('14155550123'), '14155550123', 'a NANP number without + is not read as Brazilian');
select is(pgcanary_private.phone_e164('+351 912 345 678'), '351912345678', 'a Portuguese mobile');
select is(array(select pgcanary_private.phone_e164(p) from unnest(array[
              null, '', '123', 'cliente ligou do 11 98765-4321', '11 98765-4321 / 11 3333-4444', '+55 11 98765-4321 ramal 2',
              '120363025246125486@g.us', repeat('9', 300), 'tel:', '0000000000']) as p),
          array_fill(null::text, array[10]), 'what is not one phone number is NULL');
select is(pgcanary_private.phone_prefix('(11) 98765-4321'), '5511', 'the event prefix comes from the canonical form');
select is(pgcanary_private.normalize_phone('5511987654321@s.whatsapp.net'), '5511987654321', 'the rate-limit key reads a JID as its phone');
select throws_ok($$ select pgcanary_private.normalize_phone('cliente ligou do 11 98765-4321') $$, 'PC020', null,
                 'normalize_phone refuses free text with PC020');
select throws_matching($$ select pgcanary_private.normalize_phone('+55 11 98765-4321 ramal 2') $$, '^invalid phone number: "\+55 \.\.\."',
                       'the error shows 4 characters of the input, never the number');

set local role anon;
select throws_ok($$ select pgcanary_private.phone_e164('5511987654321') $$, '42501', null, 'anon cannot call phone_e164');
reset role;
set local role authenticated;
select throws_ok($$ select pgcanary_private.phone_e164('5511987654321') $$, '42501', null, 'authenticated cannot call phone_e164');
reset role;
set local role service_role;
select is(pgcanary_private.phone_e164('+55 11 98765-4321'), '5511987654321', 'service_role can');
reset role;

select * from finish();
rollback;
