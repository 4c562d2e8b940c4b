SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Stale flags: rollout code that should be removed, and flags nobody can explain. Seed: remove
-- the rollout code two weeks after 100%. Same column set as health_security_* (check_name,
-- object_type, object_name, detail); daily_health() shows the rows (functions/health.sql).
-- Docs: docs/stale_flags.md. Tests: tests/sql/stale_flags.test.sql.
--
-- "Since when" is feature_flags.updated_at, which the before-write trigger sets on every
-- change of the row (functions/flags.sql): a flag at 100% whose row has not changed for the
-- threshold has been at 100% at least that long. The state itself is evaluate_flag's (one
-- rule, one place), read without a client.
CREATE OR REPLACE FUNCTION public.stale_flags(older_than interval DEFAULT interval '14 days')
RETURNS TABLE (check_name text, object_type text, object_name text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.check_name, 'flag'::text, s.flag_key, s.detail
    FROM (
        SELECT f.flag_key,
               CASE WHEN e ->> 'error_code' IN ('PARSE_ERROR', 'GENERAL') THEN NULL
                    WHEN e ->> 'phase' = 'full_rollout' AND (e -> 'percentage') = '100'::jsonb THEN 'flag_fully_rolled_out'
                    WHEN e ->> 'phase' = 'disabled' THEN 'flag_off_too_long' END AS check_name,
               format('unchanged since %s (%s days); %s', to_char(f.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                      extract(day FROM now() - f.updated_at)::integer,
                      CASE WHEN e ->> 'phase' = 'disabled' THEN 'off for everyone: remove the flag and its dead code'
                           ELSE 'on for everyone: remove the rollout code and the flag' END) AS detail
        FROM public.feature_flags AS f
        CROSS JOIN LATERAL public.evaluate_flag(f.flag_key, NULL) AS e
        WHERE f.updated_at < now() - coalesce(stale_flags.older_than, interval '14 days')
          -- Rollouts only: an on/off switch (true, {"enabled": true}) such as the seed's
          -- business_events_enabled master is meant to stay.
          AND jsonb_typeof(f.value) = 'object' AND f.value ?| ARRAY['percentage', 'canary_pct']
    ) AS s
    WHERE s.check_name IS NOT NULL
    UNION ALL
    SELECT 'flag_without_description', 'flag', f.flag_key, 'no description: say what it switches'
    FROM public.feature_flags AS f
    WHERE coalesce(btrim(f.description), '') = ''
    UNION ALL
    SELECT 'flag_without_owner', 'flag', f.flag_key, 'no owner (feature_flags.owner, db/0011): say who answers for it'
    FROM public.feature_flags AS f
    WHERE coalesce(btrim(f.owner), '') = ''
    ORDER BY 1, 3
$$;
COMMENT ON FUNCTION public.stale_flags(interval) IS
    'Flags to clean up: at 100% or off for everyone, unchanged for older_than (default 14 days, the seed''s two weeks), flags without a description or an owner. Columns as the health_security views.';

CREATE OR REPLACE VIEW public.health_stale_flags
WITH (security_invoker = true) AS
SELECT * FROM public.stale_flags();
COMMENT ON VIEW public.health_stale_flags IS
    'Should be empty: stale_flags() with the seed''s two weeks (flags fully rolled out or off for 14 days, flags without a description or an owner).';
REVOKE ALL ON public.health_stale_flags FROM PUBLIC, anon, authenticated;
GRANT SELECT ON public.health_stale_flags TO service_role;

SELECT pgcanary_private.expose_rpc(ARRAY['public.stale_flags(interval)']::regprocedure[]);
