SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- One phone identity (issue 15): every spelling of a number becomes one canonical form,
-- E.164 digits without the "+", and everything that keys on a phone uses it (rate limits,
-- phone opt-outs, the telefone_prefix of events). Docs: docs/phone.md. Tests:
-- tests/sql/phone.test.sql, tests/py/test_phone.py (against the phonenumbers library).
--
-- What is read as the same number:
--   separators (space, dot, hyphen, slash, parentheses), "+" or "00" before the country code;
--   tel:, sms:, whatsapp: and callto: URIs, wa.me / api.whatsapp.com / web.whatsapp.com links
--     (a query string after the number is ignored), WhatsApp JIDs (number[:device]@server);
--   fullwidth, Arabic-Indic, Eastern Arabic-Indic and Devanagari digits;
--   Brazilian national forms (the default region, as the seeds'): "(11) 98765-4321",
--     "011 98765-4321", "11 3333-4444" get 55 in front;
--   Brazilian mobiles without the 9th digit, as old WhatsApp JIDs still write them:
--     55 + area code + 8 digits starting 6-9 get the 9 (landlines start 2-5 and keep 8).
-- Anything else (letters, a second number, fewer than 10 or more than 15 digits) is not a
-- phone: NULL, and the callers refuse it with PC020.

CREATE OR REPLACE FUNCTION pgcanary_private.phone_e164(phone text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s    text;
    d    text;
    intl boolean;
BEGIN
    IF phone IS NULL OR length(phone) > 200 THEN
        RETURN NULL;
    END IF;
    IF phone ~ '^\+?[0-9]+$' THEN
        -- Already digits (what most callers pass): the spelling rules below would not change it.
        intl := left(phone, 1) = '+';
        d := ltrim(phone, '+');
    ELSE
        s := lower(btrim(translate(phone,
                '０１２３４５６７８９٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹०१२३४५६७८९' || chr(160) || chr(8239),
                '0123456789012345678901234567890123456789  ')));
        s := regexp_replace(s, '^(tel:|sms:|whatsapp:|callto:)', '');
        s := regexp_replace(s, '^(https?://)?(www\.)?(wa\.me/|(api|web)\.whatsapp\.com/send/?\?(.*&)?phone=)', '');
        IF strpos(s, '@') > 0 THEN
            s := split_part(split_part(s, '@', 1), ':', 1);  -- JID: the number before the device and server
        END IF;
        s := split_part(split_part(s, '?', 1), '&', 1);
        IF s !~ '^\+?[0-9(][0-9 ().\-/]*$' THEN
            RETURN NULL;
        END IF;
        intl := left(s, 1) = '+';
        d := regexp_replace(s, '[^0-9]', '', 'g');
    END IF;
    IF NOT intl AND left(d, 2) = '00' THEN
        d := substr(d, 3);
        intl := true;
    END IF;
    IF NOT intl THEN
        IF left(d, 1) = '0' AND length(d) IN (11, 12) THEN
            d := substr(d, 2);  -- the national trunk 0 before the area code
        END IF;
        -- Brazilian national number: area code 11-99, then 8 digits (landline 2-5, old
        -- mobile 6-9) or 9 digits starting with 9. NANP numbers (1 + 10 digits) never have
        -- a 9 third, so "14155550123" stays a US number.
        IF d ~ '^[1-9][1-9]([2-9][0-9]{7}|9[0-9]{8})$' THEN
            d := '55' || d;
        END IF;
    END IF;
    IF d ~ '^55[1-9][1-9][6-9][0-9]{7}$' THEN
        d := left(d, 4) || '9' || substr(d, 5);
    END IF;
    IF d !~ '^[1-9][0-9]{9,14}$' THEN
        RETURN NULL;
    END IF;
    RETURN d;
END
$$;
COMMENT ON FUNCTION pgcanary_private.phone_e164(text) IS
    'Canonical phone identity: E.164 digits without "+", from any spelling (separators, +/00, tel:, wa.me, JIDs, Unicode digits, Brazilian national forms, the missing 9th digit of old mobiles); NULL when it is not one phone number.';
